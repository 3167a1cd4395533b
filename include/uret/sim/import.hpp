// uret/sim/import.hpp - import a real KVM host's trace (ftrace text, `trace-cmd report`,
// `perf script`) into the simulator's replay format (`uret-replay 1`, docs/replay-format.md),
// and compare what KVM really wrote (msr:write_msr) with what a strategy predicts.
//
// The importer reads the text in two passes. The first parses every line (see
// uret/sim/detail/import_parse.hpp for the grammars) into compact records and learns each
// thread's name and role; the second runs a small per-CPU state machine over the records and
// writes replay events. The mapping, documented in docs/traces.md:
//
//  - kvm_entry / kvm_exit of a thread              -> `enter` / `exit` (the thread is a vCPU);
//  - kvm_userspace_exit of a vCPU thread, and any
//    task's syscall return (raw_syscalls:sys_exit,
//    syscalls:sys_exit_*)                           -> `user` (return to user mode);
//  - sched_switch to the idle task, a kernel thread
//    (kworker/, ksoftirqd/, ..., vhost-*, iou-*),
//    or a vCPU thread that is inside KVM_RUN        -> `switch` only;
//  - sched_switch to any other user task            -> `switch`, then a *probable* `user`
//                                                      (import_options::switch_to_user_task_returns);
//  - sched_migrate_task, or a thread seen on a
//    new CPU                                        -> `migrate`;
//  - lost events, a buffer that started late, or an
//    impossible transition (a thread running on two
//    CPUs, an entry without an exit, a switch from a
//    thread that was not running)                   -> `unknown` on that CPU (a gap);
//  - msr:write_msr of a user-return MSR             -> `expect-wrmsr` (ground truth), and the
//                                                      value becomes the CPU's host value (after
//                                                      a return to user) or the vCPU's guest value
//                                                      (before an entry).
//
// Nothing here throws; lines that cannot be parsed are counted and a few are kept for the
// report. Standard library only.
#pragma once

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "uret/msr.hpp"
#include "uret/sim/detail/import_parse.hpp"

namespace uret::sim {

/// How the importer maps a trace. The defaults suit a Linux guest on a Linux host.
struct import_options {
  /// A switch to a user task (not the idle task, not a kernel thread, not a vCPU thread inside
  /// KVM_RUN) counts as a probable return to user mode on that CPU: the task was preempted or
  /// blocked in the kernel and will, in all likelihood, go back to user space before anything
  /// else is traced. Turn it off when the trace records every syscall return.
  bool switch_to_user_task_returns = true;
  /// Task-name prefixes that name kernel threads, in addition to the built-in list
  /// (kworker/, ksoftirqd/, migration/, rcu, cpuhp/, irq/, vhost-, iou-, ...).
  std::vector<std::string> kernel_thread_prefixes;
  /// vCPU kind written to the replay: "auto" (svm when the thread's exit reasons are SVM's,
  /// else vmx), or one of vmx, svm, sev-es, tdx.
  std::string vcpu_kind = "auto";
  /// The MSRs whose msr:write_msr events are ground truth (KVM's user-return MSRs); writes of
  /// any other MSR are counted and ignored.
  std::vector<msr_index> user_return_msrs = {msrs::star,     msrs::lstar,        msrs::cstar,
                                             msrs::syscall_mask, msrs::tsc_aux, msrs::efer,
                                             msrs::tsx_ctrl};
  /// When the trace carries no msr:write_msr for a vCPU: the MSRs whose guest value differs
  /// from the host's (a Linux guest on a Linux host: LSTAR and TSC_AUX). Their guest values are
  /// synthetic (see `synthetic_guest_value`); the other MSRs get the host's value.
  std::vector<msr_index> differing_msrs = {msrs::lstar, msrs::tsc_aux};
  /// How many unparsed lines the statistics keep, verbatim, for the report.
  std::size_t unparsed_shown = 5;
  /// Name of the input, written into the replay's comments.
  std::string source = "trace";
  /// Append "# line N" to every replay event (the trace line it came from).
  bool line_comments = true;
};

/// A line the importer could not parse: its number (from 1) and text.
struct unparsed_line {
  std::size_t line = 0;
  std::string text;
};

/// Why the importer marked a CPU's MSR values unknown.
enum class gap_kind : std::uint8_t {
  lost_events,      ///< "CPU:N [LOST n EVENTS]" / "[n EVENTS DROPPED]"
  buffer_started,   ///< "##### CPU N buffer started ####": earlier events were overwritten
  missed_switch,    ///< an event from a thread that, by the trace, was not running there
  missed_exit,      ///< an entry (or a switch, or a return) while the vCPU was in guest mode
  missed_entry,     ///< an exit of a vCPU that was not in guest mode
  task_on_two_cpus, ///< a thread appeared on a CPU while still running on another
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

/// One gap: the CPU, the trace line, the kind, and the index of the `unknown` event.
struct import_gap {
  std::uint32_t cpu = 0;
  std::size_t line = 0;
  gap_kind kind = gap_kind::lost_events;
  std::size_t event = 0;
};

/// Replay operations the importer writes (the event names of docs/replay-format.md).
enum class replay_op : std::uint8_t { switch_to, enter, exit, user, migrate, unknown };

/// Where a replay event came from.
enum class event_origin : std::uint8_t {
  trace,            ///< a traced event
  probable_return,  ///< the switch-to-user-task heuristic
  trace_start,      ///< synthesised: the vCPU was already in guest mode when the trace began
  gap_repair,       ///< synthesised after a gap to keep the event sequence legal
};

/// Outcome of a TD exit (only written for tdx vCPUs).
enum class exit_outcome : std::uint8_t { real, early_fail };

/// One replay event.
struct replay_event {
  replay_op op = replay_op::switch_to;
  std::uint32_t cpu = 0;
  std::uint32_t task = 0;  ///< index into imported_trace::tasks (switch, migrate; the actor otherwise)
  exit_outcome outcome = exit_outcome::real;
  event_origin origin = event_origin::trace;
  std::size_t line = 0;    ///< trace line (from 1)
};

/// A task of the replay.
struct imported_task {
  enum class kind : std::uint8_t { idle, kernel, user, vcpu };
  std::string name;        ///< replay name ("idle" for the idle tasks, "CPU_0/KVM-4321")
  std::string comm;        ///< name as traced
  std::uint32_t tid = 0;
  kind role = kind::user;
  std::string vcpu_kind;   ///< vmx | svm | sev-es | tdx, for vCPUs
  std::int64_t vcpu_id = -1;
  std::int64_t first_cpu = -1;  ///< CPU the task is declared on (-1: never ran)
};

/// A WRMSR KVM issued, from msr:write_msr: the ground truth.
struct expected_write {
  std::uint32_t cpu = 0;
  msr_index msr{};
  std::uint64_t value = 0;
  std::size_t line = 0;
  /// Number of replay events written before it (the annotation follows event `after - 1`).
  std::size_t after = 0;
};

/// An MSR value the importer learned (or chose) for a CPU's host or a vCPU's guest.
struct msr_value {
  msr_index msr{};
  std::uint64_t value = 0;
  bool from_trace = true;  ///< false: synthetic (no msr:write_msr for it)
};

/// What the import saw.
struct import_stats {
  std::size_t lines = 0;             ///< all lines
  std::size_t comments = 0;          ///< blank, comment and header lines
  std::size_t parsed = 0;            ///< event lines of the events the importer uses
  std::size_t ignored = 0;           ///< well-formed event lines of other events
  std::size_t unparsed = 0;          ///< everything else (never fatal)
  std::size_t dash_form_lines = 0;   ///< "comm-tid" lines (ftrace, trace-cmd report)
  std::size_t perf_form_lines = 0;   ///< "comm tid" lines (perf script)
  std::size_t events = 0;            ///< replay events written
  std::size_t returns = 0;           ///< `user` events from the trace
  std::size_t probable_returns = 0;  ///< `user` events from the switch heuristic
  std::size_t synthetic = 0;         ///< events synthesised at trace start or after gaps
  std::size_t gaps = 0;              ///< `unknown` events
  std::size_t msr_writes = 0;        ///< ground-truth writes (user-return MSRs, not faulted)
  std::size_t other_msr_writes = 0;  ///< msr:write_msr of other MSRs (ignored)
  std::size_t faulted_msr_writes = 0;
  std::size_t unclassified_msr_writes = 0;  ///< neither after a return nor before an entry
  std::size_t host_value_changes = 0;   ///< a host value differed from the first one learned
  std::size_t guest_value_changes = 0;  ///< a guest value differed from the first one learned
  double seconds = 0;                   ///< wall time of the import
  std::vector<unparsed_line> first_unparsed;
};

/// The result of an import: the replay text and everything needed to check it.
struct imported_trace {
  std::string replay;  ///< `uret-replay 1` text, ready for the simulator's parser
  std::uint32_t cpus = 1;
  std::vector<imported_task> tasks;
  std::vector<replay_event> events;
  std::vector<expected_write> ground_truth;
  std::vector<import_gap> gaps;
  /// host[cpu]: the host values learned for that CPU.
  std::vector<std::vector<msr_value>> host;
  /// guest[task]: the guest values of a vCPU task (empty for other tasks).
  std::vector<std::vector<msr_value>> guest;
  import_stats stats;

  /// True when the trace carried msr:write_msr events of user-return MSRs.
  [[nodiscard]] bool has_ground_truth() const noexcept { return !ground_truth.empty(); }
};

/// The guest value the importer invents for `msr` of a vCPU when the trace has no
/// msr:write_msr for it and `msr` is one of import_options::differing_msrs: LSTAR a guest
/// kernel's entry address, TSC_AUX the vCPU id with bit 31 set (never a host CPU number),
/// any other MSR the host value with bit 0 of the upper word flipped.
[[nodiscard]] constexpr std::uint64_t synthetic_guest_value(msr_index msr, std::uint64_t host,
                                                            std::int64_t vcpu_id) noexcept {
  if (msr == msrs::lstar) return 0xffffffff81e00040ull;
  if (msr == msrs::tsc_aux) {
    return 0x80000000ull | static_cast<std::uint64_t>(vcpu_id < 0 ? 0 : vcpu_id);
  }
  return host ^ 0x100000000ull;
}

namespace detail {

inline constexpr std::string_view builtin_kernel_thread_prefixes[] = {
    "kworker/", "ksoftirqd/", "migration/", "rcu_", "rcuc/", "rcuog/", "rcuop/", "rcub/",
    "kthreadd", "cpuhp/", "idle_inject/", "irq/", "watchdog", "kswapd", "kcompactd",
    "khugepaged", "kauditd", "khungtaskd", "oom_reaper", "kblockd", "kdevtmpfs", "kintegrityd",
    "jbd2/", "ext4-rsv", "xfsaild/", "scsi_eh_", "nvme-", "writeback", "ksmd", "kthrotld",
    "pool_workqueue", "napi/", "kvm-nx-lpage", "kvm-pit/", "vhost-", "iou-", "kcryptd",
    "dmcrypt_write", "md", "kstrp", "edac-poller", "ipv6_addrconf", "zswap", "hwrng",
};

/// A user-facing, space-free name for a task: the traced name with blanks and '#' replaced by
/// '_', then "-<tid>".
inline std::string replay_task_name(std::string_view comm, std::uint32_t tid) {
  std::string n;
  if (comm.empty() || comm == "<...>") comm = "task";
  n.reserve(comm.size() + 12);
  for (char c : comm) {
    bool ok = (c > ' ' && c < 0x7f && c != '#' && c != '=');
    n.push_back(ok ? c : '_');
  }
  n.push_back('-');
  n += std::to_string(tid);
  return n;
}

inline void append_hex(std::string& out, std::uint64_t v) {
  static constexpr char digits[] = "0123456789abcdef";
  char buf[18];
  int n = 0;
  do {
    buf[n++] = digits[v & 0xf];
    v >>= 4;
  } while (v != 0);
  out += "0x";
  while (n > 0) out.push_back(buf[--n]);
}

inline void append_msr(std::string& out, msr_index m) {
  auto name = msr_name(m);
  if (!name.empty()) {
    out += name;
  } else {
    append_hex(out, m.value);
  }
}

/// The two-pass importer. One object per import.
class trace_importer {
 public:
  explicit trace_importer(const import_options& o) : opt_(o) {
    imported_task idle;
    idle.name = "idle";
    idle.comm = "swapper";
    idle.role = imported_task::kind::idle;
    out_.tasks.push_back(idle);
    info_.push_back({});
    by_tid_.emplace(0u, 0u);
  }

  imported_trace run(std::string_view text) {
    auto t0 = std::chrono::steady_clock::now();
    scan(text);
    classify();
    map();
    render();
    out_.stats.events = out_.events.size();
    out_.stats.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return std::move(out_);
  }

 private:
  enum class rec : std::uint8_t {
    entry, exit, uexit, fpu_load, fpu_unload, sched_switch, sys_exit, sys_enter, migrate,
    wrmsr, rdmsr, lost_events, buffer_started, other
  };
  struct record {
    rec kind = rec::other;
    bool flag = false;        // exit: failed VM entry; msr: faulted
    std::uint32_t cpu = 0;
    std::uint32_t task = 0;   // the line's task (sched_switch: prev)
    std::uint32_t task2 = 0;  // sched_switch: next; migrate: the migrating task
    std::uint32_t aux = 0;    // msr index; migrate: destination CPU
    std::uint64_t value = 0;  // msr value
    std::size_t line = 0;
  };
  struct task_info {
    bool kvm = false;       // kvm_entry / kvm_exit / kvm_userspace_exit / kvm_fpu
    bool syscalls = false;  // syscall events: certainly a user task
    bool svm = false;
    bool vmx = false;
  };
  enum class pending : std::uint8_t { none, certain, probable };
  struct task_state {
    std::int64_t home = -1;        // CPU the simulator believes the task is on
    std::int64_t running_on = -1;  // CPU the simulator believes it is running on
    bool in_guest = false;
    bool entered = false;
    bool in_run = true;  // a vCPU thread inside KVM_RUN (switching to it is not a return)
    pending ret = pending::none;
  };
  struct cpu_state {
    std::uint32_t current = 0;  // the simulator's running task (0: idle)
    bool known = false;         // the importer knows which task runs
    bool restore_window = false;
    bool fresh_gap = false;  // a gap was marked and no event has been mapped since
    std::uint32_t window_msrs = 0;
  };

  // ---- pass 1 ------------------------------------------------------------------------------

  std::uint32_t task_of(std::uint32_t tid, std::string_view comm) {
    if (tid == 0) return 0;
    auto [it, fresh] = by_tid_.emplace(tid, static_cast<std::uint32_t>(out_.tasks.size()));
    if (fresh) {
      imported_task t;
      t.tid = tid;
      t.comm = std::string(comm);
      out_.tasks.push_back(std::move(t));
      info_.push_back({});
    } else {
      auto& t = out_.tasks[it->second];
      if ((t.comm.empty() || t.comm == "<...>") && !comm.empty() && comm != "<...>") {
        t.comm = std::string(comm);
      }
    }
    return it->second;
  }

  void note_cpu(std::uint32_t cpu) {
    if (cpu + 1 > out_.cpus) out_.cpus = cpu + 1;
  }

  void unparsed(std::size_t no, std::string_view line) {
    ++out_.stats.unparsed;
    if (out_.stats.first_unparsed.size() < opt_.unparsed_shown) {
      out_.stats.first_unparsed.push_back({no, std::string(line)});
    }
  }

  void scan(std::string_view text) {
    std::size_t no = 0;
    std::size_t pos = 0;
    records_.reserve(text.size() / 80 + 16);
    while (pos < text.size()) {
      auto nl = text.find('\n', pos);
      auto line = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
      pos = nl == std::string_view::npos ? text.size() : nl + 1;
      ++no;
      scan_line(trim_right(line), no);
    }
    out_.stats.lines = no;
  }

  void scan_line(std::string_view line, std::size_t no) {
    if (trim_left(line).empty() || trim_left(line).front() == '#') {
      std::uint32_t cpu = 0;
      if (parse_lost_line(line, cpu)) {  // "##### CPU n buffer started ####"
        note_cpu(cpu);
        records_.push_back({rec::buffer_started, false, cpu, 0, 0, 0, 0, no});
        ++out_.stats.parsed;
        return;
      }
      ++out_.stats.comments;
      return;
    }
    trace_line tl;
    if (!parse_trace_line(line, tl)) {
      std::uint32_t cpu = 0;
      if (parse_lost_line(line, cpu)) {
        note_cpu(cpu);
        records_.push_back({rec::lost_events, false, cpu, 0, 0, 0, 0, no});
        ++out_.stats.parsed;
        return;
      }
      auto t = trim_left(line);
      std::uint64_t n = 0;
      if (starts_with(t, "cpus=") && parse_dec(t.substr(5), n) && n > 0 && n <= 0x10000) {
        if (n > out_.cpus) out_.cpus = static_cast<std::uint32_t>(n);
        ++out_.stats.comments;
        return;
      }
      if (starts_with(t, "version =") || (starts_with(t, "CPU ") && t.find(" is empty") != std::string_view::npos)) {
        ++out_.stats.comments;
        return;
      }
      unparsed(no, line);
      return;
    }
    (tl.form == line_form::comm_dash_tid ? out_.stats.dash_form_lines : out_.stats.perf_form_lines)++;
    record r;
    r.cpu = tl.cpu;
    r.line = no;
    auto ev = tl.event;
    auto p = tl.payload;
    bool ok = true;
    if (ev == "kvm_entry") {
      kvm_entry_payload e;
      ok = parse_kvm_entry(p, e);
      r.kind = rec::entry;
      if (ok) {
        r.task = task_of(tl.tid, tl.comm);
        note_vcpu(r.task, e.vcpu);
      }
    } else if (ev == "kvm_exit") {
      kvm_exit_payload e;
      ok = parse_kvm_exit(p, e);
      r.kind = rec::exit;
      if (ok) {
        r.task = task_of(tl.tid, tl.comm);
        r.flag = e.failed_vmentry;
        note_vcpu(r.task, e.vcpu);
        (e.svm ? info_[r.task].svm : info_[r.task].vmx) = true;
      }
    } else if (ev == "kvm_userspace_exit") {
      kvm_userspace_exit_payload e;
      ok = parse_kvm_userspace_exit(p, e);
      r.kind = rec::uexit;
      if (ok) {
        r.task = task_of(tl.tid, tl.comm);
        note_vcpu(r.task, -1);
        ++userspace_exits_;
      }
    } else if (ev == "kvm_fpu") {
      bool load = false;
      ok = parse_kvm_fpu(p, load);
      r.kind = load ? rec::fpu_load : rec::fpu_unload;
      if (ok) {
        r.task = task_of(tl.tid, tl.comm);
        note_vcpu(r.task, -1);
      }
    } else if (ev == "sched_switch") {
      sched_switch_payload s;
      ok = parse_sched_switch(p, s);
      r.kind = rec::sched_switch;
      if (ok) {
        task_of(tl.tid, tl.comm);
        r.task = task_of(s.prev_tid, s.prev_comm);
        r.task2 = task_of(s.next_tid, s.next_comm);
      }
    } else if (ev == "sched_migrate_task") {
      sched_migrate_payload m;
      ok = parse_sched_migrate(p, m);
      r.kind = rec::migrate;
      if (ok) {
        r.task = task_of(tl.tid, tl.comm);
        r.task2 = task_of(m.tid, m.comm);
        r.aux = m.dest_cpu;
        note_cpu(m.dest_cpu);
      }
    } else if (ev == "sys_exit" || starts_with(ev, "sys_exit_")) {
      ok = parse_sys_exit(p);
      r.kind = rec::sys_exit;
      if (ok) {
        r.task = task_of(tl.tid, tl.comm);
        info_[r.task].syscalls = tl.tid != 0;
      }
    } else if (ev == "sys_enter" || starts_with(ev, "sys_enter_")) {
      r.kind = rec::sys_enter;
      r.task = task_of(tl.tid, tl.comm);
      if (tl.tid != 0) info_[r.task].syscalls = true;
    } else if (ev == "write_msr" || ev == "read_msr") {
      msr_payload m;
      ok = parse_msr_access(p, m);
      r.kind = ev == "write_msr" ? rec::wrmsr : rec::rdmsr;
      if (ok) {
        r.task = task_of(tl.tid, tl.comm);
        r.flag = m.faulted;
        r.aux = m.msr;
        r.value = m.value;
      }
    } else {
      task_of(tl.tid, tl.comm);
      ++out_.stats.ignored;
      return;
    }
    if (!ok) {
      unparsed(no, line);
      return;
    }
    note_cpu(tl.cpu);
    ++out_.stats.parsed;
    records_.push_back(r);
  }

  void note_vcpu(std::uint32_t task, std::int64_t vcpu) {
    if (task == 0) return;
    info_[task].kvm = true;
    if (vcpu >= 0) out_.tasks[task].vcpu_id = vcpu;
  }

  // ---- classification ------------------------------------------------------------------------

  [[nodiscard]] bool is_kernel_thread_name(std::string_view comm) const {
    for (auto p : builtin_kernel_thread_prefixes) {
      if (starts_with(comm, p)) {
        // "md" names md RAID threads ("md0_raid1", "md_misc"), not tasks such as "mdadm".
        if (p == "md" && comm.size() > 2 && !is_digit(comm[2]) && comm[2] != '_') continue;
        return true;
      }
    }
    for (const auto& p : opt_.kernel_thread_prefixes) {
      if (!p.empty() && starts_with(comm, p)) return true;
    }
    return false;
  }

  void classify() {
    using k = imported_task::kind;
    for (std::size_t i = 1; i < out_.tasks.size(); ++i) {
      auto& t = out_.tasks[i];
      const auto& in = info_[i];
      if (in.kvm) {
        t.role = k::vcpu;
        if (opt_.vcpu_kind == "auto" || opt_.vcpu_kind.empty()) {
          t.vcpu_kind = (in.svm && !in.vmx) ? "svm" : "vmx";
        } else {
          t.vcpu_kind = opt_.vcpu_kind;
        }
      } else if (in.syscalls) {
        t.role = k::user;
      } else {
        t.role = is_kernel_thread_name(t.comm) ? k::kernel : k::user;
      }
      t.name = replay_task_name(t.comm, t.tid);
    }
    state_.assign(out_.tasks.size(), {});
    cpu_.assign(out_.cpus, {});
    out_.host.assign(out_.cpus, {});
    out_.guest.assign(out_.tasks.size(), {});
    host_hint_.assign(out_.cpus, {});
  }

  [[nodiscard]] bool is_vcpu(std::uint32_t t) const {
    return out_.tasks[t].role == imported_task::kind::vcpu;
  }
  [[nodiscard]] bool is_user_like(std::uint32_t t) const {
    auto r = out_.tasks[t].role;
    return r == imported_task::kind::user || r == imported_task::kind::vcpu;
  }

  // ---- pass 2 ------------------------------------------------------------------------------

  void emit(replay_op op, std::uint32_t cpu, std::uint32_t task, std::size_t line,
            event_origin origin = event_origin::trace, exit_outcome oc = exit_outcome::real) {
    out_.events.push_back({op, cpu, task, oc, origin, line});
    auto& c = cpu_[cpu];
    if (op == replay_op::user) {
      c.restore_window = true;
      c.window_msrs = 0;
      (origin == event_origin::probable_return ? out_.stats.probable_returns
                                               : out_.stats.returns)++;
    } else if (op != replay_op::migrate) {
      c.restore_window = false;
    }
    if (origin == event_origin::trace_start || origin == event_origin::gap_repair) {
      ++out_.stats.synthetic;
    }
  }

  /// Marks `cpu`'s values unknown. `task_known`: the importer still knows who runs there.
  void gap(std::uint32_t cpu, std::size_t line, gap_kind kind, bool task_known) {
    if (!task_known) cpu_[cpu].known = false;
    if (cpu_[cpu].fresh_gap) return;  // the inconsistency is the gap's own consequence
    cpu_[cpu].fresh_gap = true;
    out_.gaps.push_back({cpu, line, kind, out_.events.size()});
    ++out_.stats.gaps;
    emit(replay_op::unknown, cpu, cpu_[cpu].current, line);
    auto cur = cpu_[cpu].current;
    if (cur != 0) state_[cur].ret = pending::none;
  }

  /// Leaves guest mode in the simulator without a traced exit (after a gap).
  void repair_exit(std::uint32_t cpu, std::uint32_t t, std::size_t line) {
    emit(replay_op::exit, cpu, t, line, event_origin::gap_repair);
    state_[t].in_guest = false;
  }

  /// Context switch on `cpu` to `t`. `traced`: a sched_switch (the heuristic applies).
  void switch_to(std::uint32_t cpu, std::uint32_t t, std::size_t line, bool traced) {
    auto cur = cpu_[cpu].current;
    if (cur == t) return;
    if (cur != 0 && state_[cur].in_guest) {
      if (cpu_[cpu].known) gap(cpu, line, gap_kind::missed_exit, true);
      repair_exit(cpu, cur, line);
    }
    if (t != 0) {
      auto& s = state_[t];
      if (s.running_on >= 0 && s.running_on != cpu) {
        auto d = static_cast<std::uint32_t>(s.running_on);
        gap(d, line, gap_kind::task_on_two_cpus, false);
        if (s.in_guest) repair_exit(d, t, line);
        emit(replay_op::switch_to, d, 0, line, event_origin::gap_repair);
        cpu_[d].current = 0;
        s.running_on = -1;
      }
      if (s.home < 0) {
        s.home = cpu;
        out_.tasks[t].first_cpu = cpu;
      } else if (s.home != cpu) {
        emit(replay_op::migrate, cpu, t, line);
        s.home = cpu;
      }
    }
    if (cur != 0) state_[cur].running_on = -1;
    emit(replay_op::switch_to, cpu, t, line);
    cpu_[cpu].current = t;
    if (t != 0) state_[t].running_on = cpu;
    if (traced && opt_.switch_to_user_task_returns && is_user_like(t) &&
        !(is_vcpu(t) && state_[t].in_run) && state_[t].ret == pending::none) {
      state_[t].ret = pending::probable;
    }
  }

  /// The simulator must run `t` on `cpu`; a different known task there is a missed switch.
  void ensure_current(std::uint32_t cpu, std::uint32_t t, std::size_t line) {
    auto& c = cpu_[cpu];
    if (c.known && c.current == t) return;
    if (c.known) gap(cpu, line, gap_kind::missed_switch, false);
    switch_to(cpu, t, line, false);
    c.known = true;
  }

  void flush_return(std::uint32_t cpu, std::size_t line) {
    auto t = cpu_[cpu].current;
    if (t == 0 || state_[t].ret == pending::none) return;
    auto origin = state_[t].ret == pending::probable ? event_origin::probable_return
                                                     : event_origin::trace;
    state_[t].ret = pending::none;
    emit(replay_op::user, cpu, t, line, origin);
  }

  [[nodiscard]] int ur_index(std::uint32_t msr) const {
    for (std::size_t i = 0; i < opt_.user_return_msrs.size() && i < 32; ++i) {
      if (opt_.user_return_msrs[i].value == msr) return static_cast<int>(i);
    }
    return -1;
  }

  static bool learn(std::vector<msr_value>& vals, msr_index m, std::uint64_t v, std::size_t& changes) {
    for (auto& x : vals) {
      if (x.msr == m) {
        if (x.value != v) ++changes;
        return false;
      }
    }
    vals.push_back({m, v, true});
    return true;
  }

  void on_msr_write(const record& r) {
    if (r.flag) {
      ++out_.stats.faulted_msr_writes;
      return;
    }
    int idx = ur_index(r.aux);
    if (idx < 0) {
      ++out_.stats.other_msr_writes;
      return;
    }
    msr_index m{r.aux};
    auto& c = cpu_[r.cpu];
    auto bit = std::uint32_t{1} << static_cast<unsigned>(idx);
    if (c.restore_window && (c.window_msrs & bit) == 0) {
      c.window_msrs |= bit;
      learn(out_.host[r.cpu], m, r.value, out_.stats.host_value_changes);
    } else {
      c.restore_window = false;
      auto t = c.current;
      if (t != 0 && is_vcpu(t) && !state_[t].in_guest && state_[t].in_run) {
        learn(out_.guest[t], m, r.value, out_.stats.guest_value_changes);
      } else {
        ++out_.stats.unclassified_msr_writes;
      }
    }
    ++out_.stats.msr_writes;
    out_.ground_truth.push_back({r.cpu, m, r.value, r.line, out_.events.size()});
  }

  void map() {
    for (const auto& r : records_) {
      auto cpu = r.cpu;
      if (r.kind == rec::lost_events || r.kind == rec::buffer_started) {
        gap(cpu, r.line, r.kind == rec::lost_events ? gap_kind::lost_events : gap_kind::buffer_started,
            false);
        continue;
      }
      auto& c = cpu_[cpu];
      bool msr_event = r.kind == rec::wrmsr || r.kind == rec::rdmsr;
      if (!msr_event) c.restore_window = false;
      // Any event on the CPU ends a pending return of the task running there, except that
      // task's own syscall return, which is the return.
      if (c.known && c.current == r.task && !(r.kind == rec::sys_exit)) flush_return(cpu, r.line);
      if (r.kind == rec::sched_switch) {
        if (c.known && c.current != r.task) gap(cpu, r.line, gap_kind::missed_switch, false);
        switch_to(cpu, r.task2, r.line, true);
        c.known = true;
        c.fresh_gap = false;
        continue;
      }
      ensure_current(cpu, r.task, r.line);
      auto t = r.task;
      auto& s = state_[t];
      switch (r.kind) {
        case rec::entry:
          if (s.in_guest) {
            gap(cpu, r.line, gap_kind::missed_exit, true);
            repair_exit(cpu, t, r.line);
          }
          emit(replay_op::enter, cpu, t, r.line);
          s.in_guest = s.entered = s.in_run = true;
          break;
        case rec::exit:
          if (!s.in_guest) {
            if (s.entered) {
              gap(cpu, r.line, gap_kind::missed_entry, true);
              emit(replay_op::enter, cpu, t, r.line, event_origin::gap_repair);
            } else {
              emit(replay_op::enter, cpu, t, r.line, event_origin::trace_start);
            }
            s.entered = true;
          }
          emit(replay_op::exit, cpu, t, r.line, event_origin::trace,
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
        case rec::fpu_load:
          s.in_run = true;
          break;
        case rec::fpu_unload:
          if (userspace_exits_ == 0 && t != 0) {  // no kvm_userspace_exit in the trace
            s.in_run = false;
            s.ret = pending::certain;
          }
          break;
        case rec::sys_exit:
          if (s.in_guest) {
            gap(cpu, r.line, gap_kind::missed_exit, true);
            repair_exit(cpu, t, r.line);
          }
          s.ret = pending::none;
          if (t != 0) {
            s.in_run = false;
            emit(replay_op::user, cpu, t, r.line);
          }
          break;
        case rec::migrate: {
          auto& m = state_[r.task2];
          if (r.task2 != 0 && m.running_on < 0 && r.aux < out_.cpus) {
            if (m.home < 0) {
              m.home = r.aux;
              out_.tasks[r.task2].first_cpu = r.aux;
            } else if (m.home != static_cast<std::int64_t>(r.aux)) {
              emit(replay_op::migrate, r.aux, r.task2, r.line);
              m.home = r.aux;
            }
          }
          break;
        }
        case rec::wrmsr:
          on_msr_write(r);
          break;
        case rec::rdmsr:
          if (!r.flag && ur_index(r.aux) >= 0) {
            std::size_t ignored = 0;
            learn(host_hint_[cpu], msr_index{r.aux}, r.value, ignored);
          }
          break;
        default:
          break;
      }
      c.fresh_gap = false;
    }
    // Host values never written after a return but read by KVM (CPU online): use the reads.
    for (std::uint32_t cpu = 0; cpu < out_.cpus; ++cpu) {
      for (const auto& h : host_hint_[cpu]) {
        std::size_t ignored = 0;
        learn(out_.host[cpu], h.msr, h.value, ignored);
      }
    }
  }

  // ---- output ----------------------------------------------------------------------------

  void render_event(std::string& s, const replay_event& e) const {
    const auto& task = out_.tasks[e.task];
    switch (e.op) {
      case replay_op::switch_to:
        s += "switch ";
        s += std::to_string(e.cpu);
        s += ' ';
        s += task.name;
        break;
      case replay_op::enter:
        s += "enter ";
        s += std::to_string(e.cpu);
        break;
      case replay_op::exit:
        s += "exit ";
        s += std::to_string(e.cpu);
        if (task.vcpu_kind == "tdx") {
          s += e.outcome == exit_outcome::early_fail ? " early-fail" : " real";
        }
        break;
      case replay_op::user:
        s += "user ";
        s += std::to_string(e.cpu);
        break;
      case replay_op::migrate:
        s += "migrate ";
        s += task.name;
        s += ' ';
        s += std::to_string(e.cpu);
        break;
      case replay_op::unknown:
        s += "unknown ";
        s += std::to_string(e.cpu);
        break;
    }
    if (opt_.line_comments) {
      s += "  # line ";
      s += std::to_string(e.line);
      switch (e.origin) {
        case event_origin::trace: break;
        case event_origin::probable_return: s += " (probable return: switch to a user task)"; break;
        case event_origin::trace_start: s += " (vCPU was in guest mode when the trace began)"; break;
        case event_origin::gap_repair: s += " (after a gap)"; break;
      }
    }
    s.push_back('\n');
  }

  void render() {
    auto& st = out_.stats;
    // Guest values: learned ones, else synthetic for the differing MSRs when the trace
    // carried no write for that vCPU at all.
    for (std::size_t t = 1; t < out_.tasks.size(); ++t) {
      if (!is_vcpu(static_cast<std::uint32_t>(t)) || !out_.guest[t].empty()) continue;
      auto cpu = out_.tasks[t].first_cpu < 0 ? 0u : static_cast<std::uint32_t>(out_.tasks[t].first_cpu);
      for (auto m : opt_.differing_msrs) {
        std::uint64_t host = 0;
        for (const auto& h : out_.host[cpu]) {
          if (h.msr == m) host = h.value;
        }
        out_.guest[t].push_back({m, synthetic_guest_value(m, host, out_.tasks[t].vcpu_id), false});
      }
    }
    std::string& s = out_.replay;
    s.reserve(out_.events.size() * 32 + out_.ground_truth.size() * 48 + 1024);
    s += "# imported by uret-sim import from ";
    s += opt_.source;
    s += "\n# lines ";
    s += std::to_string(st.lines);
    s += ", parsed ";
    s += std::to_string(st.parsed);
    s += ", ignored ";
    s += std::to_string(st.ignored);
    s += ", unparsed ";
    s += std::to_string(st.unparsed);
    s += ", gaps ";
    s += std::to_string(st.gaps);
    s += "\nuret-replay 1\ncpus ";
    s += std::to_string(out_.cpus);
    s += '\n';
    for (std::uint32_t cpu = 0; cpu < out_.cpus; ++cpu) {
      if (out_.host[cpu].empty()) continue;
      s += "host ";
      s += std::to_string(cpu);
      for (const auto& h : out_.host[cpu]) {
        s += ' ';
        append_msr(s, h.msr);
        s += '=';
        append_hex(s, h.value);
      }
      s += '\n';
    }
    for (std::size_t t = 1; t < out_.tasks.size(); ++t) {
      const auto& task = out_.tasks[t];
      if (task.first_cpu < 0) continue;  // never ran: not needed by any event
      s += is_vcpu(static_cast<std::uint32_t>(t)) ? "vcpu " : "task ";
      s += task.name;
      s += ' ';
      s += is_vcpu(static_cast<std::uint32_t>(t))
               ? task.vcpu_kind
               : (task.role == imported_task::kind::kernel ? std::string("kernel") : std::string("user"));
      s += ' ';
      s += std::to_string(task.first_cpu);
      s += "  # ";
      s += task.comm;
      s += '\n';
      if (!out_.guest[t].empty()) {
        s += "guest ";
        s += task.name;
        for (const auto& g : out_.guest[t]) {
          s += ' ';
          append_msr(s, g.msr);
          s += '=';
          append_hex(s, g.value);
        }
        s += out_.guest[t].front().from_trace ? "\n" : "  # synthetic: no msr:write_msr in the trace\n";
      }
    }
    std::size_t gt = 0;
    for (std::size_t i = 0; i <= out_.events.size(); ++i) {
      for (; gt < out_.ground_truth.size() && out_.ground_truth[gt].after == i; ++gt) {
        const auto& w = out_.ground_truth[gt];
        s += "expect-wrmsr ";
        s += std::to_string(w.cpu);
        s += ' ';
        append_msr(s, w.msr);
        s += ' ';
        append_hex(s, w.value);
        if (opt_.line_comments) {
          s += "  # line ";
          s += std::to_string(w.line);
        }
        s += '\n';
      }
      if (i < out_.events.size()) render_event(s, out_.events[i]);
    }
  }

  const import_options& opt_;
  imported_trace out_;
  std::vector<task_info> info_;
  std::unordered_map<std::uint32_t, std::uint32_t> by_tid_;
  std::vector<record> records_;
  std::vector<task_state> state_;
  std::vector<cpu_state> cpu_;
  std::vector<std::vector<msr_value>> host_hint_;
  std::size_t userspace_exits_ = 0;
};

}  // namespace detail

/// Imports the text of a trace (ftrace, trace-cmd report or perf script output; the forms may
/// even be mixed) into a replay. Never fails: what cannot be parsed is counted in the stats.
///
///     auto imp = uret::sim::import_trace(text, {.source = "host.trace"});
///     std::fputs(imp.replay.c_str(), out);           // uret-replay 1
///     if (imp.stats.unparsed) report(imp.stats.first_unparsed);
[[nodiscard]] inline imported_trace import_trace(std::string_view text,
                                                 const import_options& options = {}) {
  return detail::trace_importer(options).run(text);
}

}  // namespace uret::sim
