// SPDX-License-Identifier: MIT
// The text grammar of kernel traces (uret/sim/import/detail/parse.hpp): the common line of
// ftrace, trace-cmd report and perf script, and every payload variant the importer reads.
#include "uret/sim/import/detail/parse.hpp"

#include <catch2/catch.hpp>
#include <string_view>

using namespace uret::sim::detail;
using namespace std::string_view_literals;

TEST_CASE("the common line of ftrace, trace-cmd and perf script", "[import_parse]") {
  trace_line t;
  SECTION("ftrace, 4-character flags") {
    REQUIRE(
        parse_trace_line(" qemu-system-x86-4321  [001] d...  3120.000100: kvm_entry: vcpu 0", t));
    CHECK(t.comm == "qemu-system-x86");
    CHECK(t.tid == 4321);
    CHECK(t.cpu == 1);
    CHECK(t.flags_column);
    CHECK_FALSE(t.tgid_column);
    CHECK(t.form == line_form::comm_dash_tid);
    CHECK(t.system.empty());
    CHECK(t.event == "kvm_entry");
    CHECK(t.payload == "vcpu 0");
  }
  SECTION("ftrace, 5-character flags and the TGID column") {
    REQUIRE(
        parse_trace_line("       CPU 0/KVM-4321    (   4300) [000] d..1.  6120.000100: "
                         "kvm_entry: vcpu 0, rip 0xffffffff81c3e5f4",
                         t));
    CHECK(t.comm == "CPU 0/KVM");
    CHECK(t.tid == 4321);
    CHECK(t.tgid_column);
    CHECK(t.flags_column);
    REQUIRE(parse_trace_line(
        "          <idle>-0       (-------) [003] dNh2.  61.5: sched_wakeup: x", t));
    CHECK(t.comm == "<idle>");
    CHECK(t.tid == 0);
    CHECK(t.cpu == 3);
  }
  SECTION("trace-cmd report, padded event names, no flags") {
    REQUIRE(
        parse_trace_line("     kworker/1:0-57    [001]  7120.000400: sched_switch:         "
                         "kworker/1:0:57 [120] D ==> CPU 1/KVM:4322 [120]",
                         t));
    CHECK(t.comm == "kworker/1:0");
    CHECK(t.tid == 57);
    CHECK_FALSE(t.flags_column);
    CHECK(t.event == "sched_switch");
    CHECK(t.payload == "kworker/1:0:57 [120] D ==> CPU 1/KVM:4322 [120]");
  }
  SECTION("task names with dashes, spaces and unknown names") {
    REQUIRE(parse_trace_line("      vhost-7000-7010   [001] d..2.  100.0004: sched_switch: p", t));
    CHECK(t.comm == "vhost-7000");
    CHECK(t.tid == 7010);
    REQUIRE(parse_trace_line("      fc_vcpu 0-7001    [001] d..1.  100.0001: kvm_exit: p", t));
    CHECK(t.comm == "fc_vcpu 0");
    REQUIRE(parse_trace_line("           <...>-7000   [001] d..2.  100.0007: sched_switch: p", t));
    CHECK(t.comm == "<...>");
    CHECK(t.tid == 7000);
  }
  SECTION("perf script: comm tid, with or without --ns, with pid/tid, system:event") {
    REQUIRE(
        parse_trace_line("       CPU 0/KVM  4321 [003]  8120.000100:          kvm:kvm_entry: "
                         "vcpu 0 rip 0xffffffff81c3e5f4",
                         t));
    CHECK(t.form == line_form::comm_space_tid);
    CHECK(t.comm == "CPU 0/KVM");
    CHECK(t.tid == 4321);
    CHECK(t.cpu == 3);
    CHECK(t.system == "kvm");
    CHECK(t.event == "kvm_entry");
    REQUIRE(
        parse_trace_line("       CPU 0/KVM  4300/4321 [003]  8120.000100123: "
                         "raw_syscalls:sys_exit: NR 16 = 0",
                         t));
    CHECK(t.comm == "CPU 0/KVM");
    CHECK(t.tid == 4321);
    CHECK(t.system == "raw_syscalls");
    CHECK(t.event == "sys_exit");
    CHECK(t.payload == "NR 16 = 0");
    REQUIRE(parse_trace_line("swapper     0 [002]  9.000001: sched:sched_switch: x", t));
    CHECK(t.comm == "swapper");
    CHECK(t.tid == 0);
  }
  SECTION("a '[digits]' inside a task name does not confuse the anchor") {
    REQUIRE(parse_trace_line("  odd [7] name-99  [002] ....  1.5: kvm_fpu: load", t));
    CHECK(t.comm == "odd [7] name");
    CHECK(t.tid == 99);
    CHECK(t.cpu == 2);
  }
  SECTION("not event lines") {
    CHECK_FALSE(parse_trace_line("# tracer: nop", t));
    CHECK_FALSE(parse_trace_line(" => __schedule", t));
    CHECK_FALSE(parse_trace_line("cpus=4", t));
    CHECK_FALSE(parse_trace_line("qemu 4321 1234.5: kvm:kvm_entry: vcpu 0", t));  // no CPU column
    CHECK_FALSE(parse_trace_line("  qemu-4321 [001] ....  notatime: kvm_entry: vcpu 0", t));
  }
}

TEST_CASE("lost-event markers", "[import_parse]") {
  std::uint32_t cpu = 99;
  CHECK(parse_lost_line("CPU:3 [LOST 1234 EVENTS]", cpu));
  CHECK(cpu == 3);
  CHECK(parse_lost_line("CPU:1 [12 EVENTS DROPPED]", cpu));
  CHECK(cpu == 1);
  CHECK(parse_lost_line("##### CPU 2 buffer started ####", cpu));
  CHECK(cpu == 2);
  CHECK_FALSE(parse_lost_line("CPU 0 is empty", cpu));
  CHECK_FALSE(parse_lost_line("# tracer: nop", cpu));
}

TEST_CASE("kvm_entry payloads", "[import_parse]") {
  kvm_entry_payload e;
  REQUIRE(parse_kvm_entry("vcpu 0", e));  // before v5.7
  CHECK(e.vcpu == 0);
  REQUIRE(parse_kvm_entry("vcpu 3, rip 0xffffffff81c3e5f4", e));
  CHECK(e.vcpu == 3);
  CHECK_FALSE(e.immediate_exit);
  REQUIRE(parse_kvm_entry("vcpu 1, rip 0xffffffff81c3e5f5[immediate exit]", e));
  CHECK(e.immediate_exit);
  REQUIRE(parse_kvm_entry("vcpu 1 rip 0xffffffff81c3e5f4 native_safe_halt+0x4", e));  // plugin
  CHECK(e.vcpu == 1);
  CHECK_FALSE(parse_kvm_entry("something else", e));
}

TEST_CASE("kvm_exit payloads of every kernel version and the plugin", "[import_parse]") {
  kvm_exit_payload e;
  SECTION("to v5.6: no vcpu, info A B") {
    REQUIRE(parse_kvm_exit("reason EXTERNAL_INTERRUPT rip 0xffffffff8104f2e6 info 0 800000ef", e));
    CHECK(e.vcpu == -1);
    CHECK(e.reason == "EXTERNAL_INTERRUPT");
    CHECK_FALSE(e.svm);
  }
  SECTION("v5.7: vcpu and info A B") {
    REQUIRE(parse_kvm_exit("vcpu 1 reason EPT_VIOLATION rip 0xffffffff8104f2e6 info 181 0", e));
    CHECK(e.vcpu == 1);
    CHECK(e.reason == "EPT_VIOLATION");
  }
  SECTION("v5.10+: info1 info2 intr_info error_code") {
    REQUIRE(
        parse_kvm_exit("vcpu 0 reason HLT rip 0xffffffff81c3e5f5 info1 0x0000000000000000 "
                       "info2 0x0000000000000000 intr_info 0x00000000 error_code 0x00000000",
                       e));
    CHECK(e.vcpu == 0);
    CHECK(e.reason == "HLT");
  }
  SECTION("VMX flags after the reason") {
    REQUIRE(parse_kvm_exit("vcpu 1 reason INVALID_STATE FAILED_VMENTRY rip 0xfff0 info 0 0", e));
    CHECK(e.reason == "INVALID_STATE FAILED_VMENTRY");
    CHECK(e.failed_vmentry);
  }
  SECTION("SVM: lower case in the kernel, EXIT_ in the plugin") {
    REQUIRE(
        parse_kvm_exit("vcpu 0 reason npf rip 0xffffffff8147a1b0 info1 0x0000000100000004 "
                       "info2 0x00000000fee00030 intr_info 0x00000000 error_code 0x00000000",
                       e));
    CHECK(e.svm);
    REQUIRE(parse_kvm_exit("reason EXIT_NPF rip 0xffffffff8147a1b0 info 100000004 fee00030", e));
    CHECK(e.svm);
    CHECK(e.vcpu == -1);
  }
  SECTION("plugin: function after the rip, unknown reasons") {
    REQUIRE(
        parse_kvm_exit("reason EPT_MISCONFIG rip 0xffffffff8147a1b0 iowrite32+0x10 info 0 0", e));
    CHECK(e.reason == "EPT_MISCONFIG");
    REQUIRE(parse_kvm_exit("reason UNKNOWN (77) rip 0x1000 info 0 0", e));
    CHECK(e.reason == "UNKNOWN (77)");
  }
  CHECK_FALSE(parse_kvm_exit("vcpu 0 something unexpected", e));
  CHECK_FALSE(parse_kvm_exit("vcpu x reason HLT", e));
}

TEST_CASE("kvm_userspace_exit payloads", "[import_parse]") {
  kvm_userspace_exit_payload u;
  REQUIRE(parse_kvm_userspace_exit("reason KVM_EXIT_MMIO (6)", u));
  CHECK(u.reason == "KVM_EXIT_MMIO");
  CHECK(u.code == 6);
  REQUIRE(parse_kvm_userspace_exit("reason restart (4)", u));
  CHECK(u.reason == "restart");
  REQUIRE(parse_kvm_userspace_exit("reason error (14)", u));
  CHECK(u.code == 14);
  REQUIRE(parse_kvm_userspace_exit("reason 0x1c (28)", u));
  CHECK_FALSE(parse_kvm_userspace_exit("reason KVM_EXIT_MMIO", u));
}

TEST_CASE("kvm_fpu, sys_exit and msr payloads", "[import_parse]") {
  bool load = false;
  CHECK(parse_kvm_fpu("load", load));
  CHECK(load);
  CHECK(parse_kvm_fpu("unload", load));
  CHECK_FALSE(load);
  CHECK_FALSE(parse_kvm_fpu("maybe", load));

  CHECK(parse_sys_exit("NR 16 = 0"));
  CHECK(parse_sys_exit("NR 16 = -4"));
  CHECK(parse_sys_exit("0x1"));  // syscalls:sys_exit_ppoll
  CHECK_FALSE(parse_sys_exit("garbage"));

  msr_payload m;
  REQUIRE(parse_msr_access("c0000082, value ffffffff9a800080", m));
  CHECK(m.msr == 0xc0000082);
  CHECK(m.value == 0xffffffff9a800080);
  CHECK_FALSE(m.faulted);
  REQUIRE(parse_msr_access("c0000103, value 3 #GP", m));
  CHECK(m.faulted);
  CHECK(m.value == 3);
  CHECK_FALSE(parse_msr_access("c0000082 value ffffffff81e00080", m));
}

TEST_CASE("sched_switch: kernel and plugin forms", "[import_parse]") {
  sched_switch_payload s;
  SECTION("kernel form with spaces in names") {
    REQUIRE(
        parse_sched_switch("prev_comm=CPU 0/KVM prev_pid=4321 prev_prio=120 prev_state=R+ ==> "
                           "next_comm=qemu-system-x86 next_pid=4300 next_prio=120",
                           s));
    CHECK(s.prev_comm == "CPU 0/KVM");
    CHECK(s.prev_tid == 4321);
    CHECK(s.prev_state == "R+");
    CHECK(s.next_comm == "qemu-system-x86");
    CHECK(s.next_tid == 4300);
  }
  SECTION("plugin form with colons in names") {
    REQUIRE(parse_sched_switch("kworker/1:0:57 [120] D ==> CPU 1/KVM:4322 [120]", s));
    CHECK(s.prev_comm == "kworker/1:0");
    CHECK(s.prev_tid == 57);
    CHECK(s.prev_state == "D");
    CHECK(s.next_comm == "CPU 1/KVM");
    CHECK(s.next_tid == 4322);
    REQUIRE(parse_sched_switch("swapper/0:0 [120] R ==> fc_vcpu 0:7001 [120]", s));
    CHECK(s.next_comm == "fc_vcpu 0");
  }
  CHECK_FALSE(parse_sched_switch("prev_comm=CPU 0/KVM prev_pid=4321 ==>", s));
  CHECK_FALSE(parse_sched_switch("no arrow here", s));
}

TEST_CASE("sched_migrate_task", "[import_parse]") {
  sched_migrate_payload m;
  REQUIRE(parse_sched_migrate("comm=CPU 0/KVM pid=4321 prio=120 orig_cpu=0 dest_cpu=1", m));
  CHECK(m.comm == "CPU 0/KVM");
  CHECK(m.tid == 4321);
  CHECK(m.orig_cpu == 0);
  CHECK(m.dest_cpu == 1);
  CHECK_FALSE(parse_sched_migrate("comm=x pid=1", m));
}
