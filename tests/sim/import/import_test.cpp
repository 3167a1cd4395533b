// SPDX-License-Identifier: MIT
// The trace importer (uret/sim/import.hpp) on one small fixture per grammar and payload
// variant: the events it writes, the tasks and kinds it declares, gaps, unparsed lines, and the
// mapping options.
#include "uret/sim/import.hpp"

#include <catch2/catch.hpp>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "fixture.hpp"
#include "uret/sim/replay.hpp"
#include "uret/sim/simulator.hpp"

namespace {

using uret_import_test::fixture;

/// The events of an import as replay lines (no comments).
std::vector<std::string> events(const uret::sim::imported_trace& imp) {
  std::vector<std::string> out;
  for (const auto& e : imp.trace.events) out.push_back(uret::sim::format_event(e, imp.trace.setup));
  return out;
}

uret::sim::imported_trace import_fixture(const std::string& name,
                                         const uret::sim::import_options& o = {}) {
  auto imp = uret::sim::import_trace(fixture(name), o);
  INFO(imp.replay);
  CHECK(imp.stats.unparsed == 0);
  // The replay text parses back, without errors, to the very trace the importer built.
  auto p = uret::sim::parse_replay(imp.replay);
  CHECK(p.ok());
  CHECK(p.trace.events == imp.trace.events);
  CHECK(p.trace.setup.host == imp.trace.setup.host);
  REQUIRE(p.trace.setup.tasks.size() == imp.trace.setup.tasks.size());
  for (std::size_t i = 0; i < p.trace.setup.tasks.size(); ++i) {
    CHECK(p.trace.setup.tasks[i].name == imp.trace.setup.tasks[i].name);
    CHECK(p.trace.setup.tasks[i].kind == imp.trace.setup.tasks[i].kind);
    CHECK(p.trace.setup.tasks[i].cpu == imp.trace.setup.tasks[i].cpu);
    CHECK(p.trace.setup.tasks[i].guest == imp.trace.setup.tasks[i].guest);
  }
  // Every event is possible in the simulator's scheduling state: none is ignored.
  CHECK(uret::sim::run(imp.trace, uret::sim::strategy::user_return).ignored == 0);
  REQUIRE(p.trace.expected.size() == imp.trace.expected.size());
  for (std::size_t i = 0; i < p.trace.expected.size(); ++i) {
    CHECK(p.trace.expected[i].before_event == imp.trace.expected[i].before_event);
    CHECK(p.trace.expected[i].value == imp.trace.expected[i].value);
  }
  return imp;
}

using lines = std::vector<std::string>;

}  // namespace

using uret::sim::task_kind;

TEST_CASE("ftrace, 4-character flags, pre-5.7 payloads", "[import]") {
  auto imp = import_fixture("ftrace_4flags_old.txt");
  CHECK(events(imp) ==
        lines{"switch 1 qemu-system-x86-4321", "enter 1", "exit 1", "enter 1", "exit 1", "user 1"});
  REQUIRE(imp.trace.setup.tasks.size() == 1);
  CHECK(imp.trace.setup.tasks[0].kind == task_kind::vmx);
  CHECK(imp.tasks[0].comm == "qemu-system-x86");
  CHECK(imp.tasks[0].vcpu_id == 0);
  CHECK(imp.stats.dash_form_lines == 9);
  CHECK(imp.stats.comments == 11);
  CHECK(imp.stats.returns == 1);
}

TEST_CASE("ftrace, 5-character flags, TGID column, [immediate exit], HLT to idle and back",
          "[import]") {
  auto imp = import_fixture("ftrace_5flags_tgid.txt");
  CHECK(events(imp) == lines{"switch 0 CPU_0/KVM-4321", "enter 0", "exit 0", "switch 0 idle",
                             "switch 0 CPU_0/KVM-4321", "enter 0", "exit 0", "enter 0"});
  CHECK(imp.stats.ignored == 1);  // sched_wakeup
  CHECK(imp.stats.returns + imp.stats.probable_returns == 0);
}

TEST_CASE("ftrace, v5.7 payloads: vcpu with info A B, failed VM entry", "[import]") {
  SECTION("VMX: a failed entry is an ordinary exit") {
    auto imp = import_fixture("ftrace_vcpu_info_v57.txt");
    CHECK(events(imp) ==
          lines{"switch 3 CPU_1/KVM-5322", "enter 3", "exit 3", "enter 3", "exit 3"});
    CHECK(imp.tasks[0].vcpu_id == 1);
  }
  SECTION("the vCPU kind set to tdx: a failed entry is an early failure") {
    uret::sim::import_options o;
    o.vcpu_kind = task_kind::tdx;
    auto imp = import_fixture("ftrace_vcpu_info_v57.txt", o);
    CHECK(imp.trace.setup.tasks[0].kind == task_kind::tdx);
    CHECK(events(imp) ==
          lines{"switch 3 CPU_1/KVM-5322", "enter 3", "exit 3", "enter 3", "exit 3 early-fail"});
  }
}

TEST_CASE("trace-cmd report with plugin payloads", "[import]") {
  auto imp = import_fixture("tracecmd_plugin.txt");
  CHECK(imp.trace.setup.cpus == 2);  // from the "cpus=2" header
  CHECK(events(imp) == lines{"switch 1 CPU_1/KVM-4322", "enter 1", "exit 1",
                             "user 1",  // kvm_userspace_exit: the return follows
                             "switch 1 kworker/1:0-57", "switch 1 CPU_1/KVM-4322",
                             "user 1",  // back in user space handling the MMIO: probable
                             "enter 1"});
  CHECK(imp.stats.returns == 1);
  CHECK(imp.stats.probable_returns == 1);
  CHECK(imp.trace.setup.tasks[1].kind == task_kind::kernel);
  CHECK(imp.stats.comments == 2);
}

TEST_CASE("trace-cmd report -N (kernel payloads) maps like the plugin form", "[import]") {
  auto imp = import_fixture("tracecmd_kernel.txt");
  CHECK(imp.trace.setup.cpus == 4);
  CHECK(events(imp) == lines{"switch 2 CPU_1/KVM-4322", "enter 2", "exit 2", "user 2",
                             "switch 2 kworker/2:0-57", "switch 2 CPU_1/KVM-4322", "user 2",
                             "enter 2"});
  CHECK(imp.stats.comments == 3);  // version, "CPU 0 is empty", cpus=
}

TEST_CASE("trace-cmd report with the latency column", "[import]") {
  auto imp = import_fixture("tracecmd_latency.txt");
  CHECK(events(imp) == lines{"switch 0 CPU_0/KVM-4321", "enter 0", "exit 0", "switch 0 idle",
                             "switch 0 CPU_0/KVM-4321", "enter 0"});
}

TEST_CASE("perf script, plugin and kernel payloads, with and without --ns", "[import]") {
  const lines expected{
      "switch 3 CPU_0/KVM-4321", "enter 3", "exit 3", "switch 3 qemu-system-x86-4300", "user 3",
      "switch 3 CPU_0/KVM-4321", "enter 3"};
  for (const char* f : {"perf_plugin.txt", "perf_kernel_ns.txt"}) {
    INFO(f);
    auto imp = import_fixture(f);
    CHECK(events(imp) == expected);
    CHECK(imp.stats.perf_form_lines == 10);
    // msr:write_msr: ground truth, host values after the return, guest values before entry.
    REQUIRE(imp.trace.expected.size() == 4);
    CHECK(imp.trace.expected[0].before_event == 5);
    CHECK(imp.trace.expected[2].before_event == 6);
    CHECK(imp.trace.setup.host[3][uret::sim::slots::lstar] == 0xffffffff9a800080);
    CHECK(imp.trace.setup.host[3][uret::sim::slots::tsc_aux] == 3);
    CHECK(imp.trace.setup.tasks[0].guest[uret::sim::slots::lstar] == 0xffffffff81e00080);
    CHECK(imp.trace.setup.tasks[0].guest[uret::sim::slots::tsc_aux] == 0);
    CHECK(imp.host_from_trace[3] ==
          ((1U << uret::sim::slots::lstar) | (1U << uret::sim::slots::tsc_aux)));
  }
}

TEST_CASE("SVM exit reasons make SVM vCPUs", "[import]") {
  for (const char* f : {"svm_kernel.txt", "svm_plugin.txt"}) {
    INFO(f);
    auto imp = import_fixture(f);
    REQUIRE(imp.trace.setup.tasks.size() == 1);
    CHECK(imp.trace.setup.tasks[0].kind == task_kind::svm);
  }
  auto imp = import_fixture("svm_plugin.txt");
  CHECK(events(imp) == lines{"switch 1 CPU_0/KVM-6101", "enter 1", "exit 1", "enter 1", "exit 1"});
}

TEST_CASE("kvm_userspace_exit: restart, error, named reasons", "[import]") {
  auto imp = import_fixture("userspace_exit_variants.txt");
  // restart (4) and its syscall return; an exit to user space after a triple fault; an
  // error (14) whose return is implied by the next KVM_RUN (the fpu load).
  CHECK(events(imp) ==
        lines{"switch 2 CPU_0/KVM-4321", "user 2", "enter 2", "exit 2", "user 2", "user 2"});
  CHECK(imp.sources.back().line == 16);
}

TEST_CASE("migration: sched_migrate_task, and a thread seen on another CPU", "[import]") {
  auto imp = import_fixture("migrate.txt");
  CHECK(events(imp) == lines{"switch 0 CPU_0/KVM-4321", "enter 0", "exit 0", "switch 0 idle",
                             "migrate CPU_0/KVM-4321 1", "switch 1 CPU_0/KVM-4321", "enter 1",
                             "exit 1", "switch 1 idle", "migrate CPU_0/KVM-4321 0",
                             "switch 0 CPU_0/KVM-4321", "enter 0"});
  CHECK(imp.stats.gaps == 0);
}

TEST_CASE("gaps: lost events, late buffers, impossible transitions", "[import]") {
  auto imp = import_fixture("lost_events.txt");
  // At a gap the vCPU's load period ends (an exit if it was in guest mode, a switch to idle):
  // KVM may have left KVM_RUN meanwhile. Nothing is invalidated: the state is taken from the
  // trace again (an entry with no write before it had the guest values loaded).
  CHECK(events(imp) == lines{"switch 0 CPU_0/KVM-4321", "enter 0", "exit 0",
                             "switch 0 idle",  // CPU:0 [LOST 1234 EVENTS]
                             "switch 0 CPU_0/KVM-4321", "enter 0",
                             "exit 0",  // an exit after the gap: entry synthesised
                             "enter 0",
                             // ##### CPU 1 buffer started ####: nothing ran there yet
                             "switch 1 CPU_1/KVM-4322", "enter 1",
                             "exit 1",  // CPU:1 [12 EVENTS DROPPED]: out of guest mode
                             "switch 1 idle", "switch 1 CPU_1/KVM-4322", "enter 1", "exit 0",
                             "switch 0 idle"});  // a kworker ran on CPU 0
  REQUIRE(imp.gaps.size() == 4);
  CHECK(imp.stats.gaps == 4);
  using gk = uret::sim::gap_kind;
  CHECK(imp.gaps[0].kind == gk::lost_events);
  CHECK(imp.gaps[0].line == 5);
  CHECK(imp.gaps[1].kind == gk::buffer_started);
  CHECK(imp.gaps[2].kind == gk::lost_events);
  CHECK(imp.gaps[3].kind == gk::missed_switch);
  CHECK(imp.gaps[3].event == 14);
  CHECK(imp.sources[3].origin == uret::sim::event_origin::gap_repair);   // switch 0 idle
  CHECK(imp.sources[5].origin == uret::sim::event_origin::gap_repair);   // enter 0
  CHECK(imp.sources[10].origin == uret::sim::event_origin::gap_repair);  // exit 1
  CHECK_FALSE(imp.complete());
}

TEST_CASE("unparsed lines are counted and shown, never fatal", "[import]") {
  uret::sim::import_options o;
  o.unparsed_shown = 3;
  auto imp = uret::sim::import_trace(fixture("unparsed.txt"), o);
  CHECK(imp.stats.lines == 11);
  CHECK(imp.stats.unparsed == 6);
  REQUIRE(imp.stats.first_unparsed.size() == 3);
  CHECK(imp.stats.first_unparsed[0].line == 4);
  CHECK(imp.stats.first_unparsed[0].text == "this line is not a trace line");
  CHECK(imp.stats.first_unparsed[1].line == 5);
  CHECK(imp.stats.ignored == 1);  // kvm_mmio
  // Lines 5 and 7 still name CPU 0: an event of that CPU is missing there (a gap).
  CHECK(events(imp) == lines{"switch 0 CPU_0/KVM-4321", "enter 0", "exit 0", "switch 0 idle",
                             "switch 0 CPU_0/KVM-4321", "enter 0", "exit 0", "switch 0 idle"});
  REQUIRE(imp.gaps.size() == 2);
  CHECK(imp.gaps[0].kind == uret::sim::gap_kind::unparsed_line);
  CHECK(imp.gaps[0].line == 5);
  CHECK(imp.gaps[1].line == 7);
  CHECK(uret::sim::parse_replay(imp.replay).ok());
  const auto summary = uret::sim::format_import_summary(imp, "unparsed.txt");
  CHECK(summary.find("uret-sim import: unparsed.txt: 11 lines, 2 parsed, 1 ignored, 6 unparsed;") ==
        0);
  CHECK(summary.find("  unparsed line 4: this line is not a trace line\n") != std::string::npos);
  CHECK(summary.find("  ... and 3 more unparsed lines\n") != std::string::npos);
}

TEST_CASE("CRLF line ends import like LF", "[import]") {
  auto crlf = fixture("crlf.txt");
  REQUIRE(crlf.find("\r\n") != std::string::npos);
  std::string lf;
  for (char c : crlf) {
    if (c != '\r') lf.push_back(c);
  }
  auto a = import_fixture("crlf.txt");
  auto b = uret::sim::import_trace(lf);
  CHECK(a.trace.events == b.trace.events);
  CHECK(a.stats.unparsed == 0);
  CHECK(events(a) == lines{"switch 0 CPU_0/KVM-4321", "enter 0", "exit 0", "switch 0 idle",
                           "switch 0 CPU_0/KVM-4321", "enter 0"});
}

TEST_CASE("task names and roles; the switch-to-user-task heuristic can be turned off", "[import]") {
  SECTION("heuristic on (default)") {
    auto imp = import_fixture("task_names.txt");
    CHECK(events(imp) == lines{"switch 1 fc_vcpu_0-7001", "enter 1", "exit 1",
                               "switch 1 vhost-7000-7010", "switch 1 iou-wrk-7000-7011",
                               "switch 1 kworker/1:0-57", "switch 1 firecracker-7000",
                               "user 1",  // probable: firecracker goes back to user space
                               "switch 1 fc_vcpu_0-7001", "enter 1"});
    const auto& t = imp.trace.setup.tasks;
    REQUIRE(t.size() == 5);
    CHECK(t[1].kind == task_kind::kernel);  // vhost-*
    CHECK(t[2].kind == task_kind::kernel);  // iou-*
    CHECK(t[3].kind == task_kind::kernel);  // kworker/
    CHECK(t[4].kind == task_kind::user);    // named by sched_switch, traced as <...>
    CHECK(imp.tasks[4].comm == "firecracker");
    CHECK(imp.sources[7].origin == uret::sim::event_origin::probable_return);
    CHECK(imp.stats.probable_returns == 1);
  }
  SECTION("heuristic off") {
    uret::sim::import_options o;
    o.switch_to_user_task_returns = false;
    auto imp = import_fixture("task_names.txt", o);
    CHECK(events(imp) == lines{"switch 1 fc_vcpu_0-7001", "enter 1", "exit 1",
                               "switch 1 vhost-7000-7010", "switch 1 iou-wrk-7000-7011",
                               "switch 1 kworker/1:0-57", "switch 1 firecracker-7000",
                               "switch 1 fc_vcpu_0-7001", "enter 1"});
    CHECK(imp.stats.probable_returns == 0);
  }
  SECTION("extra kernel-thread prefixes") {
    uret::sim::import_options o;
    o.kernel_thread_prefixes = {"firecr"};
    auto imp = import_fixture("task_names.txt", o);
    CHECK(imp.trace.setup.tasks[4].kind == task_kind::kernel);
    CHECK(imp.stats.probable_returns == 0);
  }
}

TEST_CASE("a vCPU already in guest mode when the trace begins", "[import]") {
  const char* text =
      "  CPU 0/KVM-4321 [001] d..1.  1.000100: kvm_exit: vcpu 0 reason HLT rip 0x1 info1 0x0 "
      "info2 0x0 intr_info 0x00000000 error_code 0x00000000\n"
      "  CPU 0/KVM-4321 [001] d..1.  1.000200: kvm_entry: vcpu 0, rip 0x2\n";
  auto imp = uret::sim::import_trace(text);
  CHECK(events(imp) == lines{"switch 1 CPU_0/KVM-4321", "enter 1", "exit 1", "enter 1"});
  CHECK(imp.sources[1].origin == uret::sim::event_origin::trace_start);
  CHECK(imp.stats.synthetic == 1);
  CHECK(imp.stats.gaps == 0);
}

TEST_CASE("guest values without msr:write_msr follow the options", "[import]") {
  using namespace uret::sim;
  auto imp = import_fixture("ftrace_vcpu_info_v57.txt");  // vCPU 1 on CPU 3
  const auto& g = imp.trace.setup.tasks[0].guest;
  const auto& h = imp.trace.setup.host[3];
  CHECK(g[slots::lstar] == guest_default(0, slots::lstar));
  CHECK(g[slots::tsc_aux] == 1);  // the vCPU id, as a Linux guest programs it
  CHECK(g[slots::star] == h[slots::star]);
  CHECK(g[slots::syscall_mask] == h[slots::syscall_mask]);
  import_options o;
  o.differing_msrs = {uret::msrs::star};
  auto imp2 = uret::sim::import_trace(fixture("ftrace_vcpu_info_v57.txt"), o);
  const auto& g2 = imp2.trace.setup.tasks[0].guest;
  CHECK(g2[slots::lstar] == h[slots::lstar]);
  CHECK(g2[slots::tsc_aux] == h[slots::tsc_aux]);
  CHECK(g2[slots::star] != h[slots::star]);
}

TEST_CASE("msr:write_msr of other MSRs and faulted writes are not ground truth", "[import]") {
  const char* text =
      "  CPU 0/KVM-4321 [001] d..1.  1.000100: write_msr: 6e0, value 3a1f2c5e1\n"
      "  CPU 0/KVM-4321 [001] d..1.  1.000110: write_msr: c0000082, value 1 #GP\n"
      "  CPU 0/KVM-4321 [001] d..1.  1.000120: write_msr: c0000082, value ffffffff81e00080\n"
      "  CPU 0/KVM-4321 [001] d..1.  1.000200: kvm_entry: vcpu 0, rip 0x2\n"
      "  CPU 0/KVM-4321 [001] d..1.  1.000300: read_msr: c0000103, value 1001\n";
  auto imp = uret::sim::import_trace(text);
  CHECK(imp.stats.other_msr_writes == 1);
  CHECK(imp.stats.faulted_msr_writes == 1);
  CHECK(imp.stats.msr_writes == 1);
  REQUIRE(imp.trace.expected.size() == 1);
  CHECK(imp.trace.expected[0].value == 0xffffffff81e00080);
  CHECK(imp.trace.setup.host[1][uret::sim::slots::tsc_aux] == 0x1001);  // read at CPU online
}

TEST_CASE("damaged traces (lines dropped and reordered) still give possible events", "[import]") {
  std::vector<std::string> all;
  for (const char* f : {"golden_scenario.txt", "lost_events.txt", "migrate.txt", "task_names.txt",
                        "tracecmd_plugin.txt", "perf_plugin.txt", "userspace_exit_variants.txt",
                        "ftrace_5flags_tgid.txt"}) {
    std::istringstream in(fixture(f));
    for (std::string l; std::getline(in, l);) all.push_back(l);
  }
  for (unsigned seed = 1; seed <= 200; ++seed) {
    std::mt19937 rng(seed);
    std::vector<std::string> v;
    for (const auto& l : all) {
      if (rng() % 10 != 0) v.push_back(l);
    }
    for (std::size_t i = 0; i + 1 < v.size(); ++i) {
      if (rng() % 15 == 0) std::swap(v[i], v[i + 1]);
    }
    std::string text;
    for (const auto& l : v) text += l + "\n";
    const auto imp = uret::sim::import_trace(text);
    const auto r = uret::sim::run(imp.trace, uret::sim::strategy::user_return);
    INFO("seed " << seed);
    CHECK(r.ignored == 0);
    CHECK(r.violations == 0);
  }
}
