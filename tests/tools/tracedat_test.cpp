// SPDX-License-Identifier: MIT
// tools/common/tracedat: binary trace files recognised by their first bytes, and the advice for
// the ones the tools do not read.
#include <catch2/catch.hpp>

#include <string>

#include "common/tracedat.hpp"

using uret_tools::trace_file_kind;

TEST_CASE("sniff_trace_file knows trace.dat and perf.data by their magic", "[tools]") {
  CHECK(uret_tools::sniff_trace_file(std::string("\x17\x08\x44tracing6\0", 12)) ==
        trace_file_kind::trace_dat);
  CHECK(uret_tools::sniff_trace_file("PERFILE2\x68\x00") == trace_file_kind::perf_data);
  CHECK(uret_tools::sniff_trace_file("PERFFILE") == trace_file_kind::perf_data);
  CHECK(uret_tools::sniff_trace_file("# tracer: nop\n") == trace_file_kind::text);
  CHECK(uret_tools::sniff_trace_file("cpus=2\n") == trace_file_kind::text);
  CHECK(uret_tools::sniff_trace_file("\x17\x08\x44trac") == trace_file_kind::text);  // cut short
  CHECK(uret_tools::sniff_trace_file("") == trace_file_kind::text);
}

TEST_CASE("binary_trace_hint names the command that makes text of the file", "[tools]") {
  CHECK(uret_tools::binary_trace_hint(trace_file_kind::perf_data, "k.data") ==
        "k.data is a perf.data file; convert it first: perf script -i k.data > trace.txt");
  CHECK(uret_tools::binary_trace_hint(trace_file_kind::trace_dat, "k.dat")
            .find("trace-cmd report -i k.dat > trace.txt") != std::string::npos);
}

TEST_CASE("binary_trace_to_text leaves text alone and refuses perf.data", "[tools]") {
  std::string text = "# tracer: nop\n";
  CHECK(uret_tools::binary_trace_to_text("test", "t.txt", text) == 0);
  CHECK(text == "# tracer: nop\n");
  std::string perf = "PERFILE2 rest";
  CHECK(uret_tools::binary_trace_to_text("test", "p.data", perf) == 2);
  CHECK(perf == "PERFILE2 rest");
}
