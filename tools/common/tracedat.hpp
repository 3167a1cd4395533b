// SPDX-License-Identifier: MIT
// tools/common/tracedat.hpp - the binary trace files a KVM developer has at hand: trace-cmd's
// trace.dat, read through trace-cmd's own library (libtracecmd, when the tools were built with
// it) into the text of `trace-cmd report`, which the importer reads; and perf's perf.data,
// recognised so the tool can say which `perf script` command turns it into text.
#pragma once

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

/// A trace.dat read into `trace-cmd report` text.
struct tracedat_text {
  bool ok = false;
  std::string text;   ///< one line per record, in time order, as `trace-cmd report` prints
  std::string error;  ///< why not, in one line, when !ok
};

/// Reads the trace.dat at `path` (a file name: libtracecmd seeks, so not a pipe).
tracedat_text read_tracedat(const std::string& path);

/// For a tool that has read `path` whole into `contents`: a trace.dat becomes its report text
/// (when supported and `path` is a file); text is left alone. Returns 0, or prints the reason and
/// the command to run on one line of stderr, "<tool>: ...", and returns 2 (an input error).
int binary_trace_to_text(const std::string& tool, const std::string& path, std::string& contents);

/// The one-line advice for a binary trace the tool does not read itself.
std::string binary_trace_hint(trace_file_kind kind, const std::string& path);

}  // namespace uret_tools
