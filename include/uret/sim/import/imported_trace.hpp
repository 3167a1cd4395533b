// SPDX-License-Identifier: MIT
// uret/sim/import/imported_trace.hpp - what an import yields: the options that steer it, the
// simulator trace it builds, and where every event of that trace came from (trace line, gap,
// heuristic). Standard library only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "uret/msr.hpp"
#include "uret/sim/trace.hpp"

namespace uret::sim {

/// How the importer maps a trace. The defaults suit a Linux guest on a Linux host.
struct import_options {
  /// A switch to a user task (not the idle task, not a kernel thread, not a vCPU thread inside
  /// KVM_RUN) counts as a probable return to user mode on that CPU: the task was preempted or
  /// blocked in the kernel and will, in all likelihood, go back to user space before anything
  /// else is traced on that CPU. Turn it off when the trace records every syscall return.
  bool switch_to_user_task_returns = true;
  /// Task-name prefixes that name kernel threads, added to the built-in list (kworker/,
  /// ksoftirqd/, migration/, rcu_, cpuhp/, irq/, vhost-, iou-, ...).
  std::vector<std::string> kernel_thread_prefixes;
  /// The kind of every vCPU, or nullopt to choose per thread: svm when its exit reasons are
  /// SVM's, else vmx. (A trace cannot tell VMX from TDX, nor SVM from SEV-ES.)
  std::optional<task_kind> vcpu_kind;
  /// The MSRs whose msr:write_msr events are ground truth; writes of any other MSR are counted
  /// and ignored. Default: the seven user-return MSRs the simulator models.
  std::vector<msr_index> user_return_msrs{std::begin(slot_msrs), std::end(slot_msrs)};
  /// For a trace without msr:write_msr: the MSRs whose guest value differs from the host's
  /// (a Linux guest on a Linux host: LSTAR and TSC_AUX). Their guest values are the
  /// simulator's defaults (LSTAR guest_default(); TSC_AUX the vCPU id, as a Linux guest
  /// programs it); every other MSR gets the host's value. Ignored for MSRs the trace wrote.
  std::vector<msr_index> differing_msrs = {msrs::lstar, msrs::tsc_aux};
  /// How many unparsed lines the statistics keep, verbatim, for the report.
  std::size_t unparsed_shown = 5;
  /// Name of the input, written into the replay's comments.
  std::string source = "trace";
  /// Append "# line N" to every event of the replay text (the trace line it came from).
  bool line_comments = true;
};

/// A line the importer could not parse: its number (from 1) and text.
struct unparsed_line {
  std::size_t line = 0;
  std::string text;
};

/// Why the importer marked a CPU's MSR values unknown.
enum class gap_kind : std::uint8_t {
  lost_events,       ///< "CPU:N [LOST n EVENTS]" / "CPU:N [n EVENTS DROPPED]"
  buffer_started,    ///< "##### CPU N buffer started ####": earlier events were overwritten
  missed_switch,     ///< an event from a thread that, by the trace, was not running there
  missed_exit,       ///< an entry, switch or return while the vCPU was in guest mode
  missed_entry,      ///< an exit of a vCPU that was not in guest mode
  task_on_two_cpus,  ///< a thread appeared on a CPU while still running on another
};

/// A short English description of `k`.
[[nodiscard]] constexpr std::string_view to_string(gap_kind k) noexcept {
  switch (k) {
    case gap_kind::lost_events: return "lost events";
    case gap_kind::buffer_started: return "buffer started late";
    case gap_kind::missed_switch: return "missed context switch";
    case gap_kind::missed_exit: return "missed VM exit";
    case gap_kind::missed_entry: return "missed VM entry";
    case gap_kind::task_on_two_cpus: return "thread on two CPUs";
  }
  return "gap";
}

/// One gap: its CPU, trace line and kind, and the index of its `unknown` event.
struct import_gap {
  std::uint32_t cpu = 0;
  std::size_t line = 0;
  gap_kind kind = gap_kind::lost_events;
  std::size_t event = 0;
};

/// Where an event of the imported trace came from.
enum class event_origin : std::uint8_t {
  trace,            ///< a traced event
  probable_return,  ///< the switch-to-user-task heuristic
  trace_start,      ///< synthesised: the vCPU was already in guest mode when the trace began
  gap_repair,       ///< synthesised around a gap to keep the event sequence possible
};

/// The trace line (from 1) and origin of one event.
struct event_source {
  std::size_t line = 0;
  event_origin origin = event_origin::trace;
};

/// What the trace says about one task of the simulator set-up.
struct imported_task {
  std::string comm;  ///< name as traced ("CPU 0/KVM")
  std::uint32_t tid = 0;
  std::int64_t vcpu_id = -1;  ///< from kvm_entry / kvm_exit payloads, -1 when not printed
};

/// A host or guest value that differed from the first one the importer learned for that MSR
/// (the simulator keeps one value, so it cannot follow the change).
struct value_change {
  std::uint32_t cpu = 0;
  msr_index msr{};
  std::uint64_t value = 0;
  bool guest = false;  ///< a vCPU's guest value (else the CPU's host value)
  std::size_t line = 0;
  std::size_t after = 0;  ///< events before it
};

/// What the import saw.
struct import_stats {
  std::size_t lines = 0;             ///< all lines
  std::size_t comments = 0;          ///< blank, comment and header lines
  std::size_t parsed = 0;            ///< lines of the events the importer uses
  std::size_t ignored = 0;           ///< well-formed lines of other events
  std::size_t unparsed = 0;          ///< everything else (never fatal)
  std::size_t dash_form_lines = 0;   ///< "comm-tid" lines (ftrace, trace-cmd report)
  std::size_t perf_form_lines = 0;   ///< "comm tid" lines (perf script)
  std::size_t events = 0;            ///< events of the imported trace
  std::size_t returns = 0;           ///< `user` events from the trace
  std::size_t probable_returns = 0;  ///< `user` events from the switch heuristic
  std::size_t synthetic = 0;         ///< events synthesised at trace start or around gaps
  std::size_t gaps = 0;              ///< `unknown` events
  std::size_t msr_writes = 0;        ///< ground-truth writes (user-return MSRs, not faulted)
  std::size_t other_msr_writes = 0;  ///< msr:write_msr of other MSRs (ignored)
  std::size_t faulted_msr_writes = 0;
  std::size_t unclassified_msr_writes = 0;  ///< neither right after a return nor before an entry
  std::size_t host_value_changes = 0;
  std::size_t guest_value_changes = 0;
  std::size_t dropped_cpu_events = 0;  ///< events on CPUs beyond the simulator's max_cpus
  double seconds = 0;                  ///< wall time of the import
  std::vector<unparsed_line> first_unparsed;
};

/// The result of an import.
struct imported_trace {
  /// The simulator's input: set-up (CPUs, tasks, host and guest values), events, and the
  /// msr:write_msr ground truth as `expected`.
  sim::trace trace;
  /// The same as `uret-replay 1` text, with the trace line of each event in a comment.
  std::string replay;
  std::vector<event_source> sources;        ///< per event of `trace.events`
  std::vector<std::size_t> expected_lines;  ///< per entry of `trace.expected`
  std::vector<imported_task> tasks;         ///< per task of `trace.setup.tasks`
  std::vector<slot_set> host_from_trace;    ///< per CPU: slots whose host value the trace gave
  std::vector<slot_set> guest_from_trace;   ///< per task: slots whose guest value the trace gave
  std::vector<import_gap> gaps;
  std::vector<value_change> value_changes;
  import_stats stats;

  /// True when the trace carried msr:write_msr events of user-return MSRs.
  [[nodiscard]] bool has_ground_truth() const noexcept { return !trace.expected.empty(); }
};

}  // namespace uret::sim
