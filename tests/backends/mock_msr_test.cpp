// SPDX-License-Identifier: MIT
// Tests of uret/backends/mock_msr.hpp.
#include <uret/backends/mock_msr.hpp>

#include <catch2/catch.hpp>

using uret::cpu_id;
using uret::errc;
namespace msrs = uret::msrs;

TEST_CASE("mock_msr: declared MSRs read and write per CPU", "[mock_msr]") {
  uret::mock_msr hw{2};
  hw.declare(msrs::tsc_aux, 7);
  CHECK(*hw.read(cpu_id{0}, msrs::tsc_aux) == 7);
  REQUIRE(hw.write(cpu_id{1}, msrs::tsc_aux, 9).has_value());
  CHECK(*hw.read(cpu_id{1}, msrs::tsc_aux) == 9);
  CHECK(*hw.read(cpu_id{0}, msrs::tsc_aux) == 7);
  CHECK(hw.stats(cpu_id{1}).writes == 1);
  CHECK(hw.stats(cpu_id{1}).reads == 1);
  CHECK(hw.stats(cpu_id{0}).reads == 2);
  CHECK(hw.stats(cpu_id{0}).writes == 0);
  CHECK(hw.cpus() == 2);
}

TEST_CASE("mock_msr: undeclared MSRs and missing CPUs fault", "[mock_msr]") {
  uret::mock_msr hw{1};
  CHECK(hw.read(cpu_id{0}, msrs::lstar).error() == errc::msr_fault);
  CHECK(hw.write(cpu_id{0}, msrs::lstar, 1).error() == errc::msr_fault);
  CHECK(hw.stats(cpu_id{0}).faults == 2);
  hw.declare(msrs::lstar);
  CHECK(hw.read(cpu_id{1}, msrs::lstar).error() == errc::no_such_cpu);
  CHECK(hw.write(cpu_id{1}, msrs::lstar, 1).error() == errc::no_such_cpu);
  CHECK_FALSE(hw.peek(cpu_id{1}, msrs::lstar).has_value());
  CHECK_FALSE(hw.poke(cpu_id{1}, msrs::lstar, 1));
  CHECK(hw.log(cpu_id{5}).empty());
}

TEST_CASE("mock_msr: reserved bits fault and change nothing", "[mock_msr]") {
  uret::mock_msr hw{1};
  const uret::msr_index pkrs{0x6E1};
  hw.declare(pkrs, 0x3, 0xffffffff00000000);
  CHECK(hw.write(cpu_id{0}, pkrs, 0xffffffff00000000).error() == errc::msr_fault);
  CHECK(*hw.peek(cpu_id{0}, pkrs) == 0x3);
  CHECK(hw.log(cpu_id{0}).empty());
  CHECK(hw.write(cpu_id{0}, pkrs, 0xffff).has_value());
  SECTION("declaring again resets value and mask") {
    hw.declare(pkrs, 0, 0);
    CHECK(*hw.peek(cpu_id{0}, pkrs) == 0);
    CHECK(hw.write(cpu_id{0}, pkrs, 0xffffffff00000000).has_value());
  }
}

TEST_CASE("mock_msr: injected faults are one-shot and per CPU and MSR", "[mock_msr]") {
  uret::mock_msr hw{2};
  hw.declare(msrs::star, 1);
  hw.declare(msrs::lstar, 2);
  hw.fail_next_write(cpu_id{0}, msrs::star);
  hw.fail_next_read(cpu_id{1}, msrs::lstar);
  CHECK(hw.write(cpu_id{1}, msrs::star, 5).has_value());   // other CPU unaffected
  CHECK(hw.write(cpu_id{0}, msrs::lstar, 5).has_value());  // other MSR unaffected
  CHECK(hw.write(cpu_id{0}, msrs::star, 5).error() == errc::msr_fault);
  CHECK(*hw.peek(cpu_id{0}, msrs::star) == 1);
  CHECK(hw.write(cpu_id{0}, msrs::star, 5).has_value());  // one-shot
  CHECK(hw.read(cpu_id{1}, msrs::lstar).error() == errc::msr_fault);
  CHECK(hw.read(cpu_id{1}, msrs::lstar).has_value());
}

TEST_CASE("mock_msr: the log records successful writes in order; poke bypasses it", "[mock_msr]") {
  uret::mock_msr hw{1};
  hw.declare(msrs::tsc_aux);
  REQUIRE(hw.write(cpu_id{0}, msrs::tsc_aux, 1).has_value());
  REQUIRE(hw.poke(cpu_id{0}, msrs::tsc_aux, 99));
  REQUIRE(hw.write(cpu_id{0}, msrs::tsc_aux, 2).has_value());
  const auto log = hw.log(cpu_id{0});
  REQUIRE(log.size() == 2);
  CHECK(log[0] == uret::mock_msr::write_record{msrs::tsc_aux, 1});
  CHECK(log[1] == uret::mock_msr::write_record{msrs::tsc_aux, 2});
  CHECK(hw.stats(cpu_id{0}).writes == 2);
  hw.clear_log();
  CHECK(hw.log(cpu_id{0}).empty());
  CHECK(hw.stats(cpu_id{0}).writes == 2);
  hw.set_logging(false);
  REQUIRE(hw.write(cpu_id{0}, msrs::tsc_aux, 3).has_value());
  CHECK(hw.log(cpu_id{0}).empty());
  CHECK(*hw.peek(cpu_id{0}, msrs::tsc_aux) == 3);
}

namespace {
struct hook_seen {
  int calls = 0;
  std::uint64_t hw_at_call = 0;
  uret::mock_msr* hw = nullptr;
};
}  // namespace

TEST_CASE("mock_msr: the write hook runs after the hardware changed", "[mock_msr]") {
  uret::mock_msr hw{1};
  hw.declare(msrs::tsc_aux);
  hook_seen seen{0, 0, &hw};
  hw.set_write_hook(
      [](void* ctx, cpu_id cpu, uret::msr_index msr, std::uint64_t) noexcept {
        auto* s = static_cast<hook_seen*>(ctx);
        ++s->calls;
        s->hw_at_call = *s->hw->peek(cpu, msr);
      },
      &seen);
  REQUIRE(hw.write(cpu_id{0}, msrs::tsc_aux, 0x77).has_value());
  CHECK(seen.calls == 1);
  CHECK(seen.hw_at_call == 0x77);
  hw.fail_next_write(cpu_id{0}, msrs::tsc_aux);
  CHECK_FALSE(hw.write(cpu_id{0}, msrs::tsc_aux, 1).has_value());
  CHECK(seen.calls == 1);  // no hook on a faulting write
  hw.set_write_hook(nullptr, nullptr);
  REQUIRE(hw.write(cpu_id{0}, msrs::tsc_aux, 2).has_value());
  CHECK(seen.calls == 1);
}

TEST_CASE("mock_msr: MSRs that share a hash bucket are still told apart", "[mock_msr]") {
  // 0xC0000082, 0x1023, 0x107c and 0x10b3 land in the same bucket of the mock's index.
  uret::mock_msr hw{1};
  hw.declare(msrs::lstar, 1);
  CHECK(hw.read(cpu_id{0}, uret::msr_index{0x1023}).error() == errc::msr_fault);  // one owner
  hw.declare(uret::msr_index{0x1023}, 2);
  hw.declare(uret::msr_index{0x107c}, 3);
  CHECK(*hw.read(cpu_id{0}, msrs::lstar) == 1);
  CHECK(*hw.read(cpu_id{0}, uret::msr_index{0x1023}) == 2);
  CHECK(*hw.read(cpu_id{0}, uret::msr_index{0x107c}) == 3);
  CHECK(hw.read(cpu_id{0}, uret::msr_index{0x10b3}).error() == errc::msr_fault);  // shared
  CHECK(hw.write(cpu_id{0}, uret::msr_index{0x10b3}, 1).error() == errc::msr_fault);
  REQUIRE(hw.write(cpu_id{0}, uret::msr_index{0x107c}, 9).has_value());
  CHECK(*hw.peek(cpu_id{0}, uret::msr_index{0x107c}) == 9);
  CHECK(*hw.peek(cpu_id{0}, msrs::lstar) == 1);
}
