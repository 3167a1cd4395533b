// SPDX-License-Identifier: MIT
// tools/common/tracedat.hpp - the binary trace files a KVM developer has at hand: trace-cmd's
// trace.dat, read through trace-cmd's own library (libtracecmd, when the tools were built with
// it) into the text of `trace-cmd report`, handed on a bounded piece at a time to the streaming
// importer (so memory does not grow with the trace); and perf's perf.data,
// recognised so the tool can say which `perf script` command turns it into text.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace uret_tools {

/// What the first bytes of a file say it is.
enum class trace_file_kind { text, trace_dat, perf_data };

/// trace.dat starts with 0x17 0x08 0x44 "tracing"; perf.data with "PERFILE2" (or the old
/// "PERFFILE").
trace_file_kind sniff_trace_file(std::string_view head) noexcept;

/// True when this build reads trace.dat itself (libtracecmd found at configure time).
bool tracedat_supported() noexcept;

/// Receives the report text of a trace.dat a piece at a time, in order; a line may be split
/// between two pieces (uret::sim::trace_stream::feed joins them). The piece is only valid during
/// the call. May throw: the exception stops the reading and comes out of read_tracedat.
using tracedat_sink = std::function<void(std::string_view piece)>;

/// The size of the pieces read_tracedat hands to its sink by default: 64 KiB, or the whole number
/// of bytes (1 .. 64 MiB) in the environment variable URET_TRACEDAT_PIECE_BYTES when set. That
/// variable is for tests: a small value makes a small trace.dat arrive in many pieces, lines split
/// anywhere, and the import must not change. Another value is ignored.
std::size_t tracedat_piece_bytes() noexcept;

/// How a trace.dat read went.
struct tracedat_result {
  bool ok = false;
  std::string error;  ///< why not, in one line, when !ok
};

/// Reads the trace.dat at `path` (a file name: libtracecmd seeks, so not a pipe) and hands its
/// records to `sink` as the text of `trace-cmd report` (one line per record, in time order), in
/// pieces of `piece_bytes` (the last one shorter). Only one piece is held at a time, never the
/// whole text. After a failure part of the text may have been delivered already.
/// libtracecmd runs in a child process, with its stderr on /dev/null and a CPU-time limit (10 s
/// per MB of file plus 30 s; URET_TRACEDAT_CPU_SECONDS, 1 .. 1000000, sets it for tests), so a
/// damaged trace.dat that crashes it or makes it loop is an error in one line, never a crash of
/// the tool. The child is killed and reaped when the sink throws.
tracedat_result read_tracedat(const std::string& path, const tracedat_sink& sink,
                              std::size_t piece_bytes = tracedat_piece_bytes());

/// For a tool that has found, by the first bytes of `path`, a binary trace of `kind` (not text):
/// a trace.dat is read and its report text handed to `sink` (when supported and `path` is a file).
/// Returns 0, or prints the reason and the command to run on one line of stderr, "<tool>: ...",
/// and returns 2 (an input error).
int read_binary_trace(const std::string& tool, const std::string& path, trace_file_kind kind,
                      const tracedat_sink& sink);

/// The one-line advice for a binary trace the tool does not read itself.
std::string binary_trace_hint(trace_file_kind kind, const std::string& path);

}  // namespace uret_tools
