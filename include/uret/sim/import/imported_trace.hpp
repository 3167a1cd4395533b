// SPDX-License-Identifier: MIT
// uret/sim/import/imported_trace.hpp - what an import yields: the options that steer it, the
// simulator trace it builds, and where every event of that trace came from (trace line, gap,
// heuristic). Standard library only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "uret/msr.hpp"
#include "uret/sim/import/detail/item_file.hpp"
#include "uret/sim/trace.hpp"

namespace uret::sim {

/// How the importer maps a trace. The defaults suit a Linux guest on a Linux host.
struct import_options {
  /// For a trace without msr:write_msr only: a switch to a user task (not the idle task, not a
  /// kernel thread, not a vCPU thread inside KVM_RUN) counts as a probable return to user mode
  /// on that CPU. With msr:write_msr recorded the importer never guesses: a return that no
  /// syscall exit shows is confirmed by the notifier's restore write, which the switched-in
  /// task logs first.
  bool switch_to_user_task_returns = true;
  /// msr:write_msr was recorded, so a trace without a write of a user-return MSR is ground
  /// truth of none. Also set by a "# uret-record: events ... msr/write_msr" line in the trace
  /// (scripts/record-kvm-trace.sh writes it).
  bool write_msr_recorded = false;
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
  /// How many unparsed lines the statistics keep for the report, and how many characters of
  /// each (the rest is cut; control and non-ASCII bytes are shown as \xNN).
  std::size_t unparsed_shown = 5;
  std::size_t unparsed_width = 120;
  /// Name of the input, written into the replay's comments.
  std::string source = "trace";
  /// Append "# line N" to every event of the replay text (the trace line it came from).
  bool line_comments = true;
  /// How far (in records, i.e. parsed lines) a rule may look ahead for a CPU's next record:
  /// whether a syscall exit was preempted, whether an entry follows a load, whether a restore
  /// follows a return. A streaming import keeps that many records in memory at most; a rule
  /// that finds no answer within them is a gap (gap_kind::lookahead_limit).
  std::size_t lookahead_records = std::size_t{1} << 18;
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
  time_backwards,    ///< a record older than the CPU's previous one: the trace is not in order
  unparsed_line,     ///< a line naming the CPU that could not be parsed (an event is missing)
  missed_run_end,    ///< a vCPU thread's syscall exit inside KVM_RUN (its end is missing)
  unrecorded_write,  ///< a write before entry that KVM's cache, by the trace, did not need
  lookahead_limit,   ///< a rule that looks ahead on the CPU found no answer within
                     ///< import_options::lookahead_records records
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
    case gap_kind::time_backwards: return "timestamp going backwards";
    case gap_kind::unparsed_line: return "unparsed line";
    case gap_kind::missed_run_end: return "missed end of KVM_RUN";
    case gap_kind::unrecorded_write: return "unrecorded WRMSR";
    case gap_kind::lookahead_limit: return "look-ahead limit reached";
  }
  return "gap";
}

/// One gap: its CPU, trace line and kind, and the index of the first event after it (where the
/// comparison with the ground truth cuts the CPU's events).
struct import_gap {
  std::uint32_t cpu = 0;
  std::size_t line = 0;
  gap_kind kind = gap_kind::lost_events;
  std::size_t event = 0;
  std::size_t expected = 0;  ///< index of the first trace.expected entry after the gap
};

/// Where an event of the imported trace came from.
enum class event_origin : std::uint8_t {
  trace,             ///< a traced event
  probable_return,   ///< the switch-to-user-task heuristic
  trace_start,       ///< synthesised: the vCPU was already in guest mode when the trace began
  gap_repair,        ///< synthesised around a gap to keep the event sequence possible
  confirmed_return,  ///< a return to user mode no syscall exit shows, proven by the notifier's
                     ///< restore write that the task logged first
  cancelled_entry,   ///< an entry KVM cancelled after loading the guest values (a pending signal
                     ///< or request), shown by a load with no kvm_entry after it
  untraced,          ///< a CPU offline/online the kernel could not trace (KVM's hotplug callbacks
                     ///< ran where tracepoints are off), proven by a later write KVM's cache
                     ///< would otherwise not have needed
};

/// Why a msr:write_msr is not a user-return write (it is not compared with the strategy).
enum class other_write_reason : std::uint8_t {
  probe,            ///< kvm_probe_user_return_msr() at module load: reads and writes back
  svm_enable,       ///< EFER.SVME set (svm_hardware_enable(), virtualization enabled)
  svm_disable,      ///< EFER.SVME cleared (svm_hardware_disable(), virtualization disabled)
  not_user_return,  ///< an MSR that is not a user-return MSR on this host
};

/// A short English description of `r`.
[[nodiscard]] constexpr std::string_view to_string(other_write_reason r) noexcept {
  switch (r) {
    case other_write_reason::probe: return "KVM's probe at module load (kvm_probe_user_return_msr)";
    case other_write_reason::svm_enable: return "EFER.SVME set: SVM enabled on the CPU";
    case other_write_reason::svm_disable: return "EFER.SVME cleared: SVM disabled on the CPU";
    case other_write_reason::not_user_return: return "not a user-return MSR on this host";
  }
  return "other";
}

/// A msr:write_msr of one of import_options::user_return_msrs that KVM made for another reason.
struct other_write {
  std::uint32_t cpu = 0;
  msr_index msr{};
  std::uint64_t value = 0;
  std::size_t line = 0;
  other_write_reason reason = other_write_reason::not_user_return;
};

/// The trace line (from 1) and origin of one event.
struct event_source {
  std::size_t line = 0;
  event_origin origin = event_origin::trace;
  /// An exit's reason as kvm:kvm_exit printed it: an index into imported_trace::exit_reasons
  /// (0: none, for other events and exits whose reason was not printed).
  std::uint16_t exit_reason = 0;
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
  std::size_t lines = 0;                 ///< all lines
  std::size_t comments = 0;              ///< blank, comment and header lines
  std::size_t parsed = 0;                ///< lines of the events the importer uses
  std::size_t ignored = 0;               ///< well-formed lines of other events
  std::size_t unparsed = 0;              ///< everything else (never fatal)
  std::size_t dash_form_lines = 0;       ///< "comm-tid" lines (ftrace, trace-cmd report)
  std::size_t perf_form_lines = 0;       ///< "comm tid" lines (perf script)
  std::size_t events = 0;                ///< events of the imported trace
  std::size_t returns = 0;               ///< `user` events from the trace
  std::size_t probable_returns = 0;      ///< `user` events from the switch heuristic
  std::size_t confirmed_returns = 0;     ///< `user` events proven by a restore write
  std::size_t interrupted_returns = 0;   ///< syscall exits preempted before reaching user mode
  std::size_t entries = 0;               ///< kvm_entry records (0: nothing to price)
  std::size_t guest_value_events = 0;    ///< guest-msr events (guest values that changed)
  std::size_t after_switch_records = 0;  ///< records of the previous task right after a switch
  std::size_t untraced_hotplugs = 0;     ///< CPU offline/online periods the kernel did not trace
  std::size_t synthetic = 0;             ///< events synthesised at trace start or around gaps
  std::size_t gaps = 0;                  ///< gaps (see imported_trace::gaps)
  std::size_t msr_writes = 0;            ///< ground-truth writes (user-return MSRs, not faulted)
  std::size_t other_msr_writes = 0;      ///< msr:write_msr of other MSRs, or for another reason
  std::size_t faulted_msr_writes = 0;
  std::size_t unclassified_msr_writes = 0;  ///< neither right after a return nor before an entry
  std::size_t host_value_changes = 0;
  std::size_t guest_value_changes = 0;
  std::size_t dropped_cpu_events = 0;  ///< events on CPUs beyond the simulator's max_cpus
  double seconds = 0;                  ///< wall time of the import
  std::vector<unparsed_line> first_unparsed;
};

/// Where an import keeps its events and traced writes (imported_trace::trace.events and
/// trace.expected, with their sources and lines).
enum class events_kept : std::uint8_t {
  none,       ///< nowhere: only their counts (a replay-only import)
  in_memory,  ///< in imported_trace::trace (grows with the trace)
  in_file,    ///< in a temporary file, imported_trace::items (memory does not grow)
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
  /// The host's user-return MSRs as the trace shows them (the vendor's exit format: SVM has
  /// TSC_AUX only; KVM's probe at module load; else import_options::user_return_msrs), and why.
  std::vector<msr_index> user_return_msrs;
  std::string user_return_basis;
  /// Writes of those MSRs KVM made for another reason (not ground truth).
  std::vector<other_write> other_writes;
  /// msr:write_msr was recorded (import_options::write_msr_recorded or the recording's header).
  bool write_msr_recorded = false;
  /// The expect-wrmsr lines of the replay: trace.expected.size() when the import kept the events
  /// (import_trace() does; a streaming import only on request).
  std::size_t expected_count = 0;
  /// The exit reasons of the trace's kvm:kvm_exit events, in the order first seen, after an
  /// empty first entry (event_source::exit_reason indexes it).
  std::vector<std::string> exit_reasons{std::string()};
  /// A streaming import's events and traced writes, in a temporary file, when it was asked to
  /// keep them there (events_kept::in_file); visit_items() reads them. Copies share the file.
  std::shared_ptr<detail::item_file> items;
  /// A streaming import could not write or read back a temporary file, or write the replay.
  bool io_failed = false;
  import_stats stats;

  /// True when the trace carries ground truth: msr:write_msr events of user-return MSRs, or the
  /// knowledge that msr:write_msr was recorded (then no write means KVM wrote none).
  [[nodiscard]] bool has_ground_truth() const noexcept {
    return expected_count != 0 || !trace.expected.empty() || write_msr_recorded;
  }
  /// No gap: every event of the trace's span is there.
  [[nodiscard]] bool complete() const noexcept { return gaps.empty(); }
};

}  // namespace uret::sim
