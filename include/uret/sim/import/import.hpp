// SPDX-License-Identifier: MIT
// uret/sim/import/import.hpp - import a real KVM host's trace (ftrace text, `trace-cmd report`,
// `perf script`) as a simulator trace (uret/sim/trace.hpp) and its replay text
// (`uret-replay 1`, docs/replay-format.md), and compare what KVM really wrote (msr:write_msr)
// with what a strategy writes on the same events.
//
// The importer reads the text once, in pieces of any size, in two stages. The first parses each
// line as it comes (the grammars are in uret/sim/import/detail/parse.hpp) into a compact record
// and learns each thread's name and role; at the end of the text the second runs a small
// per-CPU state machine over the records, in order, and emits events. import_trace() keeps it
// all in memory; trace_stream keeps the records and events in temporary files and writes the
// replay as it goes, so its memory does not grow with the trace; it can also keep the events in
// a temporary file for the strategies' runs and the ground-truth check (import/items.hpp). The
// mapping (docs/traces.md explains each rule):
//
//  - kvm_entry / kvm_exit of a thread                -> `enter` / `exit` (the thread is a vCPU);
//  - kvm_userspace_exit of a vCPU thread, and any
//    task's syscall return (raw_syscalls:sys_exit,
//    syscalls:sys_exit_*)                             -> `user` (return to user mode);
//  - sched_switch to the idle task, a kernel thread
//    (kworker/, ksoftirqd/, ..., vhost-*, iou-*), or
//    a vCPU thread that is inside KVM_RUN             -> `switch` only;
//  - sched_switch to any other user task              -> `switch`, then a *probable* `user`
//                                                        (import_options::switch_to_user_task_returns);
//  - sched_migrate_task, or a thread seen on a new
//    CPU                                              -> `migrate`;
//  - lost events, a buffer that started late, or an
//    impossible transition (a thread running on two
//    CPUs, an entry without an exit, an event from a
//    thread that was not running)                     -> `unknown` on that CPU (a gap);
//  - msr:write_msr of a user-return MSR               -> `expect-wrmsr` (ground truth); the value
//                                                        is the CPU's host value when written
//                                                        right after a return to user mode, the
//                                                        vCPU's guest value when written before
//                                                        an entry.
//
// Nothing here throws or aborts on bad input: lines that cannot be parsed are counted and a few
// are kept for the report. Standard library only.
#pragma once

#include <cstdio>
#include <string>
#include <string_view>

#include "uret/detail/assert.hpp"
#include "uret/sim/import/detail/importer.hpp"
#include "uret/sim/import/detail/text.hpp"
#include "uret/sim/import/imported_trace.hpp"

namespace uret::sim {

/// Imports the text of a trace (ftrace, trace-cmd report or perf script output; the forms may
/// even be mixed) as a simulator trace and its replay text. Never fails: what cannot be parsed
/// is counted in `stats`.
///
///     uret::sim::import_options o;
///     o.source = "host.trace";
///     uret::sim::imported_trace imp = uret::sim::import_trace(text, o);
///     std::fputs(imp.replay.c_str(), out);                  // uret-replay 1
///     auto r = uret::sim::run(imp.trace, uret::sim::strategy::user_return);
[[nodiscard]] inline imported_trace import_trace(std::string_view text,
                                                 const import_options& options = {}) {
  return detail::trace_importer(options).import_text(text);
}

/// A streaming import: the text is read once, in pieces of any size (a file or a pipe read in
/// chunks), and the replay text is written to a file as it is made. The records and events wait
/// in temporary files, so memory is bounded by the trace's CPUs and tasks, not by its length.
/// The result has no `replay` text and, unless finish() is asked to keep the events in memory,
/// no `trace.events`, `trace.expected`, `sources` or `expected_lines` (their counts are in
/// `stats.events` and `expected_count`; events_kept::in_file keeps them in a temporary file
/// instead). `options` must outlive the object.
///
///     uret::sim::trace_stream s(o);
///     for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, in)) > 0;) s.feed({buf, n});
///     uret::sim::imported_trace imp = s.finish(out);  // the replay is in `out`
class trace_stream {
 public:
  /// `spool_items`: records or events written to or read from a temporary file at a time (the
  /// memory the spools take is about ten times that many items of 40 bytes).
  explicit trace_stream(const import_options& options,
                        std::size_t spool_items = std::size_t{1} << 14)
      : imp_(options, true, spool_items) {}

  /// The records and events are in temporary files (else they could not be created and the
  /// import keeps them in memory).
  [[nodiscard]] bool spooled() const noexcept { return imp_.spooled(); }

  /// The next piece of the text; a line may continue in the next piece. Not after finish().
  void feed(std::string_view text) {
    URET_ASSERT(!finished_, "trace_stream::feed() after finish()");
    imp_.feed(text);
  }

  /// The end of the text: the replay text goes to `replay_out` (nullptr: into
  /// imported_trace::replay, which then grows with the trace); the events are kept as `keep`
  /// says (events_kept::in_file: for visit_items(), run() and check_ground_truth() in memory that
  /// does not grow with the trace). Once per stream: the importer's state is handed over to the
  /// result.
  [[nodiscard]] imported_trace finish(std::FILE* replay_out, events_kept keep = events_kept::none) {
    URET_ASSERT(!finished_, "trace_stream::finish() called twice");
    finished_ = true;
    return imp_.finish_import(replay_out, keep);
  }

 private:
  detail::trace_importer imp_;
  bool finished_ = false;
};

/// The import summary `uret-sim import` and `uret-bench --trace` print (on stderr): one line of
/// counts, then each kept unparsed line with its number.
///
///     uret-sim import: host.trace: 86 lines, 70 parsed, 4 ignored, 0 unparsed; 38 events on 4
///     CPUs, 4 tasks, 0 gaps, 18 expect-wrmsr
[[nodiscard]] inline std::string format_import_summary(const imported_trace& imp,
                                                       std::string_view source) {
  using detail::cat, detail::dec;
  const auto& st = imp.stats;
  std::string o = cat({"uret-sim import: ",
                       source,
                       ": ",
                       dec(st.lines),
                       " lines, ",
                       dec(st.parsed),
                       " parsed, ",
                       dec(st.ignored),
                       " ignored, ",
                       dec(st.unparsed),
                       " unparsed; ",
                       dec(st.events),
                       " events on ",
                       dec(imp.trace.setup.cpus),
                       " CPUs, ",
                       dec(imp.trace.setup.tasks.size()),
                       " tasks, ",
                       dec(st.gaps),
                       " gaps, ",
                       dec(imp.expected_count),
                       " expect-wrmsr\n"});
  if (st.entries == 0) {
    o += "  no VM entries (kvm:kvm_entry) in the trace: nothing to price\n";
  }
  if (!imp.user_return_msrs.empty()) {
    o += "  user-return MSRs:";
    for (const auto m : imp.user_return_msrs) cat(o, {" ", msr_token(m)});
    cat(o, {" (", imp.user_return_basis, ")\n"});
  }
  for (const auto& g : imp.gaps) {
    if (g.kind == gap_kind::time_backwards || g.kind == gap_kind::unparsed_line) {
      cat(o,
          {"  gap on CPU ", dec(g.cpu), " at line ", dec(g.line), ": ", to_string(g.kind), "\n"});
    }
  }
  for (const auto& u : st.first_unparsed) {
    cat(o, {"  unparsed line ", dec(u.line), ": ", u.text, "\n"});
  }
  if (st.unparsed > st.first_unparsed.size()) {
    cat(o, {"  ... and ", dec(st.unparsed - st.first_unparsed.size()), " more unparsed lines\n"});
  }
  return o;
}

}  // namespace uret::sim
