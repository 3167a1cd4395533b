// SPDX-License-Identifier: MIT
// tools/common/tracedat: binary trace files recognised by their first bytes, the advice for the
// ones the tools do not read, and a trace.dat handed to the importer a bounded piece at a time.
#include <sys/wait.h>
#include <catch2/catch.hpp>

#include <cerrno>

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "common/tracedat.hpp"
#include "uret/sim/import.hpp"

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

TEST_CASE("read_binary_trace refuses perf.data and a trace.dat on standard input", "[tools]") {
  std::size_t pieces = 0;
  const auto count = [&](std::string_view) { ++pieces; };
  CHECK(uret_tools::read_binary_trace("test", "p.data", trace_file_kind::perf_data, count) == 2);
  CHECK(uret_tools::read_binary_trace("test", "-", trace_file_kind::trace_dat, count) == 2);
  CHECK(pieces == 0);
}

namespace {

// The committed trace.dat (tests/tools/fixtures, recorded by trace-cmd in the live-KVM guest).
const std::string fixture = URET_TRACEDAT_FIXTURE;
// That trace.dat with one byte changed, on which libtracecmd 1.3.1 dies of SIGSEGV.
const std::string corrupt_fixture = URET_TRACEDAT_CORRUPT_FIXTURE;

// True when this process has no child left, running or a zombie: read_tracedat reaps its own.
bool no_children() { return ::waitpid(-1, nullptr, WNOHANG) < 0 && errno == ECHILD; }

struct pieces_read {
  uret_tools::tracedat_result result;
  std::vector<std::string> pieces;
  std::string text() const {
    std::string t;
    for (const auto& p : pieces) t += p;
    return t;
  }
};

pieces_read read_in_pieces(const std::string& path, std::size_t piece_bytes) {
  pieces_read r;
  r.result = uret_tools::read_tracedat(
      path, [&](std::string_view piece) { r.pieces.emplace_back(piece); }, piece_bytes);
  return r;
}

// The replay and the summary line of importing `pieces` one feed() each, as uret-sim import does.
std::string import_pieces(const std::vector<std::string>& pieces) {
  uret::sim::import_options o;
  uret::sim::trace_stream s(o);
  for (const auto& p : pieces) s.feed(p);
  const auto imp = s.finish(nullptr);
  return uret::sim::format_import_summary(imp, "t") + imp.replay;
}

}  // namespace

TEST_CASE("a trace.dat reaches the importer in bounded pieces, the import unchanged", "[tools]") {
  if (!uret_tools::tracedat_supported()) {
    const auto r = read_in_pieces(fixture, 4096);
    CHECK_FALSE(r.result.ok);
    CHECK(r.result.error.find("trace-cmd report -i " + fixture) != std::string::npos);
    CHECK(r.pieces.empty());
    return;
  }
  // One piece bigger than the whole text: the text as it was before it was streamed (one string).
  const auto whole = read_in_pieces(fixture, std::size_t{64} << 20);
  REQUIRE(whole.result.ok);
  REQUIRE(whole.pieces.size() == 1);
  const std::string text = whole.text();
  CHECK(text.rfind("cpus=2\n", 0) == 0);
  CHECK(text.size() > 40000);
  const std::string imported = import_pieces(whole.pieces);
  CHECK(imported.find(" 80 expect-wrmsr") != std::string::npos);

  // 4096 bytes (and 1: every line split at every byte): many pieces, each full but the last, the
  // same bytes in the same order, and the same import.
  for (const std::size_t piece_bytes : {std::size_t{4096}, std::size_t{1000}, std::size_t{1}}) {
    CAPTURE(piece_bytes);
    const auto r = read_in_pieces(fixture, piece_bytes);
    REQUIRE(r.result.ok);
    CHECK(r.pieces.size() == (text.size() + piece_bytes - 1) / piece_bytes);
    for (std::size_t i = 0; i + 1 < r.pieces.size(); ++i)
      REQUIRE(r.pieces[i].size() == piece_bytes);
    CHECK(r.text() == text);
    CHECK(import_pieces(r.pieces) == imported);
  }
}

TEST_CASE("the default piece is 64 KiB, URET_TRACEDAT_PIECE_BYTES sets it for tests", "[tools]") {
  const char* was = std::getenv("URET_TRACEDAT_PIECE_BYTES");
  const std::string saved = was != nullptr ? was : "";
  unsetenv("URET_TRACEDAT_PIECE_BYTES");
  CHECK(uret_tools::tracedat_piece_bytes() == std::size_t{64} << 10);
  setenv("URET_TRACEDAT_PIECE_BYTES", "1000", 1);
  CHECK(uret_tools::tracedat_piece_bytes() == 1000);
  setenv("URET_TRACEDAT_PIECE_BYTES", "1", 1);
  CHECK(uret_tools::tracedat_piece_bytes() == 1);
  // Not a whole number in 1 .. 64 MiB: the default, so a typo cannot make pieces of 0 bytes.
  for (const char* bad : {"0", "-1", "12x", "", "67108865", "99999999999999999999999"}) {
    CAPTURE(bad);
    setenv("URET_TRACEDAT_PIECE_BYTES", bad, 1);
    CHECK(uret_tools::tracedat_piece_bytes() == std::size_t{64} << 10);
  }
  if (was != nullptr) {
    setenv("URET_TRACEDAT_PIECE_BYTES", saved.c_str(), 1);
  } else {
    unsetenv("URET_TRACEDAT_PIECE_BYTES");
  }
}

TEST_CASE("a truncated trace.dat is an error in one line, not a crash", "[tools]") {
  std::ifstream in(fixture, std::ios::binary);
  const std::string bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  REQUIRE(bytes.size() > 8192);
  const std::string cut = "tracedat_test.truncated.dat";
  for (const std::size_t keep : {std::size_t{16}, std::size_t{4096}, std::size_t{8192}}) {
    CAPTURE(keep);
    std::ofstream(cut, std::ios::binary | std::ios::trunc)
        .write(bytes.data(), static_cast<std::streamsize>(keep));
    const auto r = read_in_pieces(cut, 4096);
    CHECK_FALSE(r.result.ok);
    CHECK(r.result.error.find('\n') == std::string::npos);
    CHECK(r.result.error.find(cut) != std::string::npos);
  }
  std::remove(cut.c_str());
}

TEST_CASE("an exception from the sink stops the reading and comes out whole", "[tools]") {
  if (!uret_tools::tracedat_supported()) return;
  std::size_t pieces = 0;
  const auto throwing = [&](std::string_view) {
    if (++pieces == 3) throw std::runtime_error("sink full");
  };
  CHECK_THROWS_WITH(uret_tools::read_tracedat(fixture, throwing, 1000), "sink full");
  CHECK(pieces == 3);
  // libtracecmd runs in a child process: killed and reaped when the sink throws.
  CHECK(no_children());
}

TEST_CASE("a trace.dat that crashes libtracecmd is an error in one line, not a crash", "[tools]") {
  if (!uret_tools::tracedat_supported()) return;
  const auto r = read_in_pieces(corrupt_fixture, 4096);
  CHECK_FALSE(r.result.ok);
  CHECK(r.pieces.empty());
  CHECK(r.result.error.find('\n') == std::string::npos);
  CHECK(r.result.error ==
        corrupt_fixture + ": not a readable trace.dat (libtracecmd failed: killed by SIGSEGV); " +
            "try: trace-cmd report -i " + corrupt_fixture + " > trace.txt");
  CHECK(no_children());
}

TEST_CASE("URET_TRACEDAT_CPU_SECONDS limits the CPU time libtracecmd has", "[tools]") {
  if (!uret_tools::tracedat_supported()) return;
  // The fixture takes milliseconds: a limit of 1 s still reads it all, the same text.
  const auto before = read_in_pieces(fixture, 4096);
  setenv("URET_TRACEDAT_CPU_SECONDS", "1", 1);
  const auto limited = read_in_pieces(fixture, 4096);
  unsetenv("URET_TRACEDAT_CPU_SECONDS");
  REQUIRE(limited.result.ok);
  CHECK(limited.text() == before.text());
  CHECK(no_children());
}
