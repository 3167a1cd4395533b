// SPDX-License-Identifier: MIT
// The simulator's machinery refereed (docs/simulator.md): where an armed disable lands, what the
// exit-to-user loop retries, the scheduling predicates in guest mode, and the ranges the
// workload generator draws from.
#include <uret/sim/sched.hpp>
#include <uret/sim/simulator.hpp>
#include <uret/sim/workload.hpp>

#include <array>
#include <cstdint>
#include <set>

#include <catch2/catch.hpp>

namespace sim = uret::sim;
namespace ev = uret::sim::ev;

namespace {
sim::trace vmx_trace(std::uint32_t cpus) {
  sim::trace t;
  t.setup = sim::make_setup(cpus);
  const auto vm = sim::add_task(t.setup, "vm", sim::task_kind::vmx, cpus - 1);
  t.setup.tasks[vm].guest[sim::slots::tsc_aux] = 5;  // LSTAR and TSC_AUX differ from host
  return t;
}
}  // namespace

TEST_CASE("a disable armed mid-restore waits for a restore, not for any write",
          "[sim/simulator][referee]") {
  sim::trace t = vmx_trace(1);
  sim::simulator s{t.setup, sim::strategy::user_return};
  s.step(ev::switch_to(0, 0));
  s.step(ev::disable(0, sim::disable_when::mid_restore));
  s.step(ev::enter(0));  // the guest's writes are sets, not a restore
  REQUIRE(s.virtualization_enabled(0));
  s.step(ev::exit(0));
  REQUIRE(s.virtualization_enabled(0));
  s.step(ev::user(0));  // the restore's first write: the disable lands inside it
  REQUIRE_FALSE(s.virtualization_enabled(0));
  const sim::run_result& r = s.result();
  REQUIRE(r.violations == 0);
  REQUIRE(s.hardware(0, sim::slots::lstar) == t.setup.host[0][sim::slots::lstar]);
  REQUIRE(s.hardware(0, sim::slots::tsc_aux) == t.setup.host[0][sim::slots::tsc_aux]);
}

TEST_CASE("a disable armed mid-write lands in the next write, a set", "[sim/simulator][referee]") {
  sim::trace t = vmx_trace(1);
  sim::simulator s{t.setup, sim::strategy::user_return};
  s.step(ev::switch_to(0, 0));
  s.step(ev::disable(0, sim::disable_when::mid_write));
  s.step(ev::enter(0));
  s.step(ev::exit(0));
  s.step(ev::user(0));
  REQUIRE(s.result().violations == 0);
}

TEST_CASE("the exit-to-user loop retries a restore whose writes fault, round after round",
          "[sim/simulator][referee]") {
  // Two faulting restore writes: the first round restores one slot and re-registers, the second
  // meets the second fault, the third finishes. A loop of one round leaves the guest's values.
  sim::trace t = vmx_trace(1);
  t.events = {ev::switch_to(0, 0), ev::enter(0), ev::exit(0), ev::fault(0, sim::slots::lstar),
              ev::user(0)};
  sim::simulator s{t.setup, sim::strategy::user_return};
  s.run(t.events);
  REQUIRE(s.result().violations == 0);
  REQUIRE(s.result().faults == 1);
  REQUIRE_FALSE(s.table().registered(uret::cpu_id{0}));
  // Faults on both restored slots, armed one after the other across two returns.
  sim::trace t2 = vmx_trace(1);
  t2.events = {ev::switch_to(0, 0), ev::enter(0), ev::exit(0), ev::fault(0, sim::slots::lstar),
               ev::user(0),         ev::enter(0), ev::exit(0), ev::fault(0, sim::slots::tsc_aux),
               ev::user(0)};
  const sim::run_result r = sim::run(t2, sim::strategy::user_return);
  REQUIRE(r.violations == 0);
  REQUIRE(r.faults == 2);
}

TEST_CASE("the write log tells a restore from a set", "[sim/simulator][referee]") {
  sim::trace t = vmx_trace(1);
  t.events = {ev::switch_to(0, 0), ev::enter(0), ev::exit(0), ev::user(0)};
  sim::run_options o;
  o.record_writes = true;
  const sim::run_result r = sim::run(t, sim::strategy::user_return, o);
  REQUIRE(r.writes.size() == 4);
  REQUIRE_FALSE(r.writes[0].restore);
  REQUIRE_FALSE(r.writes[1].restore);
  REQUIRE(r.writes[2].restore);
  REQUIRE(r.writes[3].restore);
  REQUIRE(r.writes[2].event == 3);
}

TEST_CASE("eager writes on every entry, even right after its own restore",
          "[sim/simulator][referee]") {
  sim::trace t = vmx_trace(1);
  t.events = {ev::switch_to(0, 0), ev::enter(0), ev::exit(0), ev::enter(0), ev::exit(0)};
  const sim::run_result r = sim::run(t, sim::strategy::eager);
  REQUIRE(r.violations == 0);
  // Per entry: 7 unconditional sets, and a restore of the 7 slots it invalidated.
  REQUIRE(r.wrmsr == 2 * (7 + 7));
}

TEST_CASE("re-enabling virtualization restores before it captures host values",
          "[sim/simulator][referee]") {
  // online on an up CPU is a virtualization enable; with the guest's values loaded it must not
  // capture them as host.
  sim::trace t = vmx_trace(1);
  t.events = {ev::switch_to(0, 0), ev::enter(0),  ev::exit(0), ev::fault(0, sim::slots::lstar),
              ev::disable(0),      ev::online(0), ev::user(0)};
  const sim::run_result r = sim::run(t, sim::strategy::user_return);
  REQUIRE(r.violations == 0);
}

TEST_CASE("an unknown in guest mode is a real exit first", "[sim/simulator][referee]") {
  sim::trace t;
  t.setup = sim::make_setup(2);
  const auto td = sim::add_task(t.setup, "td", sim::task_kind::tdx, 1);
  t.events = {ev::switch_to(1, td), ev::enter(1), ev::unknown(1)};
  sim::simulator s{t.setup, sim::strategy::user_return};
  s.run(t.events);
  REQUIRE_FALSE(s.sched().in_guest(1));
  REQUIRE(s.hardware(1, sim::slots::lstar) == sim::tdx_post_exit(sim::slots::lstar));
  s.step(ev::user(1));
  REQUIRE(s.result().violations == 0);
  REQUIRE(s.hardware(1, sim::slots::lstar) == t.setup.host[1][sim::slots::lstar]);
}

TEST_CASE("a failed TD entry leaves the hardware alone", "[sim/simulator][referee]") {
  sim::trace t;
  t.setup = sim::make_setup(2);
  const auto td = sim::add_task(t.setup, "td", sim::task_kind::tdx, 1);
  for (auto o : {sim::exit_outcome::early_fail, sim::exit_outcome::zero_step}) {
    sim::simulator s{t.setup, sim::strategy::user_return};
    s.step(ev::switch_to(1, td));
    s.step(ev::enter(1));
    s.step(ev::exit(1, o));
    for (unsigned i = 0; i < sim::msr_count; ++i) REQUIRE(s.hardware(1, i) == t.setup.host[1][i]);
  }
}

TEST_CASE("a second fault is not armed while one is outstanding", "[sim/simulator][referee]") {
  sim::trace t = vmx_trace(1);
  t.events = {ev::switch_to(0, 0), ev::fault(0, sim::slots::lstar), ev::fault(0, sim::slots::lstar),
              ev::fault(0, sim::slots::lstar), ev::enter(0)};
  const sim::run_result r = sim::run(t, sim::strategy::user_return);
  REQUIRE(r.faults == 1);
  REQUIRE(r.violations == 0);
}

TEST_CASE("in guest mode only exit and unknown are possible", "[sim/sched][referee]") {
  sim::setup s = sim::make_setup(2);
  const auto vm = sim::add_task(s, "vm", sim::task_kind::vmx, 0);
  const auto other = sim::add_task(s, "other", sim::task_kind::user, 0);
  const auto away = sim::add_task(s, "away", sim::task_kind::user, 1);
  sim::sched_state st{s};
  REQUIRE(st.apply(ev::switch_to(0, vm)).valid);
  REQUIRE_FALSE(st.possible(ev::exit(0)));  // not in guest yet
  REQUIRE(st.apply(ev::enter(0)).valid);
  REQUIRE(st.in_guest(0));
  for (const sim::event& e :
       {ev::switch_to(0, other), ev::switch_to(0, sim::idle_task), ev::enter(0), ev::user(0),
        ev::offline(0), ev::disable(0), ev::migrate(vm, 1)}) {
    INFO(sim::to_string(e.kind));
    REQUIRE_FALSE(st.possible(e));
  }
  REQUIRE(st.possible(ev::fault(0, sim::msr_count - 1)));
  REQUIRE_FALSE(st.possible(ev::fault(0, sim::msr_count)));
  REQUIRE(st.possible(ev::online(0)));
  REQUIRE_FALSE(st.apply(ev::online(0)).came_up);  // up already: an enable
  REQUIRE(st.possible(ev::migrate(away, 0)));
  const sim::sched_step u = st.apply(ev::unknown(0));
  REQUIRE(u.valid);
  REQUIRE(u.forced_exit);
  REQUIRE_FALSE(st.in_guest(0));
  REQUIRE_FALSE(st.apply(ev::unknown(0)).forced_exit);
  // Outside guest mode the same events are possible again; offline makes idle run.
  REQUIRE(st.possible(ev::user(0)));
  REQUIRE(st.possible(ev::disable(0)));
  REQUIRE(st.apply(ev::offline(0)).valid);
  REQUIRE(st.running(0) == sim::idle_task);
  REQUIRE_FALSE(st.possible(ev::exit(0)));
  REQUIRE(st.apply(ev::online(0)).came_up);
  REQUIRE(st.running(0) == sim::idle_task);
}

TEST_CASE("the generator draws every disable moment, every fault slot, every CPU",
          "[sim/workload][referee]") {
  const sim::workload_params* p = sim::find_workload("stress");
  REQUIRE(p != nullptr);
  sim::workload_params w = *p;
  w.cpus = 5;
  const sim::trace t = sim::generate(w, 3, 400000);
  std::set<unsigned> disable_when;
  std::set<unsigned> fault_slots;
  std::array<std::uint64_t, 5> per_cpu{};
  std::array<std::uint64_t, 5> faults_per_cpu{};  // fault CPUs are drawn uniformly from the up ones
  bool disable_in_guest = false;
  sim::sched_state st{t.setup};
  for (const sim::event& e : t.events) {
    if (e.kind == sim::event_kind::disable) {
      disable_when.insert(e.arg);
      disable_in_guest = disable_in_guest || st.in_guest(e.cpu);
    }
    if (e.kind == sim::event_kind::fault) {
      fault_slots.insert(e.arg);
      if (e.cpu < faults_per_cpu.size()) ++faults_per_cpu[e.cpu];
    }
    if (e.kind != sim::event_kind::migrate && e.cpu < per_cpu.size()) ++per_cpu[e.cpu];
    REQUIRE(st.apply(e).valid);
  }
  REQUIRE(disable_when == std::set<unsigned>{0, 1, 2});
  REQUIRE(fault_slots.size() == sim::msr_count);
  REQUIRE_FALSE(disable_in_guest);
  for (std::size_t c = 0; c < per_cpu.size(); ++c) {
    INFO("CPU " << c);
    REQUIRE(per_cpu[c] > t.events.size() / 10);  // roughly a fifth each
    REQUIRE(faults_per_cpu[c] > 0);
  }
}
