// SPDX-License-Identifier: MIT
// Tests of uret/format.hpp.
#include <uret/backends/mock_msr.hpp>
#include <uret/format.hpp>

#include <catch2/catch.hpp>

#include <string>

TEST_CASE("format: MSRs print as name and hex index", "[format]") {
  CHECK(fmt::format("{}", uret::msrs::lstar) == "LSTAR (0xc0000082)");
  CHECK(fmt::format("{}", uret::msrs::tsx_ctrl) == "IA32_TSX_CTRL (0x122)");
  CHECK(fmt::format("{}", uret::msr_index{0x6E1}) == "MSR 0x6e1");
  CHECK(fmt::format("{}", uret::cpu_id{3}) == "cpu3");
}

TEST_CASE("format: errors print as words and honour width", "[format]") {
  CHECK(fmt::format("{}", uret::errc::msr_fault) == "MSR faulted (#GP)");
  CHECK(fmt::format("[{:>20}]", uret::errc::table_full) == "[     slot table full]");
}

TEST_CASE("format: a per-CPU table dump shows host, curr, unknown and dirty", "[format]") {
  uret::mock_msr hw{2};
  hw.declare(uret::msrs::lstar, 0xffffffff81000000);
  hw.declare(uret::msrs::tsc_aux, 0);
  uret::notifier_chain<2> chain{2};
  uret::slot_table<uret::mock_msr, 16, 2> table{hw, chain, 2};
  REQUIRE(table.add(uret::msrs::lstar).has_value());
  REQUIRE(table.add(uret::msrs::tsc_aux).has_value());
  REQUIRE(table.cpu_online(uret::cpu_id{0}).has_value());
  REQUIRE(table.set(uret::cpu_id{0}, 1, 0x5a5).has_value());
  REQUIRE(table.invalidate(uret::cpu_id{0}, 0).has_value());
  const std::string s = fmt::format("{}", uret::dump(table, uret::cpu_id{0}));
  CHECK(s.find("cpu0: online, registered, writes 3, skipped 0") == 0);
  CHECK(s.find("LSTAR (0xc0000082)") != std::string::npos);
  CHECK(s.find("host 0xffffffff81000000 curr            unknown dirty") != std::string::npos);
  CHECK(s.find("curr 0x00000000000005a5 dirty") != std::string::npos);
  const std::string off = fmt::format("{}", uret::dump(table, uret::cpu_id{1}));
  CHECK(off == "cpu1: offline, not registered, writes 0, skipped 0");
}
