// SPDX-License-Identifier: MIT
// uret/sim/import.hpp - import a real KVM host's trace (ftrace text, `trace-cmd report`,
// `perf script`) as a simulator trace (uret/sim/trace.hpp) and its replay text
// (`uret-replay 1`, docs/replay-format.md), and compare what KVM really wrote (msr:write_msr)
// with what a strategy writes on the same events.
//
// The importer reads the text in two passes. The first parses every line (the grammars are in
// uret/sim/detail/import_parse.hpp) into compact records and learns each thread's name and
// role; the second runs a small per-CPU state machine over the records and emits events. The
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

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "uret/msr.hpp"
#include "uret/sim/detail/import_parse.hpp"
#include "uret/sim/replay.hpp"
#include "uret/sim/simulator.hpp"
#include "uret/sim/strategy.hpp"
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

/// One event as a line of the replay format (no newline), as the importer writes it. Task names
/// the importer makes never need quoting.
[[nodiscard]] inline std::string event_text(const event& e, const setup& s) {
  const auto task = [&](std::uint32_t t) -> std::string_view {
    if (t == idle_task) return "idle";
    return t < s.tasks.size() ? std::string_view(s.tasks[t].name) : std::string_view("?");
  };
  std::string out(to_string(e.kind));
  out += ' ';
  if (e.kind == event_kind::migrate) {
    out += task(e.task);
    out += ' ';
  }
  out += std::to_string(e.cpu);
  if (e.kind == event_kind::switch_to) {
    out += ' ';
    out += task(e.task);
  } else if (e.kind == event_kind::exit && e.arg != 0) {
    out += ' ';
    out += to_string(static_cast<exit_outcome>(e.arg));
  }
  return out;
}

namespace detail {

inline constexpr std::string_view builtin_kernel_thread_prefixes[] = {
    "kworker/",       "ksoftirqd/",    "migration/",   "rcu_",        "rcuc/",         "rcuog/",
    "rcuop/",         "rcub/",         "kthreadd",     "cpuhp/",      "idle_inject/",  "irq/",
    "watchdog",       "kswapd",        "kcompactd",    "khugepaged",  "kauditd",       "khungtaskd",
    "oom_reaper",     "kblockd",       "kdevtmpfs",    "kintegrityd", "jbd2/",         "ext4-rsv",
    "xfsaild/",       "scsi_eh_",      "nvme-",        "writeback",   "ksmd",          "kthrotld",
    "pool_workqueue", "napi/",         "kvm-nx-lpage", "kvm-pit/",    "vhost-",        "iou-",
    "kcryptd",        "dmcrypt_write", "kstrp",        "edac-poller", "ipv6_addrconf", "zswap",
    "hwrng",
};

/// A replay name that needs no quoting: the traced name with blanks, '#', '=', '"' and '\\'
/// replaced by '_', then "-<tid>" (so two threads with one name stay apart).
inline std::string replay_task_name(std::string_view comm, std::uint32_t tid) {
  if (comm.empty() || comm == "<...>") comm = "task";
  std::string n;
  n.reserve(comm.size() + 12);
  for (char c : comm) {
    const bool ok = c > ' ' && c < 0x7f && c != '#' && c != '=' && c != '"' && c != '\\';
    n.push_back(ok ? c : '_');
  }
  n.push_back('-');
  n += std::to_string(tid);
  return n;
}

inline void append_hex(std::string& out, std::uint64_t v) {
  static constexpr char digits[] = "0123456789abcdef";
  char buf[16];
  int n = 0;
  do {
    buf[n++] = digits[v & 0xf];
    v >>= 4;
  } while (v != 0);
  out += "0x";
  while (n > 0) out.push_back(buf[--n]);
}

/// Appends `parts` to `out`. (Building text by appends only: `"literal" + std::string&&` trips
/// GCC 12's -Wrestrict false positive in optimised builds.)
inline void cat(std::string& out, std::initializer_list<std::string_view> parts) {
  for (std::string_view p : parts) out.append(p.data(), p.size());
}

/// `parts` joined.
[[nodiscard]] inline std::string cat(std::initializer_list<std::string_view> parts) {
  std::string out;
  cat(out, parts);
  return out;
}

/// `n` in decimal.
[[nodiscard]] inline std::string dec(std::size_t n) { return std::to_string(n); }

/// `s` padded with blanks to `width`, on the left when `right`.
[[nodiscard]] inline std::string pad(std::string_view s, std::size_t width, bool right) {
  std::string out;
  if (right && s.size() < width) out.append(width - s.size(), ' ');
  out.append(s.data(), s.size());
  if (!right && s.size() < width) out.append(width - s.size(), ' ');
  return out;
}

/// "+p/-m".
[[nodiscard]] inline std::string plus_minus(std::size_t p, std::size_t m) {
  return cat({"+", dec(p), "/-", dec(m)});
}

/// The two-pass importer; one object per import.
class trace_importer {
 public:
  explicit trace_importer(const import_options& o) : opt_(o) {
    tasks_.push_back({});  // index 0: the idle task of every CPU
    tasks_[0].r = role::idle;
    by_tid_.emplace(0u, 0u);
  }

  imported_trace run(std::string_view text) {
    const auto t0 = std::chrono::steady_clock::now();
    scan(text);
    classify();
    map();
    finish();
    render();
    out_.stats.events = out_.trace.events.size();
    out_.stats.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return std::move(out_);
  }

 private:
  enum class rec : std::uint8_t {
    entry,
    exit,
    uexit,
    fpu_load,
    fpu_unload,
    sched_switch,
    sys_exit,
    sys_enter,
    migrate,
    wrmsr,
    rdmsr,
    lost_events,
    buffer_started
  };
  struct record {
    rec kind = rec::entry;
    bool flag = false;  // exit: failed VM entry; msr: faulted
    std::uint32_t cpu = 0;
    std::uint32_t task = 0;   // the line's task (sched_switch: prev)
    std::uint32_t task2 = 0;  // sched_switch: next; migrate: the migrating task
    std::uint32_t aux = 0;    // msr index; migrate: destination CPU
    std::uint64_t value = 0;  // msr value
    std::size_t line = 0;
  };
  enum class role : std::uint8_t { idle, kernel, user, vcpu };
  enum class pending : std::uint8_t { none, certain, probable };
  struct task_info {
    std::string comm;
    std::uint32_t tid = 0;
    std::int64_t vcpu_id = -1;
    bool kvm = false;       // kvm_entry / kvm_exit / kvm_userspace_exit / kvm_fpu
    bool syscalls = false;  // syscall events: certainly a user task
    bool svm = false;
    bool vmx = false;
    role r = role::user;
    task_kind kind = task_kind::user;
    // pass 2: the simulator's view
    std::int64_t home = -1;        // CPU it lives on (-1: never placed)
    std::int64_t first_cpu = -1;   // CPU it is declared on
    std::int64_t running_on = -1;  // CPU it runs on
    bool in_guest = false;
    bool entered = false;
    bool in_run = true;  // a vCPU thread inside KVM_RUN: switching to it is no return
    pending ret = pending::none;
    msr_values guest{};
    slot_set guest_known = 0;
    std::uint32_t sim_index = idle_task;
  };
  struct cpu_state {
    std::uint32_t current = 0;  // the simulator's running task (0: idle)
    bool known = false;         // the importer knows which task runs there
    bool restore_window = false;
    bool fresh_gap = false;  // a gap was marked and no record has been mapped since
    std::uint32_t window_msrs = 0;
    msr_values host{};
    slot_set host_known = 0;
    msr_values host_read{};
    slot_set host_read_known = 0;
  };
  struct pending_event {
    event_kind kind;
    exit_outcome outcome;
    event_origin origin;
    std::uint32_t cpu;
    std::uint32_t task;
    std::size_t line;
  };
  struct pending_expect {
    std::uint32_t cpu;
    msr_index msr;
    std::uint64_t value;
    std::size_t line;
    std::size_t after;
  };

  // ---- pass 1 ------------------------------------------------------------------------------

  std::uint32_t task_of(std::uint32_t tid, std::string_view comm) {
    if (tid == 0) return 0;
    if (auto it = by_tid_.find(tid); it != by_tid_.end()) {
      auto& t = tasks_[it->second];
      if ((t.comm.empty() || t.comm == "<...>") && !comm.empty() && comm != "<...>") {
        t.comm = std::string(comm);
      }
      return it->second;
    }
    const auto index = static_cast<std::uint32_t>(tasks_.size());
    by_tid_.emplace(tid, index);
    tasks_.push_back({});
    tasks_.back().tid = tid;
    tasks_.back().comm = std::string(comm);
    return index;
  }

  void note_cpu(std::uint32_t cpu) {
    if (cpu >= cpus_) cpus_ = cpu + 1;
  }

  void note_vcpu(std::uint32_t task, std::int64_t vcpu) {
    if (task == 0) return;
    tasks_[task].kvm = true;
    if (vcpu >= 0) tasks_[task].vcpu_id = vcpu;
  }

  void unparsed(std::size_t no, std::string_view line) {
    ++out_.stats.unparsed;
    if (out_.stats.first_unparsed.size() < opt_.unparsed_shown) {
      out_.stats.first_unparsed.push_back({no, std::string(line)});
    }
  }

  void add(const record& r) {
    note_cpu(r.cpu);
    ++out_.stats.parsed;
    records_.push_back(r);
  }

  void scan(std::string_view text) {
    std::size_t no = 0;
    std::size_t pos = 0;
    records_.reserve(text.size() / 96 + 16);
    while (pos < text.size()) {
      const auto nl = text.find('\n', pos);
      const auto end = nl == std::string_view::npos ? text.size() : nl;
      ++no;
      scan_line(trim_right(text.substr(pos, end - pos)), no);
      pos = end + 1;
    }
    out_.stats.lines = no;
  }

  void scan_line(std::string_view line, std::size_t no) {
    std::uint32_t lost_cpu = 0;
    if (parse_lost_line(line, lost_cpu)) {
      record r;
      r.kind = line.front() == '#' ? rec::buffer_started : rec::lost_events;
      r.cpu = lost_cpu;
      r.line = no;
      add(r);
      return;
    }
    const auto lead = trim_left(line);
    if (lead.empty() || lead.front() == '#') {
      ++out_.stats.comments;
      return;
    }
    trace_line tl;
    if (!parse_trace_line(line, tl)) {
      std::uint64_t n = 0;
      if (starts_with(lead, "cpus=") && parse_dec(lead.substr(5), n) && n > 0 && n <= 0x10000) {
        note_cpu(static_cast<std::uint32_t>(n - 1));  // trace-cmd report's header
        ++out_.stats.comments;
      } else if (starts_with(lead, "version =") ||
                 (starts_with(lead, "CPU ") && lead.find(" is empty") != std::string_view::npos)) {
        ++out_.stats.comments;
      } else {
        unparsed(no, line);
      }
      return;
    }
    ++(tl.form == line_form::comm_dash_tid ? out_.stats.dash_form_lines
                                           : out_.stats.perf_form_lines);
    record r;
    r.cpu = tl.cpu;
    r.line = no;
    const auto ev = tl.event;
    const auto p = tl.payload;
    if (ev == "kvm_entry") {
      kvm_entry_payload e;
      if (!parse_kvm_entry(p, e)) return unparsed(no, line);
      r.kind = rec::entry;
      r.task = task_of(tl.tid, tl.comm);
      note_vcpu(r.task, e.vcpu);
    } else if (ev == "kvm_exit") {
      kvm_exit_payload e;
      if (!parse_kvm_exit(p, e)) return unparsed(no, line);
      r.kind = rec::exit;
      r.task = task_of(tl.tid, tl.comm);
      r.flag = e.failed_vmentry;
      note_vcpu(r.task, e.vcpu);
      (e.svm ? tasks_[r.task].svm : tasks_[r.task].vmx) = true;
    } else if (ev == "kvm_userspace_exit") {
      kvm_userspace_exit_payload e;
      if (!parse_kvm_userspace_exit(p, e)) return unparsed(no, line);
      r.kind = rec::uexit;
      r.task = task_of(tl.tid, tl.comm);
      note_vcpu(r.task, -1);
      ++userspace_exits_;
    } else if (ev == "kvm_fpu") {
      bool load = false;
      if (!parse_kvm_fpu(p, load)) return unparsed(no, line);
      r.kind = load ? rec::fpu_load : rec::fpu_unload;
      r.task = task_of(tl.tid, tl.comm);
      note_vcpu(r.task, -1);
    } else if (ev == "sched_switch") {
      sched_switch_payload sw;
      if (!parse_sched_switch(p, sw)) return unparsed(no, line);
      r.kind = rec::sched_switch;
      static_cast<void>(task_of(tl.tid, tl.comm));
      r.task = task_of(sw.prev_tid, sw.prev_comm);
      r.task2 = task_of(sw.next_tid, sw.next_comm);
    } else if (ev == "sched_migrate_task") {
      sched_migrate_payload m;
      if (!parse_sched_migrate(p, m)) return unparsed(no, line);
      r.kind = rec::migrate;
      r.task = task_of(tl.tid, tl.comm);
      r.task2 = task_of(m.tid, m.comm);
      r.aux = m.dest_cpu;
      note_cpu(m.dest_cpu);
    } else if (ev == "sys_exit" || starts_with(ev, "sys_exit_")) {
      if (!parse_sys_exit(p)) return unparsed(no, line);
      r.kind = rec::sys_exit;
      r.task = task_of(tl.tid, tl.comm);
      if (r.task != 0) tasks_[r.task].syscalls = true;
    } else if (ev == "sys_enter" || starts_with(ev, "sys_enter_")) {
      r.kind = rec::sys_enter;
      r.task = task_of(tl.tid, tl.comm);
      if (r.task != 0) tasks_[r.task].syscalls = true;
    } else if (ev == "write_msr" || ev == "read_msr") {
      msr_payload m;
      if (!parse_msr_access(p, m)) return unparsed(no, line);
      r.kind = ev == "write_msr" ? rec::wrmsr : rec::rdmsr;
      r.task = task_of(tl.tid, tl.comm);
      r.flag = m.faulted;
      r.aux = m.msr;
      r.value = m.value;
    } else {
      static_cast<void>(task_of(tl.tid, tl.comm));
      ++out_.stats.ignored;
      return;
    }
    add(r);
  }

  // ---- classification ----------------------------------------------------------------------

  [[nodiscard]] bool is_kernel_thread_name(std::string_view comm) const {
    for (auto p : builtin_kernel_thread_prefixes) {
      if (starts_with(comm, p)) return true;
    }
    for (const auto& p : opt_.kernel_thread_prefixes) {
      if (!p.empty() && starts_with(comm, p)) return true;
    }
    return false;
  }

  void classify() {
    for (std::size_t i = 1; i < tasks_.size(); ++i) {
      auto& t = tasks_[i];
      if (t.kvm) {
        t.r = role::vcpu;
        t.kind = opt_.vcpu_kind && is_vcpu(*opt_.vcpu_kind)
                     ? *opt_.vcpu_kind
                     : ((t.svm && !t.vmx) ? task_kind::svm : task_kind::vmx);
      } else if (t.syscalls) {
        t.r = role::user;
      } else {
        t.r = is_kernel_thread_name(t.comm) ? role::kernel : role::user;
        if (t.r == role::kernel) t.kind = task_kind::kernel;
      }
    }
    cpu_.assign(cpus_, {});
  }

  [[nodiscard]] bool is_vcpu_task(std::uint32_t t) const { return tasks_[t].r == role::vcpu; }
  [[nodiscard]] bool is_user_like(std::uint32_t t) const {
    return tasks_[t].r == role::user || tasks_[t].r == role::vcpu;
  }

  // ---- pass 2 ------------------------------------------------------------------------------

  void emit(event_kind kind, std::uint32_t cpu, std::uint32_t task, std::size_t line,
            event_origin origin = event_origin::trace, exit_outcome oc = exit_outcome::real) {
    events_.push_back({kind, oc, origin, cpu, task, line});
    auto& c = cpu_[cpu];
    if (kind == event_kind::user) {
      c.restore_window = true;
      c.window_msrs = 0;
      ++(origin == event_origin::probable_return ? out_.stats.probable_returns
                                                 : out_.stats.returns);
    } else if (kind != event_kind::migrate) {
      c.restore_window = false;
    }
    if (origin == event_origin::trace_start || origin == event_origin::gap_repair) {
      ++out_.stats.synthetic;
    }
  }

  /// Marks `cpu`'s MSR values unknown (the simulator invalidates them and leaves guest mode).
  /// `task_known`: the importer still knows which task runs there.
  void gap(std::uint32_t cpu, std::size_t line, gap_kind kind, bool task_known) {
    auto& c = cpu_[cpu];
    if (!task_known) c.known = false;
    if (c.fresh_gap) return;  // an inconsistency that is this gap's own consequence
    c.fresh_gap = true;
    out_.gaps.push_back({cpu, line, kind, events_.size()});
    ++out_.stats.gaps;
    emit(event_kind::unknown, cpu, c.current, line);
    const auto cur = c.current;
    if (cur == 0) return;
    tasks_[cur].ret = pending::none;
    tasks_[cur].in_guest = false;  // the simulator's `unknown` leaves guest mode
    if (!is_vcpu_task(cur)) return;
    // The vCPU thread may have left KVM_RUN and come back during the gap: end its load period
    // (KVM's vcpu_put), so that its next entry loads the guest values again.
    emit(event_kind::switch_to, cpu, 0, line, event_origin::gap_repair);
    tasks_[cur].running_on = -1;
    c.current = 0;
    if (!task_known) return;
    emit(event_kind::switch_to, cpu, cur, line, event_origin::gap_repair);
    tasks_[cur].running_on = cpu;
    c.current = cur;
  }

  /// Leaves guest mode without a traced exit (only where a gap could not do it).
  void repair_exit(std::uint32_t cpu, std::uint32_t t, std::size_t line) {
    if (!tasks_[t].in_guest) return;
    emit(event_kind::exit, cpu, t, line, event_origin::gap_repair);
    tasks_[t].in_guest = false;
  }

  /// Context switch on `cpu` to `t`. `traced`: a sched_switch, so the heuristic applies.
  void switch_to(std::uint32_t cpu, std::uint32_t t, std::size_t line, bool traced) {
    const auto cur = cpu_[cpu].current;
    if (cur == t) return;
    if (cur != 0 && tasks_[cur].in_guest) {
      gap(cpu, line, gap_kind::missed_exit, true);
      repair_exit(cpu, cur, line);
    }
    if (t != 0) {
      auto& s = tasks_[t];
      if (s.running_on >= 0 && s.running_on != cpu) {
        const auto d = static_cast<std::uint32_t>(s.running_on);
        gap(d, line, gap_kind::task_on_two_cpus, false);
        if (cpu_[d].current == t) {  // the gap did not switch away (suppressed)
          repair_exit(d, t, line);
          emit(event_kind::switch_to, d, 0, line, event_origin::gap_repair);
          cpu_[d].current = 0;
        }
        s.running_on = -1;
      }
      if (s.home < 0) {
        s.home = s.first_cpu = cpu;
      } else if (s.home != cpu) {
        emit(event_kind::migrate, cpu, t, line);
        s.home = cpu;
      }
    }
    if (cur != 0) tasks_[cur].running_on = -1;
    emit(event_kind::switch_to, cpu, t, line);
    cpu_[cpu].current = t;
    if (t == 0) return;
    auto& s = tasks_[t];
    s.running_on = cpu;
    if (traced && opt_.switch_to_user_task_returns && is_user_like(t) &&
        !(is_vcpu_task(t) && s.in_run) && s.ret == pending::none) {
      s.ret = pending::probable;
    }
  }

  /// The simulator must run `t` on `cpu`; another known task there means a missed switch.
  void ensure_current(std::uint32_t cpu, std::uint32_t t, std::size_t line) {
    auto& c = cpu_[cpu];
    if (c.known && c.current == t) return;
    if (c.known) gap(cpu, line, gap_kind::missed_switch, false);
    switch_to(cpu, t, line, false);
    c.known = true;
  }

  void flush_return(std::uint32_t cpu, std::size_t line) {
    const auto t = cpu_[cpu].current;
    if (t == 0 || tasks_[t].ret == pending::none) return;
    const auto origin =
        tasks_[t].ret == pending::probable ? event_origin::probable_return : event_origin::trace;
    tasks_[t].ret = pending::none;
    tasks_[t].in_run = false;
    emit(event_kind::user, cpu, t, line, origin);
  }

  [[nodiscard]] int ground_truth_index(std::uint32_t msr) const {
    for (std::size_t i = 0; i < opt_.user_return_msrs.size() && i < 32; ++i) {
      if (opt_.user_return_msrs[i].value == msr) return static_cast<int>(i);
    }
    return -1;
  }

  /// Records `v` as slot `s`'s value unless it already has one; true when it had a different one.
  static bool learn(msr_values& vals, slot_set& known, unsigned s, std::uint64_t v) {
    const auto bit = static_cast<slot_set>(1U << s);
    if ((known & bit) != 0) return vals[s] != v;
    vals[s] = v;
    known = static_cast<slot_set>(known | bit);
    return false;
  }

  void changed(const record& r, bool guest) {
    ++(guest ? out_.stats.guest_value_changes : out_.stats.host_value_changes);
    out_.value_changes.push_back({r.cpu, msr_index{r.aux}, r.value, guest, r.line, events_.size()});
  }

  void on_msr_write(const record& r) {
    if (r.flag) {
      ++out_.stats.faulted_msr_writes;
      return;
    }
    const int idx = ground_truth_index(r.aux);
    if (idx < 0) {
      ++out_.stats.other_msr_writes;
      return;
    }
    const msr_index m{r.aux};
    const auto slot = slot_of(m);
    auto& c = cpu_[r.cpu];
    const auto bit = std::uint32_t{1} << static_cast<unsigned>(idx);
    if (c.restore_window && (c.window_msrs & bit) == 0) {
      c.window_msrs |= bit;  // the notifier restores each MSR once
      if (slot && learn(c.host, c.host_known, *slot, r.value)) changed(r, false);
    } else {
      c.restore_window = false;
      const auto t = c.current;
      if (t != 0 && is_vcpu_task(t) && !tasks_[t].in_guest && tasks_[t].in_run) {
        if (slot && learn(tasks_[t].guest, tasks_[t].guest_known, *slot, r.value)) changed(r, true);
      } else {
        ++out_.stats.unclassified_msr_writes;
      }
    }
    ++out_.stats.msr_writes;
    expects_.push_back({r.cpu, m, r.value, r.line, events_.size()});
  }

  void map_one(const record& r) {
    const auto cpu = r.cpu;
    auto& c = cpu_[cpu];
    if (r.kind == rec::lost_events || r.kind == rec::buffer_started) {
      gap(cpu, r.line,
          r.kind == rec::lost_events ? gap_kind::lost_events : gap_kind::buffer_started, false);
      return;
    }
    const bool msr_event = r.kind == rec::wrmsr || r.kind == rec::rdmsr;
    if (!msr_event) c.restore_window = false;
    // Any event on the CPU ends a pending return of the task running there (it happened before
    // this event), except that task's own syscall return, which is the return.
    if (c.known && c.current == r.task && r.kind != rec::sys_exit) flush_return(cpu, r.line);
    if (r.kind == rec::sched_switch) {
      if (c.known && c.current != r.task) gap(cpu, r.line, gap_kind::missed_switch, false);
      switch_to(cpu, r.task2, r.line, true);
      c.known = true;
      return;
    }
    if (r.kind == rec::migrate) {
      auto& m = tasks_[r.task2];
      if (r.task2 != 0 && m.running_on < 0 && r.aux < cpus_) {
        if (m.home < 0) {
          m.home = m.first_cpu = r.aux;
        } else if (m.home != static_cast<std::int64_t>(r.aux)) {
          emit(event_kind::migrate, r.aux, r.task2, r.line);
          m.home = r.aux;
        }
      }
      return;  // whoever runs the migration: no claim about this CPU
    }
    ensure_current(cpu, r.task, r.line);
    const auto t = r.task;
    auto& s = tasks_[t];
    switch (r.kind) {
      case rec::entry:
        if (s.in_guest) {
          gap(cpu, r.line, gap_kind::missed_exit, true);
          repair_exit(cpu, t, r.line);
        }
        emit(event_kind::enter, cpu, t, r.line);
        s.in_guest = s.entered = s.in_run = true;
        s.ret = pending::none;
        break;
      case rec::exit:
        if (!s.in_guest) {
          if (s.entered) {
            gap(cpu, r.line, gap_kind::missed_entry, true);
            emit(event_kind::enter, cpu, t, r.line, event_origin::gap_repair);
          } else {
            emit(event_kind::enter, cpu, t, r.line, event_origin::trace_start);
          }
          s.entered = true;
        }
        emit(event_kind::exit, cpu, t, r.line, event_origin::trace,
             r.flag ? exit_outcome::early_fail : exit_outcome::real);
        s.in_guest = false;
        s.in_run = true;
        break;
      case rec::uexit:
        if (s.in_guest) {
          gap(cpu, r.line, gap_kind::missed_exit, true);
          repair_exit(cpu, t, r.line);
        }
        s.in_run = false;
        if (t != 0) s.ret = pending::certain;
        break;
      case rec::fpu_load: s.in_run = true; break;
      case rec::fpu_unload:
        if (userspace_exits_ == 0 && t != 0) {  // the trace has no kvm_userspace_exit
          s.in_run = false;
          s.ret = pending::certain;
        }
        break;
      case rec::sys_exit:
        if (t == 0) break;
        if (s.in_guest) {
          gap(cpu, r.line, gap_kind::missed_exit, true);
          repair_exit(cpu, t, r.line);
        }
        s.ret = pending::none;
        s.in_run = false;
        emit(event_kind::user, cpu, t, r.line);
        break;
      case rec::wrmsr: on_msr_write(r); break;
      case rec::rdmsr:
        // KVM reads the host values when it enables virtualization on a CPU: a fallback for
        // host values no restore showed.
        if (auto slot = slot_of(msr_index{r.aux}); slot && !r.flag) {
          static_cast<void>(learn(c.host_read, c.host_read_known, *slot, r.value));
        }
        break;
      default: break;
    }
  }

  void map() {
    for (const auto& r : records_) {
      map_one(r);
      if (r.kind != rec::lost_events && r.kind != rec::buffer_started)
        cpu_[r.cpu].fresh_gap = false;
    }
  }

  // ---- output ------------------------------------------------------------------------------

  void finish() {
    auto& tr = out_.trace;
    const auto cpus = static_cast<std::uint32_t>(std::min<std::size_t>(cpus_, max_cpus));
    tr.setup = make_setup(cpus);
    // Host values: what the restores wrote, else what KVM read at CPU online, else (for the
    // MSRs Linux programs alike on every CPU, i.e. all but TSC_AUX) another CPU's value, else
    // Linux's defaults.
    msr_values shared{};
    slot_set shared_known = 0;
    for (std::uint32_t c = 0; c < cpus; ++c) {
      for (unsigned s = 0; s < msr_count; ++s) {
        if (has(cpu_[c].host_known, s))
          static_cast<void>(learn(shared, shared_known, s, cpu_[c].host[s]));
      }
    }
    out_.host_from_trace.assign(cpus, 0);
    for (std::uint32_t c = 0; c < cpus; ++c) {
      const auto& cs = cpu_[c];
      for (unsigned s = 0; s < msr_count; ++s) {
        auto& h = tr.setup.host[c][s];
        if (has(cs.host_known, s)) {
          h = cs.host[s];
        } else if (has(cs.host_read_known, s)) {
          h = cs.host_read[s];
        } else if (s != slots::tsc_aux && has(shared_known, s)) {
          h = shared[s];
          continue;
        } else {
          continue;
        }
        out_.host_from_trace[c] = static_cast<slot_set>(out_.host_from_trace[c] | (1U << s));
      }
    }
    // Tasks: those that ever ran (or were placed by a migration), in the order first seen.
    const bool ground_truth = !expects_.empty();
    for (std::size_t i = 1; i < tasks_.size(); ++i) {
      auto& t = tasks_[i];
      if (t.first_cpu < 0 || t.first_cpu >= static_cast<std::int64_t>(cpus)) continue;
      const auto cpu = static_cast<std::uint32_t>(t.first_cpu);
      t.sim_index = add_task(tr.setup, replay_task_name(t.comm, t.tid), t.kind, cpu);
      out_.tasks.push_back({t.comm, t.tid, t.vcpu_id});
      out_.guest_from_trace.push_back(t.guest_known);
      if (t.r != role::vcpu) continue;
      auto& g = tr.setup.tasks[t.sim_index].guest;
      const auto ordinal = tr.setup.vcpu_ordinal(t.sim_index);
      for (unsigned s = 0; s < msr_count; ++s) {
        const std::uint64_t host = tr.setup.host[cpu][s];
        const bool differs = std::find(opt_.differing_msrs.begin(), opt_.differing_msrs.end(),
                                       slot_msrs[s]) != opt_.differing_msrs.end();
        if (has(t.guest_known, s)) {
          g[s] = t.guest[s];
        } else if (ground_truth || !differs) {
          g[s] = host;  // the trace shows no write: the guest's value needs none
        } else if (s == slots::tsc_aux) {
          g[s] = t.vcpu_id >= 0 ? static_cast<std::uint64_t>(t.vcpu_id) : ordinal;
        } else if (s == slots::lstar) {
          g[s] = guest_default(ordinal, s);
        } else {
          g[s] = host ^ (std::uint64_t{1} << 32);
        }
      }
    }
    // Events, dropping those the simulator cannot hold (CPUs beyond max_cpus).
    std::vector<std::size_t> kept_before(events_.size() + 1, 0);
    tr.events.reserve(events_.size());
    out_.sources.reserve(events_.size());
    for (std::size_t i = 0; i < events_.size(); ++i) {
      kept_before[i] = tr.events.size();
      const auto& e = events_[i];
      const auto& task = tasks_[e.task];
      const bool task_ok = e.task == 0 || task.sim_index != idle_task;
      if (e.cpu >= cpus ||
          ((e.kind == event_kind::switch_to || e.kind == event_kind::migrate) && !task_ok)) {
        ++out_.stats.dropped_cpu_events;
        continue;
      }
      event ev{e.kind, 0, static_cast<std::uint16_t>(e.cpu), 0};
      if (e.kind == event_kind::switch_to) ev.task = e.task == 0 ? idle_task : task.sim_index;
      if (e.kind == event_kind::migrate) ev.task = task.sim_index;
      if (e.kind == event_kind::exit && task.kind == task_kind::tdx) {
        ev.arg = static_cast<std::uint8_t>(e.outcome);
      }
      tr.events.push_back(ev);
      out_.sources.push_back({e.line, e.origin});
    }
    kept_before[events_.size()] = tr.events.size();
    for (const auto& x : expects_) {
      if (x.cpu >= cpus) continue;
      tr.expected.push_back({kept_before[x.after], x.cpu, x.msr, x.value});
      out_.expected_lines.push_back(x.line);
    }
    for (auto& g : out_.gaps) g.event = kept_before[g.event];
    for (auto& v : out_.value_changes) v.after = kept_before[v.after];
  }

  void render_event(std::string& s, const event& e, const event_source& src) const {
    s += event_text(e, out_.trace.setup);
    if (opt_.line_comments) {
      s += "  # line ";
      s += std::to_string(src.line);
      switch (src.origin) {
        case event_origin::trace: break;
        case event_origin::probable_return: s += ", probable return (switch to a user task)"; break;
        case event_origin::trace_start: s += ", vCPU was in guest mode when the trace began"; break;
        case event_origin::gap_repair: s += ", after a gap"; break;
      }
    }
    s.push_back('\n');
  }

  static void render_values(std::string& s, std::string_view head, const std::string& name,
                            const msr_values& v, const msr_values& def) {
    bool any = false;
    for (unsigned i = 0; i < msr_count; ++i) {
      if (v[i] == def[i]) continue;
      if (!any) {
        s += head;
        s += ' ';
        s += name;
        any = true;
      }
      s += ' ';
      s += msr_token(slot_msrs[i]);
      s += '=';
      append_hex(s, v[i]);
    }
    if (any) s += '\n';
  }

  void render() {
    const auto& st = out_.stats;
    const auto& tr = out_.trace;
    std::string& s = out_.replay;
    s.reserve(tr.events.size() * 34 + tr.expected.size() * 56 + 4096);
    s += "# imported by uret-sim import from ";
    s += opt_.source;
    cat(s, {"\n# lines ", dec(st.lines), ", parsed ", dec(st.parsed), ", ignored ", dec(st.ignored),
            ", unparsed ", dec(st.unparsed), ", gaps ", dec(st.gaps), "\n"});
    cat(s, {"uret-replay 1\ncpus ", dec(tr.setup.cpus), "\n"});
    for (std::uint32_t c = 0; c < tr.setup.cpus; ++c) {
      msr_values def{};
      for (unsigned i = 0; i < msr_count; ++i) def[i] = host_default(c, i);
      render_values(s, "host", std::to_string(c), tr.setup.host[c], def);
    }
    for (std::size_t i = 0; i < tr.setup.tasks.size(); ++i) {
      const auto& t = tr.setup.tasks[i];
      s += is_vcpu(t.kind) ? "vcpu " : "task ";
      s += t.name;
      s += ' ';
      s += to_string(t.kind);
      s += ' ';
      s += std::to_string(t.cpu);
      s += "  # ";
      s += out_.tasks[i].comm;
      s += '\n';
      if (!is_vcpu(t.kind)) continue;
      msr_values def{};
      const auto ordinal = tr.setup.vcpu_ordinal(i);
      for (unsigned k = 0; k < msr_count; ++k) def[k] = guest_default(ordinal, k);
      render_values(s, "guest", t.name, t.guest, def);
    }
    std::size_t x = 0;
    for (std::size_t i = 0; i <= tr.events.size(); ++i) {
      for (; x < tr.expected.size() && tr.expected[x].before_event == i; ++x) {
        const auto& w = tr.expected[x];
        cat(s, {"expect-wrmsr ", dec(w.cpu), " "});
        s += msr_token(w.msr);
        s += ' ';
        append_hex(s, w.value);
        if (opt_.line_comments) cat(s, {"  # line ", dec(out_.expected_lines[x])});
        s += '\n';
      }
      if (i < tr.events.size()) render_event(s, tr.events[i], out_.sources[i]);
    }
  }

  const import_options& opt_;
  imported_trace out_;
  std::vector<task_info> tasks_;
  std::unordered_map<std::uint32_t, std::uint32_t> by_tid_;
  std::vector<record> records_;
  std::vector<cpu_state> cpu_;
  std::vector<pending_event> events_;
  std::vector<pending_expect> expects_;
  std::uint32_t cpus_ = 1;
  std::size_t userspace_exits_ = 0;
};

}  // namespace detail

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
  return detail::trace_importer(options).run(text);
}

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
                       dec(imp.trace.expected.size()),
                       " expect-wrmsr\n"});
  for (const auto& u : st.first_unparsed) {
    cat(o, {"  unparsed line ", dec(u.line), ": ", u.text, "\n"});
  }
  if (st.unparsed > st.first_unparsed.size()) {
    cat(o, {"  ... and ", dec(st.unparsed - st.first_unparsed.size()), " more unparsed lines\n"});
  }
  return o;
}

// ---- ground truth ---------------------------------------------------------------------------

/// Why predicted and traced writes differ in one stretch of one CPU's events.
enum class difference_reason : std::uint8_t {
  trace_start,      ///< before the CPU's first return to user or gap: the state the trace
                    ///< began in is unknown
  gap,              ///< the stretch begins or ends at a gap (`unknown`)
  probable_return,  ///< the stretch holds a return guessed from a switch to a user task
  value_changed,    ///< a host or guest value changed where the replay keeps one value
  unexplained,      ///< none of the above: the model and KVM disagree
};

/// A short English description of `r`.
[[nodiscard]] constexpr std::string_view to_string(difference_reason r) noexcept {
  switch (r) {
    case difference_reason::trace_start: return "trace start";
    case difference_reason::gap: return "gap";
    case difference_reason::probable_return: return "probable return";
    case difference_reason::value_changed: return "value changed";
    case difference_reason::unexplained: return "unexplained";
  }
  return "unexplained";
}

/// A difference for one MSR in one stretch of one CPU's events (between gaps).
struct ground_truth_difference {
  difference_reason reason = difference_reason::unexplained;
  std::uint32_t cpu = 0;
  msr_index msr{};
  std::size_t extra = 0;       ///< predicted writes the trace does not have
  std::size_t missing = 0;     ///< traced writes the strategy did not predict
  bool order_only = false;     ///< same writes, different order
  std::size_t first_line = 0;  ///< trace lines the stretch spans
  std::size_t last_line = 0;
};

/// Traced against predicted writes of one MSR.
struct ground_truth_row {
  msr_index msr{};
  std::size_t actual = 0;     ///< msr:write_msr events (KVM's real writes)
  std::size_t predicted = 0;  ///< the strategy's writes in the simulator
  std::size_t explained_extra = 0, explained_missing = 0;
  std::size_t unexplained_extra = 0, unexplained_missing = 0;
};

/// The result of compare_ground_truth().
struct ground_truth_comparison {
  std::vector<ground_truth_row> rows;  ///< one per MSR, ascending index
  std::vector<ground_truth_difference> differences;
  std::size_t actual = 0;
  std::size_t predicted = 0;
  std::uint32_t cpus_with_writes = 0;

  /// Every traced write predicted, with the same value, in the same order per CPU, and nothing
  /// more.
  [[nodiscard]] bool exact() const noexcept { return differences.empty(); }
  /// Differences no gap, trace start, heuristic or value change accounts for.
  [[nodiscard]] std::size_t unexplained() const noexcept {
    std::size_t n = 0;
    for (const auto& d : differences) {
      if (d.reason == difference_reason::unexplained)
        n += d.extra + d.missing + (d.order_only ? 1 : 0);
    }
    return n;
  }
};

/// Compares the msr:write_msr ground truth of `imp` with the writes a strategy issued when the
/// simulator ran `imp.trace` (run_options::record_writes; `predicted` in the order issued).
///
/// Each CPU's events are cut into stretches: before its first return to user mode (the state
/// the trace began in is unknown), then between gaps. In each stretch the traced and predicted
/// writes are compared as sequences of (MSR, value); a stretch that differs is explained by the
/// first that applies of: trace start, a gap at either end, a probable return inside it, a value
/// change inside it; otherwise the difference is unexplained.
[[nodiscard]] inline ground_truth_comparison compare_ground_truth(
    const imported_trace& imp, std::span<const write_record> predicted) {
  struct write_ref {
    msr_index msr;
    std::uint64_t value;
    std::size_t line;
  };
  struct stretch {
    std::vector<write_ref> actual, predicted;
    std::size_t begin = 0, end = 0;  // event index range [begin, end)
    bool starts_at_gap = false, ends_at_gap = false, first = false;
  };
  ground_truth_comparison out;
  const auto& events = imp.trace.events;
  const std::size_t cpus = imp.trace.setup.cpus;
  // Cut points per CPU: the first `user` event, then every `unknown` event.
  std::vector<std::vector<std::size_t>> cuts(cpus);
  std::vector<std::vector<bool>> cut_is_gap(cpus);
  std::vector<bool> seen_user(cpus, false);
  for (std::size_t i = 0; i < events.size(); ++i) {
    const auto& e = events[i];
    if (e.cpu >= cpus) continue;
    if (e.kind == event_kind::unknown) {
      cuts[e.cpu].push_back(i);
      cut_is_gap[e.cpu].push_back(true);
      seen_user[e.cpu] = true;  // after a gap the trace-start stretch is over
    } else if (e.kind == event_kind::user && !seen_user[e.cpu]) {
      seen_user[e.cpu] = true;
      cuts[e.cpu].push_back(i);
      cut_is_gap[e.cpu].push_back(false);
    }
  }
  std::vector<std::vector<stretch>> st(cpus);
  for (std::size_t c = 0; c < cpus; ++c) {
    st[c].resize(cuts[c].size() + 1);
    for (std::size_t k = 0; k < st[c].size(); ++k) {
      auto& s = st[c][k];
      s.first = k == 0;
      s.begin = k == 0 ? 0 : cuts[c][k - 1];
      s.end = k < cuts[c].size() ? cuts[c][k] : events.size();
      s.starts_at_gap = k > 0 && cut_is_gap[c][k - 1];
      s.ends_at_gap = k < cuts[c].size() && cut_is_gap[c][k];
    }
  }
  // Stretch of a predicted write at event e: the number of cuts at or before e. Of a traced
  // write after `a` events: the number of cuts before a.
  auto stretch_of = [&](std::size_t c, std::size_t pos, bool strict) -> stretch& {
    const auto& v = cuts[c];
    auto it = strict ? std::lower_bound(v.begin(), v.end(), pos)
                     : std::upper_bound(v.begin(), v.end(), pos);
    return st[c][static_cast<std::size_t>(it - v.begin())];
  };
  std::vector<msr_index> msrs_seen;
  auto row = [&](msr_index m) -> ground_truth_row& {
    for (auto& r : out.rows) {
      if (r.msr == m) return r;
    }
    out.rows.push_back({m});
    return out.rows.back();
  };
  std::vector<bool> cpu_has(cpus, false);
  for (std::size_t i = 0; i < imp.trace.expected.size(); ++i) {
    const auto& w = imp.trace.expected[i];
    if (w.cpu >= cpus) continue;
    const std::size_t line = i < imp.expected_lines.size() ? imp.expected_lines[i] : 0;
    stretch_of(w.cpu, static_cast<std::size_t>(w.before_event), true)
        .actual.push_back({w.msr, w.value, line});
    ++row(w.msr).actual;
    ++out.actual;
    cpu_has[w.cpu] = true;
  }
  for (const auto& w : predicted) {
    if (w.cpu >= cpus || w.slot >= msr_count) continue;
    const auto ev = static_cast<std::size_t>(w.event);
    const std::size_t line = ev < imp.sources.size() ? imp.sources[ev].line : 0;
    const msr_index m = slot_msrs[w.slot];
    stretch_of(w.cpu, ev, false).predicted.push_back({m, w.value, line});
    ++row(m).predicted;
    ++out.predicted;
    cpu_has[w.cpu] = true;
  }
  for (bool b : cpu_has) out.cpus_with_writes += b ? 1u : 0u;
  std::sort(out.rows.begin(), out.rows.end(),
            [](const ground_truth_row& a, const ground_truth_row& b) { return a.msr < b.msr; });

  auto same = [](const write_ref& a, const write_ref& b) {
    return a.msr == b.msr && a.value == b.value;
  };
  for (std::uint32_t c = 0; c < cpus; ++c) {
    for (const auto& s : st[c]) {
      if (s.actual.size() == s.predicted.size() &&
          std::equal(s.actual.begin(), s.actual.end(), s.predicted.begin(), same)) {
        continue;
      }
      auto reason = difference_reason::unexplained;
      if (s.first) {
        reason = difference_reason::trace_start;
      } else if (s.starts_at_gap || s.ends_at_gap) {
        reason = difference_reason::gap;
      } else {
        for (std::size_t i = s.begin; i < s.end && i < imp.sources.size(); ++i) {
          const auto& e = events[i];
          if (e.cpu == c && e.kind == event_kind::user &&
              imp.sources[i].origin == event_origin::probable_return) {
            reason = difference_reason::probable_return;
            break;
          }
        }
        if (reason == difference_reason::unexplained) {
          for (const auto& vc : imp.value_changes) {
            if (vc.cpu == c && vc.after > s.begin && vc.after <= s.end) {
              reason = difference_reason::value_changed;
              break;
            }
          }
        }
      }
      std::size_t lo = static_cast<std::size_t>(-1), hi = 0;
      for (const auto* v : {&s.actual, &s.predicted}) {
        for (const auto& w : *v) {
          if (w.line != 0) lo = std::min(lo, w.line);
          hi = std::max(hi, w.line);
        }
      }
      if (lo == static_cast<std::size_t>(-1)) lo = 0;
      // Per MSR: multiset difference of values; an order-only mismatch when it is empty.
      msrs_seen.clear();
      for (const auto* v : {&s.actual, &s.predicted}) {
        for (const auto& w : *v) {
          if (std::find(msrs_seen.begin(), msrs_seen.end(), w.msr) == msrs_seen.end()) {
            msrs_seen.push_back(w.msr);
          }
        }
      }
      std::sort(msrs_seen.begin(), msrs_seen.end());
      bool any = false;
      for (auto m : msrs_seen) {
        std::vector<std::uint64_t> a, p;
        for (const auto& w : s.actual) {
          if (w.msr == m) a.push_back(w.value);
        }
        for (const auto& w : s.predicted) {
          if (w.msr == m) p.push_back(w.value);
        }
        std::sort(a.begin(), a.end());
        std::sort(p.begin(), p.end());
        std::size_t common = 0;
        for (std::size_t i = 0, j = 0; i < a.size() && j < p.size();) {
          if (a[i] == p[j]) {
            ++common, ++i, ++j;
          } else if (a[i] < p[j]) {
            ++i;
          } else {
            ++j;
          }
        }
        ground_truth_difference d{reason, c,  m, p.size() - common, a.size() - common,
                                  false,  lo, hi};
        if (d.extra == 0 && d.missing == 0) continue;
        any = true;
        auto& r = row(m);
        if (reason == difference_reason::unexplained) {
          r.unexplained_extra += d.extra;
          r.unexplained_missing += d.missing;
        } else {
          r.explained_extra += d.extra;
          r.explained_missing += d.missing;
        }
        out.differences.push_back(d);
      }
      if (!any) {
        out.differences.push_back({reason, c, msr_index{}, 0, 0, true, lo, hi});
      }
    }
  }
  return out;
}

/// The ground-truth block `uret-bench --trace` prints: per MSR, KVM's writes (msr:write_msr)
/// beside the strategy's, then each difference with its explanation. Plain text, one table.
[[nodiscard]] inline std::string format_ground_truth(const imported_trace& imp,
                                                     const ground_truth_comparison& cmp,
                                                     std::string_view strategy = "user-return") {
  using detail::cat, detail::dec, detail::pad, detail::plus_minus;
  auto signed_diff = [](std::size_t p, std::size_t a) {
    return p >= a ? cat({"+", dec(p - a)}) : cat({"-", dec(a - p)});
  };
  std::string o =
      cat({"Ground truth: KVM's WRMSRs (msr:write_msr) vs the ", strategy, " strategy\n"});
  const std::size_t w = std::max<std::size_t>(12, strategy.size());
  cat(o, {"  ", pad("MSR", 14, false), pad("KVM", 8, true), "  ", pad(strategy, w, true),
          pad("diff", 8, true), pad("explained", 12, true), pad("unexplained", 14, true), "\n"});
  for (const auto& r : cmp.rows) {
    cat(o, {"  ", pad(msr_token(r.msr), 14, false), pad(dec(r.actual), 8, true), "  ",
            pad(dec(r.predicted), w, true), pad(signed_diff(r.predicted, r.actual), 8, true),
            pad(plus_minus(r.explained_extra, r.explained_missing), 12, true),
            pad(plus_minus(r.unexplained_extra, r.unexplained_missing), 14, true), "\n"});
  }
  cat(o, {"  ", pad("all", 14, false), pad(dec(cmp.actual), 8, true), "  ",
          pad(dec(cmp.predicted), w, true), pad(signed_diff(cmp.predicted, cmp.actual), 8, true),
          "\n"});
  if (cmp.exact()) {
    cat(o, {"  difference: none. Every traced WRMSR predicted, same value, same order (",
            dec(cmp.actual), " writes on ", dec(cmp.cpus_with_writes), " CPUs).\n"});
    return o;
  }
  // One line per stretch (consecutive differences share CPU, lines and reason), at most 12.
  o += "  differences (+ predicted only, - traced only), by stretch of a CPU's events:\n";
  std::size_t shown = 0, stretches = 0;
  for (std::size_t i = 0; i < cmp.differences.size();) {
    const auto& d = cmp.differences[i];
    std::size_t j = i, extra = 0, missing = 0;
    std::string per_msr;
    for (; j < cmp.differences.size(); ++j) {
      const auto& e = cmp.differences[j];
      if (e.cpu != d.cpu || e.first_line != d.first_line || e.last_line != d.last_line ||
          e.reason != d.reason) {
        break;
      }
      extra += e.extra;
      missing += e.missing;
      if (e.order_only) {
        per_msr += " same writes in another order";
      } else {
        cat(per_msr, {" ", msr_token(e.msr), " ", plus_minus(e.extra, e.missing)});
      }
    }
    ++stretches;
    if (shown < 12) {
      ++shown;
      cat(o,
          {"    ", pad(to_string(d.reason), 16, false), "CPU ", dec(d.cpu), "  ",
           plus_minus(extra, missing), "  trace lines ", dec(d.first_line), "-", dec(d.last_line)});
      if (d.reason == difference_reason::gap) {
        for (const auto& g : imp.gaps) {
          if (g.cpu == d.cpu && g.line + 1 >= d.first_line && g.line <= d.last_line + 1) {
            cat(o, {" (", to_string(g.kind), " at line ", dec(g.line), ")"});
            break;
          }
        }
      }
      cat(o, {":", per_msr, "\n"});
    }
    i = j;
  }
  if (stretches > shown) cat(o, {"    ... ", dec(stretches - shown), " more stretches\n"});
  for (auto reason : {difference_reason::trace_start, difference_reason::gap,
                      difference_reason::probable_return, difference_reason::value_changed}) {
    std::size_t extra = 0, missing = 0;
    for (const auto& d : cmp.differences) {
      if (d.reason == reason) extra += d.extra, missing += d.missing;
    }
    if (extra + missing == 0) continue;
    cat(o, {"  explained by ", to_string(reason), ": ", plus_minus(extra, missing), "\n"});
  }
  cat(o, {"  unexplained: ", dec(cmp.unexplained()), " write(s)\n"});
  return o;
}

/// A strategy's run on an imported trace and its comparison with the trace's ground truth.
struct ground_truth_check {
  run_result run;  ///< the run (with every write recorded)
  ground_truth_comparison comparison;
  std::string block;  ///< format_ground_truth() of the comparison
};

/// Runs `imp.trace` under `s` (user-return: what KVM VMX/SVM does) with every write recorded and
/// compares the writes with the trace's msr:write_msr ground truth. This is what
/// `uret-bench --trace` prints below its table.
///
///     auto imp = uret::sim::import_trace(text);
///     if (imp.has_ground_truth()) {
///       auto gt = uret::sim::check_ground_truth(imp);
///       std::fputs(gt.block.c_str(), stdout);           // zero difference: gt.comparison.exact()
///     }
[[nodiscard]] inline ground_truth_check check_ground_truth(const imported_trace& imp,
                                                           strategy s = strategy::user_return,
                                                           run_options options = {}) {
  options.record_writes = true;
  ground_truth_check r{run(imp.trace, s, options), {}, {}};
  r.comparison = compare_ground_truth(imp, r.run.writes);
  r.block = format_ground_truth(imp, r.comparison, to_string(s));
  return r;
}

}  // namespace uret::sim
