// SPDX-License-Identifier: MIT
// The checker refereed: for each invariant of docs/design.md, a table (or strategy) broken in
// exactly that way, which the checker must catch, next to the weakened check a tired maintainer
// might write, shown to miss it. If uret/sim/checker.hpp is weakened in one of these ways, a
// test here fails.
#include <uret/backends/mock_msr.hpp>
#include <uret/notifier.hpp>
#include <uret/sim/checker.hpp>
#include <uret/sim/simulator.hpp>
#include <uret/slot_table.hpp>

#include <cstdint>
#include <optional>
#include <vector>

#include <catch2/catch.hpp>

namespace sim = uret::sim;
namespace ev = uret::sim::ev;
using uret::cpu_id;

namespace {

// A table whose state the test sets by hand: the shape check_cache() and check_user_return()
// accept ("any slot_table over mock_msr"), so that a table can be broken in exactly one way.
struct fake_table {
  bool is_online = true;
  bool is_registered = false;
  std::vector<std::optional<std::uint64_t>> cur;  // nullopt: the cache says "unknown"
  std::vector<std::uint64_t> hst;

  [[nodiscard]] bool online(cpu_id) const noexcept { return is_online; }
  [[nodiscard]] bool registered(cpu_id) const noexcept { return is_registered; }
  [[nodiscard]] std::size_t size() const noexcept { return cur.size(); }
  [[nodiscard]] uret::result<std::uint64_t> current(cpu_id, unsigned s) const noexcept {
    if (!is_online) return uret::errc::cpu_offline;
    if (!cur[s]) return uret::errc::value_unknown;
    return *cur[s];
  }
  [[nodiscard]] uret::result<std::uint64_t> host(cpu_id, unsigned s) const noexcept {
    if (!is_online) return uret::errc::cpu_offline;
    return hst[s];
  }
  [[nodiscard]] uret::result<uret::msr_index> msr(unsigned s) const noexcept {
    return sim::slot_msrs[s];
  }
};

// Hardware (a mock register file) for `cpus` CPUs holding `values` in slots 0.. on every CPU.
uret::mock_msr hardware(std::uint32_t cpus, const std::vector<std::uint64_t>& values) {
  uret::mock_msr hw{cpus};
  for (unsigned s = 0; s < sim::msr_count; ++s) {
    hw.declare(sim::slot_msrs[s], s < values.size() ? values[s] : 0);
  }
  return hw;
}

fake_table table_of(std::vector<std::optional<std::uint64_t>> cur, std::vector<std::uint64_t> host,
                    bool registered) {
  fake_table t;
  t.cur = std::move(cur);
  t.hst = std::move(host);
  t.is_registered = registered;
  return t;
}

// The weakened I1 a maintainer might write: "a slot whose known cache differs from host implies
// registered", forgetting that an unknown slot is dirty too.
bool weak_i1_ok(const fake_table& t, unsigned s) {
  const auto cur = t.current(cpu_id{0}, s);
  const auto host = t.host(cpu_id{0}, s);
  return t.is_registered || !cur || !host || *cur == *host;
}

}  // namespace

TEST_CASE("I1: a dirty slot without the restore registered is caught, an unknown slot too",
          "[sim/checker][referee]") {
  const auto hw = hardware(1, {10, 20, 30});
  SECTION("known, differing from host, not registered") {
    const fake_table t = table_of({10, 21, 30}, {10, 20, 30}, false);
    sim::checker chk;
    sim::check_cache(chk, t, hw, 0, true);  // in guest: I2 is not looked at
    REQUIRE(chk.count() == 1);
    REQUIRE(chk.by_invariant()[static_cast<std::size_t>(sim::invariant::i1)] == 1);
    REQUIRE(chk.reports()[0].slot == 1);
    REQUIRE(chk.reports()[0].cpu == 0);
  }
  SECTION("unknown, not registered: the weakened check accepts it, the checker does not") {
    const fake_table t = table_of({10, std::nullopt, 30}, {10, 20, 30}, false);
    REQUIRE(weak_i1_ok(t, 1));  // the broken table passes a weakened I1...
    sim::checker chk;
    sim::check_cache(chk, t, hw, 0, true);
    REQUIRE(chk.count() == 1);  // ...but not the real one
    REQUIRE(chk.reports()[0].inv == sim::invariant::i1);
    REQUIRE(chk.reports()[0].slot == 1);
  }
  SECTION("registered: every slot may be dirty or unknown") {
    const fake_table t = table_of({11, std::nullopt, 31}, {10, 20, 30}, true);
    sim::checker chk;
    sim::check_cache(chk, t, hw, 0, true);
    REQUIRE(chk.count() == 0);
  }
  SECTION("clean and not registered: fine") {
    const fake_table t = table_of({10, 20, 30}, {10, 20, 30}, false);
    sim::checker chk;
    sim::check_cache(chk, t, hw, 0, false);
    REQUIRE(chk.count() == 0);
  }
  SECTION("a CPU the table has offline is not checked") {
    fake_table t = table_of({11, std::nullopt, 31}, {10, 20, 30}, false);
    t.is_online = false;
    sim::checker chk;
    sim::check_cache(chk, t, hw, 0, false);
    REQUIRE(chk.count() == 0);
  }
}

TEST_CASE(
    "I2: a known cache is compared with the hardware, not with host, and only outside guest mode",
    "[sim/checker][referee]") {
  auto hw = hardware(2, {10, 20, 30});
  SECTION("cache equals host but the hardware differs: caught, hardware then cache") {
    const fake_table t = table_of({10, 20, 30}, {10, 20, 30}, false);
    REQUIRE(hw.poke(cpu_id{1}, sim::slot_msrs[2], 99));
    sim::checker chk;
    sim::check_cache(chk, t, hw, 1, false);
    REQUIRE(chk.count() == 1);
    const sim::violation& v = chk.reports()[0];
    REQUIRE(v.inv == sim::invariant::i2);
    REQUIRE(v.cpu == 1);
    REQUIRE(v.slot == 2);
    REQUIRE(v.expected == 99);
    REQUIRE(v.actual == 30);
    // The same table checked on CPU 0, whose hardware agrees, is fine: the CPU's own registers.
    sim::checker chk0;
    sim::check_cache(chk0, t, hw, 0, false);
    REQUIRE(chk0.count() == 0);
  }
  SECTION("cache differs from host, registered, equals the hardware: fine") {
    const fake_table t = table_of({10, 77, 30}, {10, 20, 30}, true);
    REQUIRE(hw.poke(cpu_id{0}, sim::slot_msrs[1], 77));
    sim::checker chk;
    sim::check_cache(chk, t, hw, 0, false);
    REQUIRE(chk.count() == 0);
  }
  SECTION("in guest mode the hardware holds the guest's value: I2 is not checked, I1 is") {
    const fake_table t = table_of({10, 20, 30}, {10, 20, 30}, false);
    REQUIRE(hw.poke(cpu_id{0}, sim::slot_msrs[0], 5));
    sim::checker chk;
    sim::check_cache(chk, t, hw, 0, true);
    REQUIRE(chk.count() == 0);
    sim::check_cache(chk, t, hw, 0, false);
    REQUIRE(chk.count() == 1);
  }
  SECTION("an unknown slot makes no I2 claim") {
    const fake_table t = table_of({std::nullopt, 20, 30}, {10, 20, 30}, true);
    REQUIRE(hw.poke(cpu_id{0}, sim::slot_msrs[0], 5));
    sim::checker chk;
    sim::check_cache(chk, t, hw, 0, false);
    REQUIRE(chk.count() == 0);
  }
}

TEST_CASE("I3: the restore must write the true host value, not the one the table believes",
          "[sim/checker][referee]") {
  // A table that captured a guest value as "host" (cpu_online while TSC_AUX held the guest's
  // value): its restore writes nothing, the hardware keeps the guest value.
  uret::mock_msr hw{2};
  for (unsigned s = 0; s < sim::msr_count; ++s)
    hw.declare(sim::slot_msrs[s], sim::host_default(1, s));
  uret::notifier_chain<8> chain{2};
  uret::slot_table<uret::mock_msr, 16, 8> table{hw, chain, 2};
  for (unsigned s = 0; s < sim::msr_count; ++s) REQUIRE(table.add(sim::slot_msrs[s]));
  sim::msr_values true_host{};
  for (unsigned s = 0; s < sim::msr_count; ++s) true_host[s] = sim::host_default(1, s);
  REQUIRE(hw.poke(cpu_id{1}, sim::slot_msrs[sim::slots::tsc_aux], 7));  // a guest's TSC_AUX
  REQUIRE(table.cpu_online(cpu_id{1}));
  REQUIRE(chain.fire(cpu_id{1}));  // the return to user mode: nothing to restore, it believes

  // A weakened I3, comparing with table.host(), is satisfied:
  bool weak_ok = true;
  for (unsigned s = 0; s < sim::msr_count; ++s) {
    weak_ok = weak_ok && hw.peek(cpu_id{1}, sim::slot_msrs[s]) == *table.host(cpu_id{1}, s);
  }
  REQUIRE(weak_ok);
  // The checker is not:
  sim::checker chk;
  sim::check_user_return(chk, table, hw, 1, true_host);
  REQUIRE(chk.count() == 1);
  const sim::violation& v = chk.reports()[0];
  REQUIRE(v.inv == sim::invariant::i3);
  REQUIRE(v.cpu == 1);
  REQUIRE(v.slot == sim::slots::tsc_aux);
  REQUIRE(v.expected == 1);
  REQUIRE(v.actual == 7);
}

TEST_CASE("I3: a restore still registered after the return to user mode is caught",
          "[sim/checker][referee]") {
  const auto hw = hardware(1, {10, 20, 30});
  const fake_table t = table_of({10, 20, 30}, {10, 20, 30}, true);
  sim::msr_values host{};
  host[0] = 10;
  host[1] = 20;
  host[2] = 30;
  sim::checker chk;
  sim::check_user_return(chk, t, hw, 0, host);
  REQUIRE(chk.count() == 1);
  REQUIRE(chk.reports()[0].inv == sim::invariant::i3);
  REQUIRE(chk.reports()[0].slot == sim::no_slot);
  REQUIRE(chk.reports()[0].expected == 0);
  REQUIRE(chk.reports()[0].actual == 1);
  // Every slot is compared, the last one too.
  const fake_table clean = table_of({10, 20, 30}, {10, 20, 30}, false);
  host[2] = 31;
  sim::checker chk2;
  sim::check_user_return(chk2, clean, hw, 0, host);
  REQUIRE(chk2.count() == 1);
  REQUIRE(chk2.reports()[0].slot == 2);
  REQUIRE(chk2.reports()[0].expected == 31);
  REQUIRE(chk2.reports()[0].actual == 30);
}

TEST_CASE("state invariants count per CPU and per slot, event invariants every time",
          "[sim/checker][referee]") {
  sim::checker chk{2};
  chk.begin_event(5, ev::enter(0));
  chk.expect_state(sim::invariant::i2, 0, 3, false, 1, 2);
  chk.expect_state(sim::invariant::i2, 0, 4, false, 1, 2);  // another slot: another incident
  chk.expect_state(sim::invariant::i2, 1, 3, false, 1, 2);  // another CPU: another incident
  chk.expect_state(sim::invariant::i1, 0, 3, false, 1, 0);  // another invariant: another one
  REQUIRE(chk.count() == 4);
  chk.begin_event(6, ev::exit(0));
  chk.expect_state(sim::invariant::i2, 0, 3, false, 1, 2);  // still the same incident
  REQUIRE(chk.count() == 4);
  chk.expect_state(sim::invariant::i2, 0, 3, true, 0, 0);   // seen correct: re-armed
  chk.expect_state(sim::invariant::i2, 0, 4, false, 1, 2);  // slot 4 is still failing
  REQUIRE(chk.count() == 4);
  chk.begin_event(7, ev::user(0));
  chk.expect_state(sim::invariant::i2, 0, 3, false, 1, 2);
  REQUIRE(chk.count() == 5);
  chk.expect(sim::invariant::i4, 0, 1, false, 0, 1);
  chk.expect(sim::invariant::i4, 0, 1, false, 0, 1);
  chk.expect(sim::invariant::i5, 0, 1, true, 0, 1);
  REQUIRE(chk.count() == 7);
  REQUIRE(chk.by_invariant()[static_cast<std::size_t>(sim::invariant::i2)] == 4);
  REQUIRE(chk.by_invariant()[static_cast<std::size_t>(sim::invariant::i4)] == 2);
  REQUIRE(chk.first()[static_cast<std::size_t>(sim::invariant::i2)] == 5);
  REQUIRE(chk.first()[static_cast<std::size_t>(sim::invariant::i4)] == 7);
  REQUIRE(chk.first()[static_cast<std::size_t>(sim::invariant::i5)] == sim::no_event);
  REQUIRE(chk.reports().size() == 2);  // max_reports
  REQUIRE(chk.reports()[1].slot == 4);
  REQUIRE(chk.reports()[1].index == 5);
}

TEST_CASE("a strategy broken the TDX way is caught at the failed entry's exit, as I2",
          "[sim/checker][referee]") {
  // update_cache() after every TD exit believes the TDX module reset the MSRs. On a failed
  // entry it did not: the cache lies about the hardware right after that exit.
  sim::trace t;
  t.setup = sim::make_setup(2);
  const auto td = sim::add_task(t.setup, "td", sim::task_kind::tdx, 1);
  t.events = {ev::switch_to(1, td), ev::enter(1), ev::exit(1, sim::exit_outcome::early_fail),
              ev::user(1)};
  const sim::run_result bad = sim::run(t, sim::strategy::tdx_update_after_run);
  REQUIRE(bad.by_invariant[static_cast<std::size_t>(sim::invariant::i2)] >= 1);
  REQUIRE(bad.first_violation[static_cast<std::size_t>(sim::invariant::i2)] == 2);
  for (auto s : {sim::strategy::user_return, sim::strategy::tdx_may_clobber,
                 sim::strategy::tdx_invalidate, sim::strategy::tdx_set_before_entry}) {
    REQUIRE(sim::run(t, s).violations == 0);
  }
  // On a real exit the same strategy is right.
  t.events[2] = ev::exit(1, sim::exit_outcome::real);
  REQUIRE(sim::run(t, sim::strategy::tdx_update_after_run).violations == 0);
}

TEST_CASE("SEV-ES's boot-time save-area value is caught when another vCPU's value is loaded",
          "[sim/checker][referee]") {
  // An SVM vCPU loads its TSC_AUX; an SEV-ES vCPU runs next on that CPU. The host save area
  // must get the value the CPU holds (the SVM guest's, cached), not the boot-time host value:
  // otherwise #VMEXIT puts the host value back behind the cache's back.
  sim::trace t;
  t.setup = sim::make_setup(2);
  const auto svm = sim::add_task(t.setup, "svm", sim::task_kind::svm, 1);
  const auto sev = sim::add_task(t.setup, "sev", sim::task_kind::sev_es, 1);
  t.setup.tasks[svm].guest[sim::slots::tsc_aux] = 5;
  t.events = {ev::switch_to(1, svm), ev::enter(1), ev::exit(1), ev::switch_to(1, sev),
              ev::enter(1),          ev::exit(1),  ev::user(1)};
  sim::run_options fixed;
  REQUIRE(sim::run(t, sim::strategy::user_return, fixed).violations == 0);
  sim::run_options legacy;
  legacy.legacy.sev_es_boot_host = true;
  const sim::run_result r = sim::run(t, sim::strategy::user_return, legacy);
  REQUIRE(r.violations >= 1);
  // The cache says 5, the hardware holds 1 after the #VMEXIT (event 5).
  REQUIRE(r.first_violation[static_cast<std::size_t>(sim::invariant::i2)] == 5);
  REQUIRE(r.reports[0].inv == sim::invariant::i2);
  REQUIRE(r.reports[0].expected == 1);
  REQUIRE(r.reports[0].actual == 5);
}

TEST_CASE("G: an entry with the wrong value loaded is caught, masks included",
          "[sim/checker][referee]") {
  // Every correct strategy enters a VMX guest whose EFER differs from host only in the bits KVM
  // leaves to the host: nothing to write, no G violation.
  sim::trace t;
  t.setup = sim::make_setup(1);
  const auto vm = sim::add_task(t.setup, "vm", sim::task_kind::vmx, 0);
  t.setup.tasks[vm].guest[sim::slots::efer] =
      t.setup.host[0][sim::slots::efer] ^ sim::efer_host_bits;
  t.events = {ev::switch_to(0, vm), ev::enter(0), ev::exit(0), ev::user(0)};
  for (auto s : sim::all_strategies) {
    if (s == sim::strategy::tdx_update_after_run) continue;
    const sim::run_result r = sim::run(t, s);
    REQUIRE(r.violations == 0);
    REQUIRE(r.wrmsr >= r.oracle_wrmsr);
  }
}

TEST_CASE("an unknown slot ends an I2 incident: the next lie is a new one",
          "[sim/checker][referee]") {
  auto hw = hardware(1, {10, 20, 30});
  REQUIRE(hw.poke(cpu_id{0}, sim::slot_msrs[0], 11));
  fake_table t = table_of({10, 20, 30}, {10, 20, 30}, true);
  sim::checker chk;
  sim::check_cache(chk, t, hw, 0, false);
  REQUIRE(chk.count() == 1);
  t.cur[0] = std::nullopt;  // invalidated: the cache claims nothing
  sim::check_cache(chk, t, hw, 0, false);
  REQUIRE(chk.count() == 1);
  t.cur[0] = 10;  // lies again
  sim::check_cache(chk, t, hw, 0, false);
  REQUIRE(chk.count() == 2);
}
