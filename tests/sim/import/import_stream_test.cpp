// SPDX-License-Identifier: MIT
// The streaming importer (uret::sim::trace_stream): on every fixture, fed in pieces of any size
// and with spools of a few items (so the temporary files are written and read back in many
// windows), it writes the same replay text, statistics, gaps and events as import_trace(); a
// look-ahead that reaches its limit is a gap; the probe rule stage 1 applies as lines stream by,
// the EFER rule, and a verdict with explained differences only.
#include <catch2/catch.hpp>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "fixture.hpp"
#include "uret/sim/import.hpp"

namespace {

using uret_import_test::fixture;

/// Everything `f` holds, from its start.
std::string contents(std::FILE* f) {
  std::string s;
  std::rewind(f);
  char buf[4096];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) s.append(buf, n);
  return s;
}

struct streamed {
  uret::sim::imported_trace imp;
  std::string replay;
};

streamed stream(std::string_view text, std::size_t piece, std::size_t spool_items, bool keep_events,
                const uret::sim::import_options& o) {
  uret::sim::trace_stream s(o, spool_items);
  CHECK(s.spooled());
  for (std::size_t at = 0; at < text.size(); at += piece) s.feed(text.substr(at, piece));
  std::FILE* out = std::tmpfile();
  REQUIRE(out != nullptr);
  streamed r{s.finish(out, keep_events), {}};
  r.replay = contents(out);
  std::fclose(out);
  return r;
}

const char* const fixtures[] = {
    "crlf.txt",
    "ftrace_4flags_old.txt",
    "ftrace_5flags_tgid.txt",
    "ftrace_vcpu_info_v57.txt",
    "golden_scenario.txt",
    "kvm_svm_6_12_cpu_offline.txt",
    "kvm_svm_6_12_guest_wrmsr.txt",
    "kvm_svm_6_1_cpu_offline.txt",
    "kvm_svm_6_1_cpu_offline_preempted_return.txt",
    "kvm_svm_6_1_preempt_user.txt",
    "lost_events.txt",
    "migrate.txt",
    "perf_kernel_ns.txt",
    "perf_plugin.txt",
    "svm_kernel.txt",
    "svm_plugin.txt",
    "task_names.txt",
    "tracecmd_kernel.txt",
    "tracecmd_latency.txt",
    "tracecmd_plugin.txt",
    "unparsed.txt",
    "userspace_exit_variants.txt",
    "vmx_gap_resync.txt",
    "vmx_other_msrs.txt",
    "vmx_prev_task_records.txt",
    "vmx_sys_exit_in_run.txt",
};

}  // namespace

TEST_CASE("import: streamed in pieces, every fixture imports as import_trace() does",
          "[import][stream]") {
  uret::sim::import_options o;
  o.source = "fixture";
  for (const char* name : fixtures) {
    const std::string text = fixture(name);
    const auto whole = uret::sim::import_trace(text, o);
    for (const std::size_t piece : {std::size_t{1}, std::size_t{7}, std::size_t{4096}}) {
      for (const bool keep : {false, true}) {
        INFO(name << ", pieces of " << piece << " bytes, events kept " << keep);
        const auto s = stream(text, piece, 3, keep, o);
        CHECK(s.replay == whole.replay);
        CHECK(s.imp.replay.empty());
        CHECK_FALSE(s.imp.io_failed);
        CHECK(s.imp.stats.lines == whole.stats.lines);
        CHECK(s.imp.stats.parsed == whole.stats.parsed);
        CHECK(s.imp.stats.unparsed == whole.stats.unparsed);
        CHECK(s.imp.stats.events == whole.stats.events);
        CHECK(s.imp.stats.msr_writes == whole.stats.msr_writes);
        CHECK(s.imp.stats.dropped_cpu_events == whole.stats.dropped_cpu_events);
        CHECK(s.imp.expected_count == whole.trace.expected.size());
        CHECK(s.imp.has_ground_truth() == whole.has_ground_truth());
        CHECK(s.imp.user_return_msrs == whole.user_return_msrs);
        REQUIRE(s.imp.gaps.size() == whole.gaps.size());
        for (std::size_t g = 0; g < whole.gaps.size(); ++g) {
          CHECK(s.imp.gaps[g].line == whole.gaps[g].line);
          CHECK(s.imp.gaps[g].event == whole.gaps[g].event);
          CHECK(s.imp.gaps[g].expected == whole.gaps[g].expected);
        }
        REQUIRE(s.imp.value_changes.size() == whole.value_changes.size());
        for (std::size_t v = 0; v < whole.value_changes.size(); ++v) {
          CHECK(s.imp.value_changes[v].after == whole.value_changes[v].after);
        }
        if (keep) {
          CHECK(s.imp.trace.events == whole.trace.events);
          CHECK(s.imp.trace.expected.size() == whole.trace.expected.size());
          CHECK(s.imp.expected_lines == whole.expected_lines);
          CHECK(s.imp.sources.size() == whole.sources.size());
        } else {
          CHECK(s.imp.trace.events.empty());
          CHECK(s.imp.trace.expected.empty());
        }
      }
    }
  }
}

TEST_CASE("import: a look-ahead past import_options::lookahead_records is a gap",
          "[import][stream]") {
  // The syscall exit of a vCPU thread looks ahead for a switch that would show it preempted on
  // its way out; the guest's restore write follows the load's entry two records later.
  const std::string text = fixture("kvm_svm_6_1_preempt_user.txt");
  const auto whole = uret::sim::import_trace(text);
  REQUIRE(whole.gaps.empty());
  uret::sim::import_options o;
  o.lookahead_records = 0;
  const auto cut = uret::sim::import_trace(text, o);
  REQUIRE_FALSE(cut.gaps.empty());
  for (const auto& g : cut.gaps) CHECK(g.kind == uret::sim::gap_kind::lookahead_limit);
  CHECK(uret::sim::to_string(uret::sim::gap_kind::lookahead_limit) == "look-ahead limit reached");
  const auto s = stream(text, 4096, 3, false, o);
  CHECK(s.imp.gaps.size() == cut.gaps.size());
  CHECK(s.replay == cut.replay);
}

// Stage 1 sees the probe (kvm_probe_user_return_msr(): a read, then as that CPU's next MSR
// record the same task's write-back of the value read) as the lines stream by; and stage 2's
// EFER rule tells a virtualization enable (SVME newly set) from a write that keeps it set.
TEST_CASE("import: the probe is one task's read and write-back; EFER keeping SVME set is no enable",
          "[import][stream]") {
  const std::string probe =
      "          insmod-300     [000] .....   10.000100: read_msr: c0000103, value 0\n"
      "          insmod-300     [000] .....   10.000200: write_msr: c0000103, value 0\n";
  const auto probed = uret::sim::import_trace(probe);
  CHECK(probed.user_return_basis == "KVM's probe at module load");
  REQUIRE(probed.other_writes.size() == 1);
  CHECK(probed.other_writes[0].reason == uret::sim::other_write_reason::probe);
  // The same read and write by two tasks: no probe.
  const std::string two_tasks =
      "          insmod-300     [000] .....   10.000100: read_msr: c0000103, value 0\n"
      "          worker-301     [000] .....   10.000200: write_msr: c0000103, value 0\n";
  const auto not_probed = uret::sim::import_trace(two_tasks);
  CHECK(not_probed.user_return_basis != "KVM's probe at module load");
  for (const auto& w : not_probed.other_writes) {
    CHECK(w.reason != uret::sim::other_write_reason::probe);
  }

  const std::string efer =
      "         cpuhp/1-25      [001] .....   15.841884: read_msr: c0000080, value 1d01\n"
      "        qemu-400         [001] .....   15.841969: write_msr: c0000080, value 1d01\n";
  const auto kept_on = uret::sim::import_trace(efer);
  REQUIRE(kept_on.other_writes.size() == 1);
  CHECK(kept_on.other_writes[0].reason == uret::sim::other_write_reason::not_user_return);
  for (const auto& e : kept_on.trace.events) CHECK(e.kind != uret::sim::event_kind::online);
  const std::string enable =
      "         cpuhp/1-25      [001] .....   15.841884: read_msr: c0000080, value d01\n"
      "         cpuhp/1-25      [001] .....   15.841969: write_msr: c0000080, value 1d01\n";
  const auto turned_on = uret::sim::import_trace(enable);
  REQUIRE(turned_on.other_writes.size() == 1);
  CHECK(turned_on.other_writes[0].reason == uret::sim::other_write_reason::svm_enable);
}

TEST_CASE("import: differences that are all explained still make a prediction not exact",
          "[import][stream]") {
  // perf_kernel_ns.txt: two writes differ, each explained (the trace's start); streamed or not.
  const auto imp = uret::sim::import_trace(fixture("perf_kernel_ns.txt"));
  const auto gt = uret::sim::check_ground_truth(imp);
  REQUIRE_FALSE(gt.comparison.differences.empty());
  CHECK(gt.comparison.unexplained() == 0);
  CHECK_FALSE(gt.comparison.exact());
  const std::string verdict = uret::sim::verdict_line(imp, gt.comparison);
  CHECK(verdict.find("prediction not exact") != std::string::npos);
  CHECK(verdict.find("prediction exact") == std::string::npos);
}
