// SPDX-License-Identifier: MIT
// tools/common/tracedat.cpp - see tracedat.hpp. With URET_HAVE_TRACECMD a trace.dat is printed
// by tracedat_report.c (C: trace-cmd's headers are not C++) through libtracecmd, which hands the
// text back a piece at a time.
#include "common/tracedat.hpp"

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#ifdef URET_HAVE_TRACECMD
#include <exception>

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

std::size_t tracedat_piece_bytes() noexcept {
  constexpr std::size_t fallback = std::size_t{64} << 10;
  constexpr std::size_t most = std::size_t{64} << 20;
  const char* env = std::getenv("URET_TRACEDAT_PIECE_BYTES");
  if (env == nullptr) return fallback;
  const std::string_view text(env);
  std::size_t n = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || end != text.data() + text.size() || n < 1 || n > most) return fallback;
  return n;
}

int read_binary_trace(const std::string& tool, const std::string& path, trace_file_kind kind,
                      const tracedat_sink& sink) {
  std::string why;
  if (kind == trace_file_kind::trace_dat && tracedat_supported() && path != "-") {
    const tracedat_result r = read_tracedat(path, sink);
    if (r.ok) return 0;
    why = r.error;
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

namespace {

// What the C sink needs: the C++ sink, and the exception it threw, which must not unwind through
// the C frames of tracedat_report.c and libtracecmd (built without unwind tables).
struct sink_context {
  const tracedat_sink* sink;
  std::exception_ptr thrown;
};

extern "C" int call_sink(void* context, const char* text, std::size_t size) {
  auto* c = static_cast<sink_context*>(context);
  try {
    (*c->sink)(std::string_view(text, size));
    return 0;
  } catch (...) {
    c->thrown = std::current_exception();
    return 1;
  }
}

}  // namespace

tracedat_result read_tracedat(const std::string& path, const tracedat_sink& sink,
                              std::size_t piece_bytes) {
  tracedat_result r;
  sink_context c{&sink, nullptr};
  const int rc = uret_tracedat_report(path.c_str(), piece_bytes, call_sink, &c);
  if (c.thrown) std::rethrow_exception(c.thrown);
  if (rc != 0) {
    r.error = rc == -1 ? "libtracecmd cannot open " + path + " as a trace.dat"
                       : "libtracecmd failed reading the records of " + path;
    return r;
  }
  r.ok = true;
  return r;
}

#else

bool tracedat_supported() noexcept { return false; }

tracedat_result read_tracedat(const std::string& path, const tracedat_sink& sink,
                              std::size_t piece_bytes) {
  static_cast<void>(sink);
  static_cast<void>(piece_bytes);
  tracedat_result r;
  r.error = binary_trace_hint(trace_file_kind::trace_dat, path);
  return r;
}

#endif

}  // namespace uret_tools
