// SPDX-License-Identifier: MIT
// tools/common/tracedat.cpp - see tracedat.hpp. With URET_HAVE_TRACECMD a trace.dat is printed
// by tracedat_report.c (C: trace-cmd's headers are not C++) through libtracecmd.
#include "common/tracedat.hpp"

#include <cstdio>
#include <cstring>
#include <utility>

#ifdef URET_HAVE_TRACECMD
#include <cstdlib>

#include "common/tracedat_report.h"
#endif

namespace uret_tools {

trace_file_kind sniff_trace_file(std::string_view head) noexcept {
  static constexpr char dat_magic[] = "\x17\x08\x44tracing";
  if (head.substr(0, sizeof dat_magic - 1) == std::string_view(dat_magic, sizeof dat_magic - 1))
    return trace_file_kind::trace_dat;
  if (head.substr(0, 8) == "PERFILE2" || head.substr(0, 8) == "PERFFILE")
    return trace_file_kind::perf_data;
  return trace_file_kind::text;
}

std::string binary_trace_hint(trace_file_kind kind, const std::string& path) {
  if (kind == trace_file_kind::perf_data) {
    return path + " is a perf.data file; convert it first: perf script -i " + path + " > trace.txt";
  }
  return path +
         " is a trace-cmd trace.dat, which this build cannot read (built without "
         "libtracecmd); convert it first: trace-cmd report -i " +
         path + " > trace.txt";
}

int binary_trace_to_text(const std::string& tool, const std::string& path, std::string& contents) {
  const trace_file_kind kind = sniff_trace_file(contents);
  if (kind == trace_file_kind::text) return 0;
  std::string why;
  if (kind == trace_file_kind::trace_dat && tracedat_supported() && path != "-") {
    tracedat_text t = read_tracedat(path);
    if (t.ok) {
      contents = std::move(t.text);
      return 0;
    }
    why = t.error;
  } else if (kind == trace_file_kind::trace_dat && path == "-") {
    why = "standard input is a trace-cmd trace.dat; give its file name, or pipe `trace-cmd report`";
  } else {
    why = binary_trace_hint(kind, path);
  }
  std::fprintf(stderr, "%s: %s\n", tool.c_str(), why.c_str());
  return 2;
}

#ifdef URET_HAVE_TRACECMD

bool tracedat_supported() noexcept { return true; }

tracedat_text read_tracedat(const std::string& path) {
  tracedat_text r;
  char* text = nullptr;
  std::size_t size = 0;
  const int rc = uret_tracedat_report(path.c_str(), &text, &size);
  if (rc != 0) {
    r.error = rc == -1 ? "libtracecmd cannot open " + path + " as a trace.dat"
                       : "libtracecmd failed reading the records of " + path;
    return r;
  }
  r.text.assign(text, size);
  std::free(text);
  r.ok = true;
  return r;
}

#else

bool tracedat_supported() noexcept { return false; }

tracedat_text read_tracedat(const std::string& path) {
  tracedat_text r;
  r.error = binary_trace_hint(trace_file_kind::trace_dat, path);
  return r;
}

#endif

}  // namespace uret_tools
