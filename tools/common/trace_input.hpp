// SPDX-License-Identifier: MIT
// tools/common/trace_input.hpp - a kernel trace fed to the streaming importer in one pass, for
// `uret-sim import` and `uret-bench --trace`: a named file mapped a window at a time, standard
// input read in chunks, a trace-cmd trace.dat read through libtracecmd (as the text of
// `trace-cmd report`, fed a 64 KiB piece at a time as the records are read, never held whole), a
// perf.data answered with the command that converts it.
#pragma once

#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>

#include "common/file_io.hpp"
#include "common/tracedat.hpp"
#include "uret/sim/import.hpp"

namespace uret_tools {

/// Feeds the trace at `path` ("-": standard input) to `stream` and adds the bytes of text fed to
/// `bytes`. Returns 0, or prints why on one line of stderr ("<tool>: ...") and returns 2 (an
/// input error).
inline int feed_trace(const std::string& tool, const std::string& path,
                      uret::sim::trace_stream& stream, std::size_t& bytes) {
  std::FILE* in = path == "-" ? stdin : std::fopen(path.c_str(), "rb");
  if (in == nullptr) {
    std::fprintf(stderr, "%s: cannot read %s: %s\n", tool.c_str(), path.c_str(),
                 std::strerror(errno));
    return 2;
  }
  bool first = true;
  trace_file_kind binary = trace_file_kind::text;
  const auto feed = [&](std::string_view piece) {
    bytes += piece.size();
    stream.feed(piece);
  };
  const bool read_ok = read_pieces(in, path != "-", [&](std::string_view piece) {
    if (first) binary = sniff_trace_file(piece);
    first = false;
    if (binary != trace_file_kind::text) return false;
    feed(piece);
    return true;
  });
  const int read_errno = errno;
  if (in != stdin) std::fclose(in);
  if (read_ok && binary != trace_file_kind::text) {
    // libtracecmd opens the file again itself, by name (it seeks), and hands over its report
    // text a piece at a time as it reads the records.
    return read_binary_trace(tool, path, binary, feed);
  }
  if (!read_ok) {
    std::fprintf(stderr, "%s: cannot read %s: %s\n", tool.c_str(), path.c_str(),
                 std::strerror(read_errno));
    return 2;
  }
  return 0;
}

}  // namespace uret_tools
