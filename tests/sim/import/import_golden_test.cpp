// SPDX-License-Identifier: MIT
// The golden scenario: a trace built from the structure of a real KVM host (MMIO exits to user
// space, HLT exits that block the vCPU thread, a VMM thread and a kworker preempting vCPU
// threads, an interrupted KVM_RUN), with every WRMSR KVM issued as msr:write_msr. The
// user-return strategy, replayed through the simulator, must issue exactly those writes.
// Also: the comparison's explanations, and the import time of a generated 100k-line trace.
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "fixture.hpp"
#include "generate_trace.hpp"
#include "uret/sim/import.hpp"
#include "uret/sim/replay.hpp"
#include "uret/sim/simulator.hpp"

namespace {

using uret_import_test::fixture;

using write_key = std::tuple<std::uint32_t, std::uint32_t, std::uint64_t>;  // cpu, msr, value

/// The trace's msr:write_msr lines, per CPU in trace order, CPUs ascending.
std::vector<write_key> traced(const uret::sim::imported_trace& imp) {
  std::vector<write_key> out;
  for (std::uint32_t c = 0; c < imp.trace.setup.cpus; ++c) {
    for (const auto& w : imp.trace.expected) {
      if (w.cpu == c) out.emplace_back(w.cpu, w.msr.value, w.value);
    }
  }
  return out;
}

/// The writes of a run, per CPU in issue order, CPUs ascending.
std::vector<write_key> issued(const uret::sim::imported_trace& imp,
                              const uret::sim::run_result& r) {
  std::vector<write_key> out;
  for (std::uint32_t c = 0; c < imp.trace.setup.cpus; ++c) {
    for (const auto& w : r.writes) {
      if (w.cpu == c) out.emplace_back(w.cpu, uret::sim::slot_msrs[w.slot].value, w.value);
    }
  }
  return out;
}

}  // namespace

using namespace uret::sim;

TEST_CASE("golden scenario: the import", "[import][golden]") {
  auto imp = import_trace(fixture("golden_scenario.txt"));
  INFO(imp.replay);
  CHECK(imp.stats.unparsed == 0);
  CHECK(imp.stats.gaps == 0);
  CHECK(imp.stats.ignored == 4);  // sched_wakeup, kvm_mmio, kvm_pio, kvm_msr
  CHECK(imp.stats.msr_writes == 18);
  CHECK(imp.stats.unclassified_msr_writes == 0);
  CHECK(imp.stats.host_value_changes + imp.stats.guest_value_changes == 0);
  CHECK(imp.trace.setup.cpus == 4);
  const auto& tasks = imp.trace.setup.tasks;
  REQUIRE(tasks.size() == 4);
  CHECK(tasks[0].name == "CPU_0/KVM-4321");
  CHECK(tasks[0].kind == task_kind::vmx);
  CHECK(tasks[0].cpu == 2);
  CHECK(tasks[1].name == "CPU_1/KVM-4322");
  CHECK(tasks[1].cpu == 3);
  CHECK(tasks[2].kind == task_kind::kernel);  // kworker/3:1
  CHECK(tasks[3].name == "qemu-system-x86-4300");
  CHECK(tasks[3].kind == task_kind::user);
  CHECK(imp.trace.setup.host[2][slots::lstar] == 0xffffffffa7a00080);
  CHECK(imp.trace.setup.host[2][slots::tsc_aux] == 2);
  CHECK(imp.trace.setup.host[3][slots::tsc_aux] == 3);
  CHECK(tasks[0].guest[slots::lstar] == 0xffffffff9c600080);
  CHECK(tasks[0].guest[slots::tsc_aux] == 0);
  CHECK(tasks[1].guest[slots::tsc_aux] == 1);
  CHECK(tasks[0].guest[slots::star] == imp.trace.setup.host[2][slots::star]);
  // The MMIO exit and the interrupted KVM_RUN return through their syscall exits; the VMM
  // thread's poll returns twice (the first fires the notifier); no probable return is needed.
  CHECK(imp.stats.returns == 5);
  CHECK(imp.stats.probable_returns == 0);
  auto p = parse_replay(imp.replay);
  CHECK(p.ok());
  CHECK(p.trace.events == imp.trace.events);
}

TEST_CASE("golden scenario: user-return reproduces every msr:write_msr line", "[import][golden]") {
  auto imp = import_trace(fixture("golden_scenario.txt"));
  auto gt = check_ground_truth(imp);
  INFO(imp.replay);
  INFO(gt.block);
  CHECK(gt.run.violations == 0);
  CHECK(gt.run.ignored == 0);
  CHECK(gt.run.wrmsr == 18);
  CHECK(gt.run.writes.empty());  // the check compared them as they were made, keeping none
  {
    run_options o;
    o.record_writes = true;
    CHECK(issued(imp, run(imp.trace, strategy::user_return, o)) == traced(imp));
  }
  CHECK(gt.comparison.exact());
  CHECK(gt.comparison.unexplained() == 0);
  CHECK(gt.comparison.actual == 18);
  CHECK(gt.comparison.predicted == 18);
  REQUIRE(gt.comparison.rows.size() == 2);
  CHECK(gt.comparison.rows[0].msr == uret::msrs::lstar);
  CHECK(gt.comparison.rows[0].actual == 9);
  CHECK(gt.comparison.rows[1].msr == uret::msrs::tsc_aux);
  CHECK(gt.comparison.rows[1].predicted == 9);
  CHECK(gt.block.find("difference: none") != std::string::npos);
  std::cout << gt.block;

  SECTION("the same from the replay text") {
    auto p = parse_replay(imp.replay);
    REQUIRE(p.ok());
    run_options o;
    o.record_writes = true;
    auto r = run(p.trace, strategy::user_return, o);
    CHECK(issued(imp, r) == traced(imp));
  }
  SECTION("the same with the switch heuristic off (the trace records syscall returns)") {
    import_options o;
    o.switch_to_user_task_returns = false;
    auto imp2 = import_trace(fixture("golden_scenario.txt"), o);
    auto gt2 = check_ground_truth(imp2);
    CHECK(gt2.comparison.exact());
  }
}

TEST_CASE("golden scenario: the comparison tells strategies and broken traces apart",
          "[import][golden]") {
  const auto text = fixture("golden_scenario.txt");
  SECTION("eager writes on every entry and exit: unexplained differences") {
    auto gt = check_ground_truth(import_trace(text), strategy::eager);
    CHECK_FALSE(gt.comparison.exact());
    CHECK(gt.comparison.unexplained() > 0);
    CHECK(gt.comparison.predicted > gt.comparison.actual);
  }
  SECTION("a write missing from the trace is an unexplained difference") {
    auto edited = text;
    const std::string gone =
        "        CPU 0/KVM-4321 [002] d..1.  1000.004221: write_msr: c0000103, value 0\n";
    const auto at = edited.find(gone);
    REQUIRE(at != std::string::npos);
    edited.erase(at, gone.size());
    auto gt = check_ground_truth(import_trace(edited));
    CHECK_FALSE(gt.comparison.exact());
    CHECK(gt.comparison.unexplained() == 1);  // predicted, not traced
    CHECK(gt.block.find("unexplained     CPU 2  +1/-0") != std::string::npos);
  }
  SECTION("a changed host value is explained as such") {
    auto edited = text;
    const std::string from = "c0000103, value 2\n";
    const auto at = edited.rfind(from);
    REQUIRE(at != std::string::npos);
    edited.replace(at, from.size(), "c0000103, value 5\n");
    auto imp = import_trace(edited);
    CHECK(imp.stats.host_value_changes == 1);
    auto gt = check_ground_truth(imp);
    CHECK_FALSE(gt.comparison.exact());
    CHECK(gt.comparison.unexplained() == 0);
    CHECK(gt.block.find("explained by value changed: +1/-1") != std::string::npos);
  }
  SECTION("lost events: the differences they cause are explained by the gap") {
    auto lost = text;
    const std::string marker = "        CPU 0/KVM-4321 [002] ....1  1000.003610: kvm_fpu: load\n";
    const auto at = lost.find(marker);
    REQUIRE(at != std::string::npos);
    // Drop the MMIO exit's return and restore (lines 52-57 of the fixture), then say so.
    const auto from = lost.rfind("kvm_fpu: unload", at);
    const auto begin = lost.rfind('\n', from) + 1;
    lost.replace(begin, at - begin, "CPU:2 [LOST 7 EVENTS]\n");
    auto imp = import_trace(lost);
    CHECK(imp.stats.gaps == 1);
    auto gt = check_ground_truth(imp);
    INFO(gt.block);
    // After the gap the state is taken from the trace again: the next KVM_RUN's writes show
    // which MSRs KVM had to load (the lost return restored them), so each recorded write is
    // predicted; the verdict still says the trace is incomplete.
    CHECK(gt.comparison.exact());
    CHECK(gt.block.find("verdict: trace incomplete (1 gap), prediction exact") !=
          std::string::npos);
  }
}

TEST_CASE("a generated 100k-line trace: import time (printed) and exact ground truth",
          "[import][speed]") {
  const std::string text = generate_kvm_trace(100'000);
  const auto t0 = std::chrono::steady_clock::now();
  auto imp = import_trace(text);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  CHECK(imp.stats.lines >= 100'000);
  CHECK(imp.stats.unparsed == 0);
  CHECK(imp.stats.gaps == 0);
  std::cout << "import of a generated trace: " << imp.stats.lines << " lines, "
            << text.size() / 1024 << " KiB, " << imp.trace.events.size() << " events in " << s * 1e3
            << " ms (" << static_cast<double>(imp.stats.lines) / s / 1e6 << " M lines/s)"
#ifdef __OPTIMIZE__
            << "\n";
#else
            << " [unoptimised build; an optimised one: uret-sim import --stats]\n";
#endif
  auto gt = check_ground_truth(imp);
  CHECK(gt.run.violations == 0);
  CHECK(gt.comparison.exact());
  CHECK(gt.comparison.actual == imp.stats.msr_writes);
}
