// SPDX-License-Identifier: MIT
// The importer refereed on the details a tired maintainer gets wrong: an empty CPU field, the
// CPU field's digits, a timestamp without a fraction, an empty task name, the restore window
// (each MSR restored once, closed by the next event that is not an MSR access), and TSC_AUX's
// host value, which Linux programs per CPU (setup_getcpu()) and so is never borrowed from
// another CPU.
#include "uret/sim/import.hpp"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "uret/msr.hpp"
#include "uret/sim/replay_writer.hpp"

namespace sim = uret::sim;
namespace detail = uret::sim::detail;

TEST_CASE("importer: the CPU field needs digits, all ten of them", "[import][referee]") {
  detail::trace_line l;
  REQUIRE_FALSE(
      detail::parse_trace_line("  bash-500   [] .....  10.000001: sys_enter: NR 0 (0)", l));
  // An empty bracket pair inside a task name is not the CPU field: the search goes on.
  REQUIRE(
      detail::parse_trace_line("  w[] 5.0: x-9 [003] .....  1000.000100: sys_exit: NR 0 = 0", l));
  REQUIRE(l.cpu == 3);
  REQUIRE(l.tid == 9);
  REQUIRE(detail::parse_trace_line("  bash-500   [019] .....  10.000001: sys_enter: NR 0 (0)", l));
  REQUIRE(l.cpu == 19);
  REQUIRE(l.tid == 500);
  REQUIRE(l.comm == "bash");
  REQUIRE(detail::parse_trace_line("  bash-509   [9] 10.5: sys_exit: NR 0 = 0", l));
  REQUIRE(l.cpu == 9);
  REQUIRE(l.tid == 509);
  // A timestamp without a fraction is a timestamp.
  REQUIRE(detail::parse_trace_line("  bash-500   [001]  1000: sys_exit: NR 0 = 0", l));
  REQUIRE(l.cpu == 1);
  REQUIRE(l.event == "sys_exit");
  std::uint64_t v = 7;
  REQUIRE_FALSE(detail::parse_dec("", v));
  REQUIRE(detail::parse_dec("90", v));
  REQUIRE(v == 90);
}

TEST_CASE("importer: an empty or unknown task name becomes 'task'", "[import][referee]") {
  REQUIRE(detail::replay_task_name("", 7) == "task-7");
  REQUIRE(detail::replay_task_name("<...>", 8) == "task-8");
  REQUIRE(detail::replay_task_name("CPU 0/KVM", 9) == "CPU_0/KVM-9");
}

namespace {
// CPU 1 runs a VMX vCPU through one KVM_RUN and its return to user mode; CPU 0 only switches.
const char* const window_trace =
    "# tracer: nop\n"
    "          <idle>-0     [000] d..2.  1000.000050: sched_switch: prev_comm=swapper/0 prev_pid=0 "
    "prev_prio=120 prev_state=R ==> next_comm=bash next_pid=500 next_prio=120\n"
    "        CPU 0/KVM-4321 [001] .....  1000.000100: sys_enter: NR 16 (d, ae80, 0, 0, 0, 0)\n"
    "        CPU 0/KVM-4321 [001] d..1.  1000.000120: write_msr: c0000082, value ffffffff9c600080\n"
    "        CPU 0/KVM-4321 [001] d..1.  1000.000121: write_msr: c0000103, value 0\n"
    "        CPU 0/KVM-4321 [001] d..1.  1000.000130: kvm_entry: vcpu 0, rip 0xffffffff9d2f14a6\n"
    "        CPU 0/KVM-4321 [001] d..1.  1000.000400: kvm_exit: vcpu 0 reason IO_INSTRUCTION rip "
    "0xffffffff9d458c2a info1 0x0000000003f80008 info2 0x0000000000000000 intr_info 0x00000000 "
    "error_code 0x00000000\n"
    "        CPU 0/KVM-4321 [001] .....  1000.001020: kvm_userspace_exit: reason KVM_EXIT_IO (2)\n"
    "        CPU 0/KVM-4321 [001] .....  1000.001030: sys_exit: NR 16 = 0\n"
    "        CPU 0/KVM-4321 [001] d....  1000.001031: write_msr: c0000082, value ffffffffa7a00080\n"
    "        CPU 0/KVM-4321 [001] d....  1000.001032: write_msr: c0000103, value 1\n"
    "        CPU 0/KVM-4321 [001] d....  1000.001033: write_msr: c0000082, value 1234\n"
    "        CPU 0/KVM-4321 [001] .....  1000.001100: sys_enter: NR 16 (d, ae80, 0, 0, 0, 0)\n"
    "        CPU 0/KVM-4321 [001] d..1.  1000.001120: write_msr: c0000084, value 4700\n";
}  // namespace

TEST_CASE("importer: the restore window takes each MSR once and closes at the next event",
          "[import][referee]") {
  const sim::imported_trace imp = sim::import_trace(window_trace);
  INFO(imp.replay);
  REQUIRE(imp.trace.setup.cpus == 2);
  const auto& host1 = imp.trace.setup.host[1];
  // The restore wrote LSTAR and TSC_AUX: those are CPU 1's host values.
  REQUIRE(host1[sim::slots::lstar] == 0xffffffffa7a00080);
  REQUIRE(host1[sim::slots::tsc_aux] == 1);
  // The second LSTAR write of the window is no restore: no host value changed.
  REQUIRE(imp.stats.host_value_changes == 0);
  // The write after sys_enter is outside the window: SYSCALL_MASK's host value stays Linux's.
  REQUIRE(host1[sim::slots::syscall_mask] == sim::host_default(1, sim::slots::syscall_mask));
}

TEST_CASE("importer: TSC_AUX's host value is per CPU, the others are shared", "[import][referee]") {
  const sim::imported_trace imp = sim::import_trace(window_trace);
  const auto& host0 = imp.trace.setup.host[0];
  REQUIRE(host0[sim::slots::lstar] == 0xffffffffa7a00080);  // learnt on CPU 1, alike everywhere
  REQUIRE(host0[sim::slots::tsc_aux] == sim::host_default(0, sim::slots::tsc_aux));
}

TEST_CASE("importer: a syscall after the return closes the restore window", "[import][referee]") {
  const char* const text =
      "# tracer: nop\n"
      "        CPU 0/KVM-4321 [001] .....  1000.000100: sys_enter: NR 16 (d, ae80, 0, 0, 0, 0)\n"
      "        CPU 0/KVM-4321 [001] d..1.  1000.000120: write_msr: c0000082, value "
      "ffffffff9c600080\n"
      "        CPU 0/KVM-4321 [001] d..1.  1000.000130: kvm_entry: vcpu 0, rip 0xffffffff9d2f14a6\n"
      "        CPU 0/KVM-4321 [001] d..1.  1000.000400: kvm_exit: vcpu 0 reason IO_INSTRUCTION rip "
      "0xffffffff9d458c2a info1 0x0000000003f80008 info2 0x0000000000000000 intr_info 0x00000000 "
      "error_code 0x00000000\n"
      "        CPU 0/KVM-4321 [001] .....  1000.001020: kvm_userspace_exit: reason KVM_EXIT_IO "
      "(2)\n"
      "        CPU 0/KVM-4321 [001] .....  1000.001030: sys_exit: NR 16 = 0\n"
      "        CPU 0/KVM-4321 [001] d....  1000.001031: write_msr: c0000082, value "
      "ffffffffa7a00080\n"
      "        CPU 0/KVM-4321 [001] .....  1000.001040: sys_enter: NR 0 (3, 0, 0, 0, 0, 0)\n"
      "        CPU 0/KVM-4321 [001] d....  1000.001050: write_msr: c0000103, value 77\n";
  const sim::imported_trace imp = sim::import_trace(text);
  INFO(imp.replay);
  REQUIRE(imp.trace.setup.host[1][sim::slots::lstar] == 0xffffffffa7a00080);
  REQUIRE(imp.trace.setup.host[1][sim::slots::tsc_aux] ==
          sim::host_default(1, sim::slots::tsc_aux));
  // The trace has write_msr lines (ground truth) and shows no guest TSC_AUX write: the guest's
  // value needs none, so it is the host's, not an invented one.
  REQUIRE(imp.trace.setup.tasks.size() == 1);
  REQUIRE(imp.trace.setup.tasks[0].guest[sim::slots::tsc_aux] ==
          imp.trace.setup.host[1][sim::slots::tsc_aux]);
  REQUIRE(imp.trace.setup.tasks[0].guest[sim::slots::lstar] == 0xffffffff9c600080);
}

namespace {
// An SVM vCPU thread on CPU 1 blocks in HLT inside KVM_RUN and is switched out for bash. The
// write_msr right after the sched_switch is its own vcpu_put() (a kernel whose svm_vcpu_put()
// writes the host's TSC_AUX back, as Linux 5.10 does): context_switch() runs the preempt
// notifiers (kvm_sched_out()) before __switch_to(), so the record still names the previous task.
const char* const vcpu_put_trace =
    "# tracer: nop\n"
    "        CPU 0/KVM-4321 [001] .....  1000.000100: sys_enter: NR 16 (d, ae80, 0, 0, 0, 0)\n"
    "        CPU 0/KVM-4321 [001] d..1.  1000.000120: write_msr: c0000103, value 0\n"
    "        CPU 0/KVM-4321 [001] d..1.  1000.000130: kvm_entry: vcpu 0, rip 0xffffffff9d2f14a6\n"
    "        CPU 0/KVM-4321 [001] d..1.  1000.000400: kvm_exit: vcpu 0 reason hlt rip "
    "0xffffffff9d2f14a8 info 0 0\n"
    "        CPU 0/KVM-4321 [001] d..2.  1000.000500: sched_switch: prev_comm=CPU 0/KVM "
    "prev_pid=4321 prev_prio=120 prev_state=S ==> next_comm=bash next_pid=500 next_prio=120\n"
    "        CPU 0/KVM-4321 [001] d..2.  1000.000501: write_msr: c0000103, value 1\n"
    "            bash-500   [001] .....  1000.000600: sys_exit: NR 0 = 1\n";
}  // namespace

TEST_CASE(
    "importer: the switched-out task's vcpu_put() write after sched_switch is no return "
    "of that task",
    "[import][referee]") {
  const sim::imported_trace imp = sim::import_trace(vcpu_put_trace);
  INFO(imp.replay);
  // No gap: the record belongs to the switch path, not to a switch the trace missed.
  REQUIRE(imp.stats.gaps == 0);
  REQUIRE(imp.complete());
  REQUIRE(imp.stats.after_switch_records == 1);
  // The vCPU thread never runs again on CPU 1: bash runs from the switch on, and its syscall
  // exit is bash's return to user mode.
  std::vector<std::string> ev;
  for (const auto& e : imp.trace.events) ev.push_back(sim::format_event(e, imp.trace.setup));
  REQUIRE(ev == std::vector<std::string>{"switch 1 CPU_0/KVM-4321", "enter 1", "exit 1",
                                         "switch 1 bash-500", "user 1"});
  // The write is still ground truth (every WRMSR of a user-return MSR is), but it is the host's
  // value put back, not a new guest value of the vCPU.
  REQUIRE(imp.trace.expected.size() == 2);
  REQUIRE(imp.trace.expected[1].cpu == 1);
  REQUIRE(imp.trace.expected[1].msr == uret::msrs::tsc_aux);
  REQUIRE(imp.trace.expected[1].value == 1);
  REQUIRE(imp.stats.guest_value_changes == 0);
  REQUIRE(imp.trace.setup.tasks.size() == 2);
  int vcpus = 0;
  for (const auto& t : imp.trace.setup.tasks) {
    if (t.name != "CPU_0/KVM-4321") continue;
    ++vcpus;
    REQUIRE(t.guest[sim::slots::tsc_aux] == 0);  // the value loaded before the entry
  }
  REQUIRE(vcpus == 1);
}

TEST_CASE("importer: any record that is not an MSR access closes the restore window",
          "[import][referee]") {
  // bash returns from a syscall on CPU 0 and the notifier restores LSTAR. The migration an
  // interrupt then makes there (a wakeup pulling a kworker over) is an event that is not an MSR
  // access: bash's return is over, and a later LSTAR write by bash, which is not in a syscall,
  // is the restore of another return to user mode (one that shows no syscall exit), not the
  // first return writing LSTAR a second time. Its value differs: the host value changed.
  const char* const text =
      "# tracer: nop\n"
      "            bash-500   [000] .....  1000.000100: sys_exit: NR 0 = 0\n"
      "            bash-500   [000] d....  1000.000101: write_msr: c0000082, value "
      "ffffffffa7a00080\n"
      "            bash-500   [000] d.s..  1000.000200: sched_migrate_task: comm=kworker/0:1 "
      "pid=30 prio=120 orig_cpu=1 dest_cpu=0\n"
      "            bash-500   [000] d....  1000.000300: write_msr: c0000082, value "
      "ffffffffa7b00080\n";
  const sim::imported_trace imp = sim::import_trace(text);
  INFO(imp.replay);
  REQUIRE(imp.stats.gaps == 0);
  REQUIRE(imp.stats.returns == 1);            // the syscall exit
  REQUIRE(imp.stats.confirmed_returns == 1);  // the second write shows the second return
  REQUIRE(imp.stats.unclassified_msr_writes == 0);
  REQUIRE(imp.stats.host_value_changes == 1);
  REQUIRE(imp.trace.setup.host[0][sim::slots::lstar] == 0xffffffffa7a00080);
  REQUIRE(imp.trace.expected.size() == 2);
}
