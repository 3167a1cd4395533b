// SPDX-License-Identifier: MIT
// The historical failure sequences (docs/design.md, "Failure classes"; tests/sim/scenarios/),
// caught under the faulty strategy or impossible under this library's.
#include <uret/sim/replay.hpp>
#include <uret/sim/simulator.hpp>

#include <uret/notifier.hpp>
#include <uret/slot_table.hpp>

#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>
#include <string>

namespace sim = uret::sim;
using uret::cpu_id;

namespace {

sim::trace load(const std::string& name) {
  std::ifstream f(std::string(URET_SIM_SCENARIOS) + "/" + name + ".replay");
  REQUIRE(f);
  std::stringstream ss;
  ss << f.rdbuf();
  sim::parse_result p = sim::parse_replay(ss.str());
  INFO((p.errors.empty() ? std::string() : p.errors[0].message));
  REQUIRE(p.ok());
  return std::move(p.trace);
}

std::uint64_t count(const sim::run_result& r, sim::invariant i) {
  return r.by_invariant[static_cast<std::size_t>(i)];
}

const sim::violation* find(const sim::run_result& r, sim::invariant i, unsigned slot) {
  for (const sim::violation& v : r.reports) {
    if (v.inv == i && v.slot == slot) return &v;
  }
  return nullptr;
}

constexpr sim::strategy correct_tdx[] = {sim::strategy::tdx_set_before_entry,
                                         sim::strategy::tdx_invalidate,
                                         sim::strategy::tdx_may_clobber,
                                         sim::strategy::eager,
                                         sim::strategy::run_loop,
                                         sim::strategy::ctxsw};

void require_clean_under_every_correct_strategy(const sim::trace& t) {
  for (sim::strategy s : sim::all_strategies) {
    if (!sim::expected_correct(s)) continue;
    INFO(sim::to_string(s));
    const sim::run_result r = sim::run(t, s);
    REQUIRE(r.ignored == 0);
    REQUIRE(r.violations == 0);
  }
}

}  // namespace

TEST_CASE("TDX failed entry, then a VMX vCPU whose TSC_AUX equals the post-exit value",
          "[sim/scenarios]") {
  const sim::trace t = load("tdx-failed-entry-vmx");
  const sim::run_result bad = sim::run(t, sim::strategy::tdx_update_after_run);
  REQUIRE(count(bad, sim::invariant::i2) > 0);
  REQUIRE(bad.first_violation[static_cast<std::size_t>(sim::invariant::i2)] == 2);  // the exit
  const sim::violation* g = find(bad, sim::invariant::guest_entry, sim::slots::tsc_aux);
  REQUIRE(g != nullptr);
  REQUIRE(g->index == 4);     // the VMX entry
  REQUIRE(g->expected == 0);  // what the guest needs
  REQUIRE(g->actual == 1);    // CPU 1's host TSC_AUX, never overwritten
  for (sim::strategy s : correct_tdx) {
    INFO(sim::to_string(s));
    REQUIRE(sim::run(t, s).violations == 0);
  }
}

TEST_CASE("the same on CPU 0: user mode returns with the guest's TSC_AUX", "[sim/scenarios]") {
  const sim::trace t = load("tdx-failed-entry-cpu0");
  const sim::run_result bad = sim::run(t, sim::strategy::tdx_update_after_run);
  const sim::violation* i3 = find(bad, sim::invariant::i3, sim::slots::tsc_aux);
  REQUIRE(i3 != nullptr);
  REQUIRE(i3->ev.kind == sim::event_kind::user);
  REQUIRE(i3->expected == 0);  // host TSC_AUX of CPU 0
  REQUIRE(i3->actual == 5);    // the VMX guest's, still loaded
  for (sim::strategy s : correct_tdx) {
    INFO(sim::to_string(s));
    REQUIRE(sim::run(t, s).violations == 0);
  }
}

TEST_CASE("SEV-ES reloading the boot-time host value loses a cached guest value",
          "[sim/scenarios]") {
  const sim::trace t = load("sev-es-boot-host");
  sim::run_options legacy;
  legacy.legacy.sev_es_boot_host = true;
  const sim::run_result bad = sim::run(t, sim::strategy::user_return, legacy);
  const sim::violation* i2 = find(bad, sim::invariant::i2, sim::slots::tsc_aux);
  REQUIRE(i2 != nullptr);
  REQUIRE(i2->index == 5);     // the SEV-ES #VMEXIT
  REQUIRE(i2->expected == 1);  // hardware: the boot-time host value
  REQUIRE(i2->actual == 7);    // cache: the SVM vCPU's value
  REQUIRE(count(bad, sim::invariant::guest_entry) == 1);
  require_clean_under_every_correct_strategy(t);
}

TEST_CASE("a virtualization disable between a WRMSR and the cache update", "[sim/scenarios]") {
  const sim::trace t = load("disable-mid-write");
  require_clean_under_every_correct_strategy(t);
  sim::run_options o;
  o.record_writes = true;
  const sim::run_result r = sim::run(t, sim::strategy::user_return, o);
  // Inside the entry (event 5): the guest value, the disable's restore, then the reload.
  std::vector<sim::write_record> entry;
  for (const sim::write_record& w : r.writes) {
    if (w.event == 5) entry.push_back(w);
  }
  REQUIRE(entry.size() >= 3);
  REQUIRE_FALSE(entry[0].restore);
  REQUIRE(entry[1].restore);
  REQUIRE(entry[1].slot == entry[0].slot);
  REQUIRE(entry[2].value == entry[0].value);
  REQUIRE(r.rdmsr == sim::msr_count);  // virtualization enabled again
}

TEST_CASE("a virtualization disable during the restore", "[sim/scenarios]") {
  require_clean_under_every_correct_strategy(load("disable-mid-restore"));
}

TEST_CASE("host capture at CPU online while a guest value is loaded", "[sim/scenarios]") {
  const sim::trace t = load("online-capture");
  require_clean_under_every_correct_strategy(t);
  sim::simulator machine{t.setup, sim::strategy::user_return};
  machine.run(t.events);
  for (unsigned s = 0; s < sim::msr_count; ++s) {
    REQUIRE(*machine.table().host(cpu_id{0}, s) == t.setup.host[0][s]);
  }

  // The library refuses the capture outright.
  uret::mock_msr hw{1};
  hw.declare(uret::msrs::lstar, 0x1000);
  uret::notifier_chain<1> chain{1};
  uret::slot_table<uret::mock_msr, 4, 1> table{hw, chain, 1};
  const unsigned lstar = *table.add(uret::msrs::lstar);
  REQUIRE(table.cpu_online(cpu_id{0}));
  REQUIRE(table.set(cpu_id{0}, lstar, 0x2000));
  REQUIRE(table.cpu_online(cpu_id{0}).error() == uret::errc::guest_value_loaded);
  REQUIRE(*table.host(cpu_id{0}, lstar) == 0x1000);
}

TEST_CASE("masked bits come from host, and a failed WRMSR changes nothing", "[sim/scenarios]") {
  const sim::trace t = load("masked-bits");
  require_clean_under_every_correct_strategy(t);
  sim::run_options o;
  o.record_writes = true;
  const sim::run_result r = sim::run(t, sim::strategy::user_return, o);
  REQUIRE(r.faults == 1);
  bool wrote_efer = false;
  for (const sim::write_record& w : r.writes) {
    if (w.slot == sim::slots::efer && !w.restore) {
      REQUIRE(w.value == 0x501);
      wrote_efer = true;
    }
  }
  REQUIRE(wrote_efer);
}
