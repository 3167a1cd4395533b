// SPDX-License-Identifier: MIT
// Tests of uret/sim/simulator.hpp: what each strategy writes, the counters, the write log,
// injected faults, virtualization disable and enable, and the legacy bug switch.
#include <uret/sim/simulator.hpp>
#include <uret/sim/workload.hpp>

#include <catch2/catch.hpp>

#include <vector>

namespace sim = uret::sim;
namespace ev = uret::sim::ev;
using uret::cpu_id;

namespace {

// One VMX vCPU on CPU 1 whose guest LSTAR and TSC_AUX (0) differ from the host's.
sim::trace vmx_on_cpu1(std::initializer_list<sim::event> events) {
  sim::trace t;
  t.setup = sim::make_setup(2);
  sim::add_task(t.setup, "vm", sim::task_kind::vmx, 1);
  sim::add_task(t.setup, "vmm", sim::task_kind::user, 1);
  t.events.assign(events);
  return t;
}

}  // namespace

TEST_CASE("each strategy's writes on two entries and a return to user", "[sim/simulator]") {
  const sim::trace t = vmx_on_cpu1(
      {ev::switch_to(1, 0), ev::enter(1), ev::exit(1), ev::enter(1), ev::exit(1), ev::user(1)});
  const auto writes = [&](sim::strategy s) {
    const sim::run_result r = sim::run(t, s);
    REQUIRE(r.violations == 0);
    REQUIRE(r.oracle_wrmsr == 4);
    return r.wrmsr;
  };
  CHECK(writes(sim::strategy::eager) == 28);     // 7 guest + 7 host values per entry/exit
  CHECK(writes(sim::strategy::run_loop) == 14);  // 7 when the loop starts, 7 when it is left
  CHECK(writes(sim::strategy::ctxsw) == 4);
  CHECK(writes(sim::strategy::user_return) == 4);
  CHECK(writes(sim::strategy::tdx_update_after_run) == 4);
  CHECK(writes(sim::strategy::tdx_set_before_entry) == 4);
  CHECK(writes(sim::strategy::tdx_invalidate) == 4);
  CHECK(writes(sim::strategy::tdx_may_clobber) == 4);
}

TEST_CASE("ctxsw restores when the CPU changes task, user-return waits for user mode",
          "[sim/simulator]") {
  const sim::trace t =
      vmx_on_cpu1({ev::switch_to(1, 0), ev::enter(1), ev::exit(1), ev::switch_to(1, sim::idle_task),
                   ev::switch_to(1, 0), ev::enter(1), ev::exit(1)});
  REQUIRE(sim::run(t, sim::strategy::ctxsw).wrmsr == 6);
  REQUIRE(sim::run(t, sim::strategy::user_return).wrmsr == 2);
}

TEST_CASE("the write log names the event, CPU, slot, value and whether it restored",
          "[sim/simulator]") {
  const sim::trace t = vmx_on_cpu1({ev::switch_to(1, 0), ev::enter(1), ev::exit(1), ev::user(1)});
  sim::run_options o;
  o.record_writes = true;
  const sim::run_result r = sim::run(t, sim::strategy::user_return, o);
  REQUIRE(r.writes.size() == 4);
  REQUIRE(r.writes[0].event == 1);
  REQUIRE(r.writes[0].cpu == 1);
  REQUIRE(r.writes[0].slot == sim::slots::lstar);
  REQUIRE_FALSE(r.writes[0].restore);
  REQUIRE(r.writes[1].slot == sim::slots::tsc_aux);
  REQUIRE(r.writes[1].value == 0);
  REQUIRE(r.writes[3].event == 3);
  REQUIRE(r.writes[3].restore);
  REQUIRE(r.writes[3].value == 1);
}

TEST_CASE("impossible events are counted and ignored", "[sim/simulator]") {
  const sim::trace t = vmx_on_cpu1({ev::enter(1), ev::user(0), ev::exit(1), ev::switch_to(0, 0)});
  const sim::run_result r = sim::run(t, sim::strategy::user_return);
  REQUIRE(r.events == 4);
  REQUIRE(r.ignored == 4);
  REQUIRE(r.wrmsr == 0);
}

TEST_CASE("a CPU coming back up captures its host values with RDMSR", "[sim/simulator]") {
  const sim::trace t = vmx_on_cpu1({ev::offline(1), ev::online(1)});
  const sim::run_result r = sim::run(t, sim::strategy::user_return);
  REQUIRE(r.rdmsr == sim::msr_count);
  REQUIRE(r.wrmsr == 0);
}

TEST_CASE("an injected fault fails one write, changes nothing, and the set is retried",
          "[sim/simulator]") {
  const sim::trace t = vmx_on_cpu1({ev::fault(1, sim::slots::lstar), ev::switch_to(1, 0),
                                    ev::enter(1), ev::exit(1), ev::user(1)});
  for (sim::strategy s : sim::all_strategies) {
    const sim::run_result r = sim::run(t, s);
    INFO(sim::to_string(s));
    REQUIRE(r.violations == 0);
    REQUIRE(r.faults == 1);
  }
}

TEST_CASE("a fault in the restore is retried by the exit-to-user loop", "[sim/simulator]") {
  const sim::trace t = vmx_on_cpu1({ev::switch_to(1, 0), ev::enter(1), ev::exit(1),
                                    ev::fault(1, sim::slots::tsc_aux), ev::user(1)});
  const sim::run_result r = sim::run(t, sim::strategy::user_return);
  REQUIRE(r.violations == 0);
  REQUIRE(r.faults == 1);
  REQUIRE(r.wrmsr == 4);
}

TEST_CASE("disable restores now, the next entry enables virtualization again", "[sim/simulator]") {
  const sim::trace t = vmx_on_cpu1({ev::switch_to(1, 0), ev::enter(1), ev::exit(1), ev::disable(1),
                                    ev::enter(1), ev::exit(1), ev::user(1)});
  sim::simulator machine{t.setup, sim::strategy::user_return};
  machine.run(std::span<const sim::event>(t.events.data(), 4));
  REQUIRE_FALSE(machine.virtualization_enabled(1));
  REQUIRE(machine.hardware(1, sim::slots::lstar) == t.setup.host[1][sim::slots::lstar]);
  machine.run(std::span<const sim::event>(t.events.data() + 4, 3));
  REQUIRE(machine.virtualization_enabled(1));
  const sim::run_result& r = machine.result();
  REQUIRE(r.violations == 0);
  REQUIRE(r.wrmsr == 8);  // load, the disable's restore, load again, restore
  REQUIRE(r.rdmsr == sim::msr_count);
}

TEST_CASE("the simulator exposes the table it drives", "[sim/simulator]") {
  const sim::trace t = vmx_on_cpu1({ev::switch_to(1, 0), ev::enter(1), ev::exit(1)});
  sim::simulator machine{t.setup, sim::strategy::user_return};
  machine.run(t.events);
  REQUIRE(machine.table().registered(cpu_id{1}));
  REQUIRE(*machine.table().current(cpu_id{1}, sim::slots::tsc_aux) == 0);
  REQUIRE(machine.sched().running(1) == 0);
  REQUIRE(machine.strategy_used() == sim::strategy::user_return);
}

TEST_CASE("without the checker and the oracle nothing is counted but the MSR accesses",
          "[sim/simulator]") {
  const sim::trace t = vmx_on_cpu1({ev::switch_to(1, 0), ev::enter(1), ev::exit(1), ev::user(1)});
  sim::run_options o;
  o.check = false;
  o.oracle = false;
  const sim::run_result r = sim::run(t, sim::strategy::user_return, o);
  REQUIRE(r.wrmsr == 4);
  REQUIRE(r.oracle_wrmsr == 0);
  REQUIRE(r.violations == 0);
}

TEST_CASE("model cycles", "[sim/simulator]") {
  sim::run_result r;
  r.wrmsr = 10;
  r.rdmsr = 2;
  REQUIRE(r.model_cycles(100, 50) == 1100);
}

// docs/design.md, "One write counter": every report (uret-sim, uret-bench, run_result::wrmsr)
// prints the hardware's count of successful WRMSRs, and uret::dump() prints the table's own
// count (slot_stats::writes, all a real backend offers). They must be the same number: the
// simulator drives the table only through its counting (checked) operations and the restore,
// and the hardware model changes registers without WRMSRs. A strategy that wrote around the
// table, or a table path that forgot to count, would make them differ.
TEST_CASE("the table's write counter and the hardware's agree on every strategy and workload",
          "[sim/simulator]") {
  std::uint64_t total = 0;
  for (const sim::named_workload& w : sim::workloads()) {
    for (const std::uint64_t seed : {1U, 2U}) {
      const sim::trace t = sim::generate(w.params, seed, 4000);
      for (const sim::strategy s : sim::all_strategies) {
        CAPTURE(w.params.name, seed, sim::to_string(s));
        sim::run_options o;
        o.oracle = false;
        sim::simulator m(t.setup, s, o);
        const auto table_writes = [&] {
          std::uint64_t n = 0;
          for (std::uint32_t c = 0; c < t.setup.cpus; ++c) n += m.table().stats(cpu_id{c}).writes;
          return n;
        };
        const std::uint64_t before = table_writes();
        m.run(t.events);
        const sim::run_result& r = m.result();
        CHECK(table_writes() - before == r.wrmsr);
        total += r.wrmsr;
      }
    }
  }
  CHECK(total > 0);  // the workloads did write
}
