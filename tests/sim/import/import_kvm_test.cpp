// SPDX-License-Identifier: MIT
// tests/sim/import/import_kvm_test.cpp - real KVM recordings (SVM under QEMU TCG, Debian 6.1 and
// 6.12: tests/kvm) and hand-written VMX-host patterns: the user-return prediction must equal the
// recorded msr:write_msr writes exactly, with no gap and no heuristic, and the writes KVM makes for
// other reasons must be recognised.
#include <catch2/catch.hpp>
#include <string>

#include "fixture.hpp"
#include "uret/sim/import.hpp"

namespace sim = uret::sim;
using uret_import_test::fixture;

namespace {

struct checked {
  sim::imported_trace imp;
  sim::ground_truth_check gt;
};

checked check(const std::string& name, const sim::import_options& o = {}) {
  checked c{sim::import_trace(fixture(name), o), {}};
  c.gt = sim::check_ground_truth(c.imp);
  return c;
}

std::size_t count_writes(const sim::imported_trace& imp, std::uint32_t cpu) {
  std::size_t n = 0;
  for (const auto& w : imp.trace.expected) n += w.cpu == cpu ? 1 : 0;
  return n;
}

bool only_tsc_aux(const sim::imported_trace& imp) {
  return imp.user_return_msrs.size() == 1 && imp.user_return_msrs[0] == uret::msrs::tsc_aux;
}

}  // namespace

TEST_CASE("real KVM, 6.12 guest-wrmsr: the guest's own WRMSR to TSC_AUX is predicted") {
  auto c = check("kvm_svm_6_12_guest_wrmsr.txt");
  CHECK(only_tsc_aux(c.imp));
  CHECK(c.imp.gaps.empty());
  CHECK(c.imp.stats.probable_returns == 0);
  CHECK(c.imp.stats.guest_value_events > 0);  // svm_set_msr() -> kvm_set_user_return_msr()
  CHECK(count_writes(c.imp, 1) == c.imp.trace.expected.size());
  CHECK(c.imp.trace.expected.size() == 29);  // the write_msr lines of the fixture
  INFO(c.gt.block);
  CHECK(c.gt.comparison.exact());
  CHECK(c.gt.comparison.predicted == c.gt.comparison.actual);
  CHECK(c.gt.block.find("verdict: trace complete (no gap), prediction exact") != std::string::npos);
}

TEST_CASE("real KVM, 6.1 preempt-user: the restore runs in the task that preempted the vCPU") {
  auto c = check("kvm_svm_6_1_preempt_user.txt");
  CHECK(only_tsc_aux(c.imp));
  CHECK(c.imp.gaps.empty());
  CHECK(c.imp.stats.probable_returns == 0);
  CHECK(c.imp.stats.confirmed_returns > 0);  // a switched-in user task's first record: a restore
  INFO(c.gt.block);
  CHECK(c.gt.comparison.exact());
  CHECK(c.gt.comparison.actual == 20);
}

TEST_CASE("real KVM, 6.12 cpu-offline: the offline restore and EFER.SVME are recognised") {
  auto c = check("kvm_svm_6_12_cpu_offline.txt");
  CHECK(only_tsc_aux(c.imp));
  CHECK(c.imp.gaps.empty());
  CHECK(c.imp.stats.probable_returns == 0);
  std::size_t svme = 0;
  for (const auto& w : c.imp.other_writes) {
    CHECK(w.msr == uret::msrs::efer);
    svme += (w.reason == sim::other_write_reason::svm_disable ||
             w.reason == sim::other_write_reason::svm_enable)
                ? 1
                : 0;
  }
  CHECK(svme == c.imp.other_writes.size());
  CHECK(svme >= 1);
  INFO(c.gt.block);
  CHECK(c.gt.comparison.exact());
}

TEST_CASE("real KVM, 6.1 cpu-offline: the hotplug the kernel cannot trace is proven by the trace") {
  // KVM's CPU callbacks run where tracepoints are off on 6.1: after CPU 1 comes back, the vCPU
  // thread returns to user mode there with no restore, which KVM's cache (guest value 0x30 by
  // the last recorded write) would have needed.
  auto c = check("kvm_svm_6_1_cpu_offline.txt");
  CHECK(only_tsc_aux(c.imp));
  CHECK(c.imp.gaps.empty());
  CHECK(c.imp.stats.probable_returns == 0);
  CHECK(c.imp.stats.untraced_hotplugs == 1);
  INFO(c.gt.block);
  CHECK(c.gt.comparison.exact());
  CHECK(c.gt.comparison.actual == 11);
  CHECK(c.gt.comparison.unrecordable == 1);
  CHECK(c.gt.comparison.unrecordable_line == 374);
}

TEST_CASE("real KVM, 6.1: a syscall exit preempted before it reaches user mode fires nothing") {
  auto c = check("kvm_svm_6_1_cpu_offline_preempted_return.txt");
  CHECK(c.imp.gaps.empty());
  CHECK(c.imp.stats.probable_returns == 0);
  CHECK(c.imp.stats.interrupted_returns >= 1);
  INFO(c.gt.block);
  CHECK(c.gt.comparison.exact());
  CHECK(c.gt.comparison.actual == 13);
}

TEST_CASE("VMX pattern: records under the previous task right after sched_switch are no gap") {
  auto c = check("vmx_prev_task_records.txt");
  CHECK(c.imp.gaps.empty());
  CHECK(c.imp.stats.probable_returns == 0);
  INFO(c.imp.replay);
  INFO(c.gt.block);
  CHECK(c.gt.comparison.exact());
  CHECK(c.gt.comparison.actual == 8);
}

TEST_CASE("VMX pattern: reads and writes of other MSRs never create a gap") {
  auto c = check("vmx_other_msrs.txt");
  CHECK(c.imp.gaps.empty());
  CHECK(c.imp.stats.other_msr_writes == 2);
  INFO(c.gt.block);
  CHECK(c.gt.comparison.exact());
  CHECK(c.gt.comparison.actual == 4);
}

TEST_CASE("VMX pattern: after a real gap the state is taken from the trace again") {
  auto c = check("vmx_gap_resync.txt");
  REQUIRE(c.imp.gaps.size() == 1);
  CHECK(c.imp.gaps[0].kind == sim::gap_kind::lost_events);
  INFO(c.imp.replay);
  INFO(c.gt.block);
  // The entry after the gap had no write: the guest values were still loaded, so nothing is
  // rewritten (the old importer predicted all seven MSRs there).
  CHECK(c.gt.comparison.exact());
  CHECK(c.gt.comparison.predicted == 6);
  CHECK(c.gt.block.find("verdict: trace incomplete (1 gap), prediction exact") !=
        std::string::npos);
}

TEST_CASE("VMX pattern: a vCPU thread's sys_exit inside KVM_RUN is a gap") {
  auto c = check("vmx_sys_exit_in_run.txt");
  REQUIRE(c.imp.gaps.size() == 1);
  CHECK(c.imp.gaps[0].kind == sim::gap_kind::missed_run_end);
  CHECK(c.imp.gaps[0].line == 12);
}

TEST_CASE("timestamps going backwards on a CPU: reported with the line, a gap there") {
  const std::string t =
      "  qemu-100 [001] .....  10.000100: sys_exit: NR 7 = 1\n"
      "  qemu-100 [001] .....  10.000050: sys_exit: NR 7 = 1\n"
      "  bash-200 [000] .....  10.000060: sys_exit: NR 7 = 1\n";
  const auto imp = sim::import_trace(t);
  REQUIRE(imp.gaps.size() == 1);
  CHECK(imp.gaps[0].kind == sim::gap_kind::time_backwards);
  CHECK(imp.gaps[0].cpu == 1);
  CHECK(imp.gaps[0].line == 2);
  const auto summary = sim::format_import_summary(imp, "t");
  CHECK(summary.find("line 2") != std::string::npos);
}

TEST_CASE("an unparsed line whose CPU is readable is a gap on that CPU") {
  const std::string t =
      "  qemu-100 [001] .....  10.000100: sys_exit: NR 7 = 1\n"
      "  bash-200 [003] .....  10.000200: sched_swi\n"  // cut short
      "  qemu-100 [001] .....  10.000300: sys_exit: NR 7 = 1\n";
  const auto imp = sim::import_trace(t);
  CHECK(imp.stats.unparsed == 1);
  REQUIRE(imp.gaps.size() == 1);
  CHECK(imp.gaps[0].kind == sim::gap_kind::unparsed_line);
  CHECK(imp.gaps[0].cpu == 3);
  CHECK(imp.gaps[0].line == 2);
}

TEST_CASE("unparsed lines are echoed truncated and escaped, at most a few") {
  std::string t;
  for (int i = 0; i < 20; ++i) t += "garbage \x1b[31m" + std::string(5000, 'x') + "\n";
  const auto imp = sim::import_trace(t);
  CHECK(imp.stats.unparsed == 20);
  const auto summary = sim::format_import_summary(imp, "t");
  CHECK(summary.size() < 2000);
  CHECK(summary.find('\x1b') == std::string::npos);
  CHECK(summary.find("\\x1b") != std::string::npos);
  CHECK(summary.find("more unparsed lines") != std::string::npos);
}

TEST_CASE("a trace with no VM entries says so and prices nothing") {
  const std::string t = "  qemu-100 [001] .....  10.000100: sys_exit: NR 7 = 1\n";
  const auto imp = sim::import_trace(t);
  CHECK(imp.stats.entries == 0);
  CHECK(sim::format_import_summary(imp, "t").find("no VM entries") != std::string::npos);
}

TEST_CASE("zero writes are ground truth when the recording says msr:write_msr was recorded") {
  const std::string t =
      "# uret-record: events kvm/kvm_entry kvm/kvm_exit msr/write_msr msr/read_msr\n"
      "  vcpu-100 [000] ....1  10.000100: kvm_fpu: load\n"
      "  vcpu-100 [000] d..1.  10.000200: kvm_entry: vcpu 0, rip 0x1000\n"
      "  vcpu-100 [000] .....  10.000300: kvm_exit: vcpu 0 reason io rip 0x1000 info1 "
      "0x0000000000000000 info2 0x0000000000000000 intr_info 0x00000000\n"
      "  vcpu-100 [000] .....  10.000400: kvm_userspace_exit: reason KVM_EXIT_IO (2)\n"
      "  vcpu-100 [000] .....  10.000500: sys_exit: NR 16 = 0\n";
  const auto imp = sim::import_trace(t);
  CHECK(imp.write_msr_recorded);
  CHECK(imp.has_ground_truth());
  const auto gt = sim::check_ground_truth(imp);
  CHECK(gt.comparison.exact());
  CHECK(gt.comparison.actual == 0);
  const auto without = sim::import_trace(t.substr(t.find('\n') + 1));
  CHECK_FALSE(without.has_ground_truth());
}
