// SPDX-License-Identifier: MIT
// The streaming importer (uret::sim::trace_stream): on every fixture, fed in pieces of any size
// and with spools of a few items (so the temporary files are written and read back in many
// windows), it writes the same replay text, statistics, gaps and events as import_trace(); a
// look-ahead that reaches its limit is a gap; the probe rule stage 1 applies as lines stream by,
// the EFER rule, and a verdict with explained differences only.
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <functional>
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

streamed stream(std::string_view text, std::size_t piece, std::size_t spool_items,
                uret::sim::events_kept keep, const uret::sim::import_options& o) {
  uret::sim::trace_stream s(o, spool_items);
  CHECK(s.spooled());
  for (std::size_t at = 0; at < text.size(); at += piece) s.feed(text.substr(at, piece));
  std::FILE* out = std::tmpfile();
  REQUIRE(out != nullptr);
  streamed r{s.finish(out, keep), {}};
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
      for (const auto keep : {uret::sim::events_kept::none, uret::sim::events_kept::in_memory,
                              uret::sim::events_kept::in_file}) {
        INFO(name << ", pieces of " << piece << " bytes, events kept " << static_cast<int>(keep));
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
        CHECK(s.imp.trace.setup.values == whole.trace.setup.values);
        CHECK(s.imp.exit_reasons == whole.exit_reasons);
        if (keep == uret::sim::events_kept::in_memory) {
          CHECK(s.imp.trace.events == whole.trace.events);
          CHECK(s.imp.trace.expected.size() == whole.trace.expected.size());
          CHECK(s.imp.expected_lines == whole.expected_lines);
          CHECK(s.imp.sources.size() == whole.sources.size());
        } else {
          CHECK(s.imp.trace.events.empty());
          CHECK(s.imp.trace.expected.empty());
        }
        CHECK((s.imp.items != nullptr) == (keep == uret::sim::events_kept::in_file));
        CHECK(uret::sim::has_items(s.imp) ==
              (keep != uret::sim::events_kept::none || whole.trace.events.empty()));
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
  const auto s = stream(text, 4096, 3, uret::sim::events_kept::none, o);
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

// The events a streaming import keeps in its temporary file are read back as import_trace()
// keeps them in memory, any number of times; every strategy's run over them and the ground-truth
// check (made event by event, keeping only what is unmatched) come out as on the trace in memory.
TEST_CASE("import: events kept in a file run and check as the events in memory",
          "[import][stream]") {
  uret::sim::import_options o;
  o.source = "fixture";
  for (const char* name : fixtures) {
    INFO(name);
    const std::string text = fixture(name);
    const auto whole = uret::sim::import_trace(text, o);
    const auto s = stream(text, 4096, 3, uret::sim::events_kept::in_file, o);
    REQUIRE(s.imp.items != nullptr);
    for (int pass = 0; pass < 2; ++pass) {
      std::vector<uret::sim::event> events;
      std::vector<uret::sim::event_source> sources;
      std::vector<uret::sim::expected_wrmsr> writes;
      std::vector<std::size_t> lines;
      const bool ok = uret::sim::visit_items(
          s.imp,
          [&](std::size_t i, const uret::sim::event& e, const uret::sim::event_source& src) {
            CHECK(i == events.size());
            events.push_back(e);
            sources.push_back(src);
          },
          [&](std::size_t x, const uret::sim::expected_wrmsr& w, std::size_t line) {
            CHECK(x == writes.size());
            writes.push_back(w);
            lines.push_back(line);
          });
      CHECK(ok);
      CHECK(events == whole.trace.events);
      REQUIRE(sources.size() == whole.sources.size());
      for (std::size_t i = 0; i < sources.size(); ++i) {
        CHECK(sources[i].line == whole.sources[i].line);
        CHECK(sources[i].origin == whole.sources[i].origin);
        CHECK(sources[i].exit_reason == whole.sources[i].exit_reason);
      }
      REQUIRE(writes.size() == whole.trace.expected.size());
      for (std::size_t x = 0; x < writes.size(); ++x) {
        CHECK(writes[x].before_event == whole.trace.expected[x].before_event);
        CHECK(writes[x].cpu == whole.trace.expected[x].cpu);
        CHECK(writes[x].msr == whole.trace.expected[x].msr);
        CHECK(writes[x].value == whole.trace.expected[x].value);
      }
      CHECK(lines == whole.expected_lines);
    }
    for (const auto st : uret::sim::all_strategies) {
      bool ok = false;
      const auto from_file = uret::sim::run(s.imp, st, {}, &ok);
      const auto in_memory = uret::sim::run(whole.trace, st);
      CHECK(ok);
      CHECK(from_file.wrmsr == in_memory.wrmsr);
      CHECK(from_file.rdmsr == in_memory.rdmsr);
      CHECK(from_file.oracle_wrmsr == in_memory.oracle_wrmsr);
      CHECK(from_file.violations == in_memory.violations);
      CHECK(from_file.events == in_memory.events);
    }
    if (!whole.has_ground_truth()) continue;
    const auto a = uret::sim::check_ground_truth(whole);
    const auto b = uret::sim::check_ground_truth(s.imp);
    CHECK(b.read_ok);
    CHECK(b.block == a.block);
    CHECK(b.comparison.exact() == a.comparison.exact());
    CHECK(b.comparison.differences.size() == a.comparison.differences.size());
    CHECK(b.run.wrmsr == a.run.wrmsr);
  }
}

// The comparer keeps only the writes of the side that is ahead; a side more than max_lag writes
// ahead within a stretch is a difference in order even when the sequences end up equal.
TEST_CASE("import: the ground-truth comparer keeps the lag; past max_lag the lag is a difference",
          "[import][stream]") {
  using namespace uret::sim;
  imported_trace imp;
  imp.trace.setup.cpus = 1;
  const write_record w{1, 0, slots::tsc_aux, 7, true};
  const expected_wrmsr x{2, 0, uret::msrs::tsc_aux, 7};
  auto compare = [&](std::size_t lag, std::size_t writes) {
    ground_truth_comparer cmp(imp);
    cmp.event(0, ev::user(0), {});  // the stretch before the first return is left behind
    cmp.event(1, ev::user(0), {});
    std::size_t traced = 0;
    for (std::size_t i = 0; i < writes; ++i) {
      cmp.predicted(w, {});
      if (i + 1 >= lag) cmp.traced(traced++, x, 0);
    }
    while (traced < writes) cmp.traced(traced++, x, 0);
    return cmp.finish();
  };
  const auto near = compare(1000, 5000);
  CHECK(near.exact());
  CHECK(near.actual == 5000);
  CHECK(near.predicted == 5000);
  const auto far = compare(ground_truth_comparer::max_lag + 2, ground_truth_comparer::max_lag + 10);
  CHECK_FALSE(far.exact());
  REQUIRE(far.differences.size() == 1);
  CHECK(far.differences[0].order_only);
  CHECK(far.differences[0].reason == difference_reason::unexplained);
  // A value that differs: counted per (MSR, value), the rest still matched.
  ground_truth_comparer cmp(imp);
  cmp.event(0, ev::user(0), {});
  for (int i = 0; i < 3; ++i) cmp.predicted(w, {});
  cmp.traced(0, x, 5);
  cmp.traced(1, {1, 0, uret::msrs::tsc_aux, 8}, 6);
  const auto d = cmp.finish();
  REQUIRE(d.differences.size() == 1);
  CHECK(d.differences[0].extra == 2);
  CHECK(d.differences[0].missing == 1);
  CHECK(d.differences[0].first_line == 5);
  CHECK(d.differences[0].last_line == 6);
}

// What explains a stretch's difference, in the comparer's order: the trace's start, a gap at
// either end, a return guessed by the switch heuristic inside it, else nothing.
TEST_CASE("import: the comparer explains a difference by a guessed return inside its stretch",
          "[import][stream]") {
  using namespace uret::sim;
  imported_trace imp;
  imp.trace.setup.cpus = 1;
  const write_record w{2, 0, slots::tsc_aux, 7, true};
  for (const auto origin : {event_origin::probable_return, event_origin::trace}) {
    ground_truth_comparer cmp(imp);
    cmp.event(0, ev::user(0), {});  // the first return: the stretches after it are compared
    cmp.event(1, ev::enter(0), {});
    cmp.event(2, ev::user(0), {3, origin});
    cmp.predicted(w, {3, origin});  // a write the trace does not have
    const auto c = cmp.finish();
    REQUIRE(c.differences.size() == 1);
    CHECK(c.differences[0].extra == 1);
    CHECK(c.differences[0].reason == (origin == event_origin::probable_return
                                          ? difference_reason::probable_return
                                          : difference_reason::unexplained));
    CHECK(c.unexplained() == (origin == event_origin::probable_return ? 0U : 1U));
  }
}

namespace {
// Runs `f` in a child whose stderr comes back; true when it ended by a signal (URET_ASSERT traps)
// after printing `said`.
bool asserts(const std::function<void()>& f, const std::string& said) {
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    dup2(fds[1], 2);
    std::signal(SIGILL, SIG_DFL);  // not the test framework's handler
    std::signal(SIGTRAP, SIG_DFL);
    f();
    std::_Exit(0);
  }
  close(fds[1]);
  std::string out;
  char buf[256];
  for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) > 0;)
    out.append(buf, static_cast<std::size_t>(n));
  close(fds[0]);
  int status = 0;
  REQUIRE(waitpid(child, &status, 0) == child);
  INFO(out);
  return WIFSIGNALED(status) && out.find(said) != std::string::npos;
}
}  // namespace

TEST_CASE("import: the comparer and run() refuse misuse by URET_ASSERT", "[import][stream]") {
  using namespace uret::sim;
  imported_trace imp;
  imp.trace.setup.cpus = 1;
  CHECK(asserts(
      [&] {
        ground_truth_comparer c(imp);
        c.event(1, ev::user(0), {});  // event 0 skipped
      },
      "events in order"));
  CHECK(asserts(
      [&] {
        ground_truth_comparer c(imp);
        c.traced(0, {0, 0, uret::msrs::tsc_aux, 1}, 0);
        c.traced(0, {0, 0, uret::msrs::tsc_aux, 1}, 0);  // the same index twice
      },
      "traced writes in order"));
  CHECK(asserts(
      [&] {
        ground_truth_comparer c(imp);
        static_cast<void>(c.finish());
        static_cast<void>(c.finish());
      },
      "finish() called twice"));
  // A replay-only streaming import keeps no events to run.
  const std::string text = fixture("kvm_svm_6_1_preempt_user.txt");
  const import_options options;  // outlives the stream
  trace_stream s(options);
  s.feed(text);
  std::FILE* out = std::tmpfile();
  REQUIRE(out != nullptr);
  const imported_trace none = s.finish(out, events_kept::none);
  std::fclose(out);
  REQUIRE_FALSE(has_items(none));
  CHECK(asserts([&] { static_cast<void>(run(none, strategy::user_return)); },
                "did not keep its events"));
  CHECK(asserts([&] { static_cast<void>(check_ground_truth(none)); }, "did not keep its events"));
  // The same calls in order pass.
  CHECK_FALSE(asserts(
      [&] {
        ground_truth_comparer c(imp);
        c.event(0, ev::user(0), {});
        static_cast<void>(c.finish());
      },
      "ground_truth_comparer"));
}
