// SPDX-License-Identifier: MIT
// uret/sim/import/detail/scanner.hpp - the importer's first stage: each line of the trace text,
// as it is read (in chunks of any size), parsed (grammars in parse.hpp) into a compact record,
// each thread named once; at the end of the text each thread is classified as the idle task, a
// kernel thread, a user task or a vCPU thread.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "uret/sim/import/detail/parse.hpp"
#include "uret/sim/import/detail/state.hpp"
#include "uret/sim/import/detail/text.hpp"
#include "uret/sim/import/imported_trace.hpp"
#include "uret/sim/trace.hpp"

namespace uret::sim::detail {

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

/// Stage 1 over an import_state.
class import_scanner : protected import_state {
 protected:
  explicit import_scanner(const import_options& o) : import_state(o) {}

  // ---- stage 1 -----------------------------------------------------------------------------

  // The index of an exit reason's text in imported_trace::exit_reasons, added when new.
  std::uint32_t exit_reason(std::string_view text) {
    const auto found = exit_reason_index_.find(std::string(text));
    if (found != exit_reason_index_.end()) return found->second;
    if (out_.exit_reasons.size() > 0xffff) return 0;
    const auto i = static_cast<std::uint16_t>(out_.exit_reasons.size());
    out_.exit_reasons.emplace_back(text);
    exit_reason_index_.emplace(std::string(text), i);
    return i;
  }

  std::uint32_t task_of(std::uint32_t tid, std::string_view comm) {
    if (tid == 0) return 0;
    // A line names one to three tasks, mostly the few busy ones: a small direct-mapped cache
    // in front of by_tid_ (whose entries are never removed, so a cached index stays right).
    auto& cached = tid_cache_[tid % tid_cache_.size()];
    if (cached.tid == tid) return named(cached.index, comm);
    if (auto it = by_tid_.find(tid); it != by_tid_.end()) {
      cached = {tid, it->second};
      return named(it->second, comm);
    }
    const auto index = static_cast<std::uint32_t>(tasks_.size());
    by_tid_.emplace(tid, index);
    tasks_.push_back({});
    tasks_.back().tid = tid;
    tasks_.back().comm = std::string(comm);
    cached = {tid, index};
    return index;
  }

  /// Task `index`, named `comm` when it had no name yet ("<...>": the tracer did not know it).
  std::uint32_t named(std::uint32_t index, std::string_view comm) {
    auto& t = tasks_[index];
    if (!comm.empty() && (t.comm.empty() || is(t.comm, "<...>")) && !is(comm, "<...>")) {
      t.comm = std::string(comm);
    }
    return index;
  }

  struct cached_tid {
    std::uint32_t tid = 0;  // 0: empty (the idle task is never looked up)
    std::uint32_t index = 0;
  };
  std::array<cached_tid, 256> tid_cache_{};

  void note_cpu(std::uint32_t cpu) {
    if (cpu >= cpus_) cpus_ = cpu + 1;
  }

  void note_vcpu(std::uint32_t task, std::int64_t vcpu) {
    if (task == 0) return;
    tasks_[task].kvm = true;
    if (vcpu >= 0) tasks_[task].vcpu_id = vcpu;
  }

  /// Counts an unparsed line and keeps the first few, cut to import_options::unparsed_width
  /// characters with control and non-ASCII bytes as \xNN. A line that still names its CPU
  /// (`cpu`, or one readable_cpu() finds) is a gap there: an event of that CPU is missing.
  void unparsed(std::size_t no, std::string_view line, std::optional<std::uint32_t> cpu = {}) {
    ++out_.stats.unparsed;
    if (out_.stats.first_unparsed.size() < opt_.unparsed_shown) {
      std::string shown;
      std::size_t i = 0;
      for (; i < line.size() && shown.size() < opt_.unparsed_width; ++i) {
        const auto ch = static_cast<unsigned char>(line[i]);
        if (ch >= 0x20 && ch < 0x7f) {
          shown.push_back(static_cast<char>(ch));
        } else {
          static constexpr char hexd[] = "0123456789abcdef";
          shown += "\\x";
          shown.push_back(hexd[ch >> 4]);
          shown.push_back(hexd[ch & 15]);
        }
      }
      if (i < line.size()) cat(shown, {"... (", dec(line.size()), " bytes)"});
      out_.stats.first_unparsed.push_back({no, std::move(shown)});
    }
    std::uint32_t c = 0;
    if (cpu) {
      c = *cpu;
    } else if (!readable_cpu(line, c)) {
      return;
    }
    record r;
    r.kind = rec::bad_line;
    r.cpu = c;
    r.line = no;
    note_cpu(c);
    records_.push_back(r);  // a marker, not a parsed line
  }

  /// Keeps each CPU's records in time order: an older record than the CPU's last one is
  /// reported (a gap there, before the record).
  void note_time(const trace_line& tl, std::size_t no) {
    if (tl.time.empty()) return;
    const std::uint64_t t = timestamp_ns(tl.time);
    if (tl.cpu >= last_time_.size()) last_time_.resize(tl.cpu + 1, 0);
    if (t < last_time_[tl.cpu]) {
      record r;
      r.kind = rec::time_backwards;
      r.cpu = tl.cpu;
      r.line = no;
      records_.push_back(r);  // a marker before the record itself
    }
    last_time_[tl.cpu] = t;
  }

  std::vector<std::uint64_t> last_time_;

  void add(record r) {
    note_cpu(r.cpu);
    ++out_.stats.parsed;
    note_probe(r);
    records_.push_back(r);
  }

  /// The next piece of the text: any number of bytes, lines may continue in the next piece.
  void feed(std::string_view text) {
    if (!partial_.empty()) {
      const auto nl = text.find('\n');
      if (nl == std::string_view::npos) {
        partial_.append(text.data(), text.size());
        return;
      }
      partial_.append(text.data(), nl);
      next_line(partial_);
      partial_.clear();
      text.remove_prefix(nl + 1);
    }
    const char* p = text.data();
    const char* const end = p + text.size();
    while (p != end) {
      const auto* nl =
          static_cast<const char*>(std::memchr(p, '\n', static_cast<std::size_t>(end - p)));
      if (nl == nullptr) {
        partial_.assign(p, static_cast<std::size_t>(end - p));
        return;
      }
      next_line({p, static_cast<std::size_t>(nl - p)});
      p = nl + 1;
    }
  }

  /// The end of the text (a last line without its newline is a line).
  void end_of_text() {
    if (!partial_.empty()) next_line(partial_);
    partial_.clear();
    partial_.shrink_to_fit();
    out_.stats.lines = line_no_;
  }

  void next_line(std::string_view line) { scan_line(trim_right(line), ++line_no_); }

  std::string partial_;      // the start of a line whose end is in the next piece
  std::size_t line_no_ = 0;  // lines so far

  void scan_line(std::string_view line, std::size_t no) {
    std::uint32_t lost_cpu = 0;
    const auto lead = trim_left(line);
    if (!lead.empty() && (lead.front() == 'C' || lead.front() == '#') &&
        parse_lost_line(lead, lost_cpu)) {
      record r;
      r.kind = line.front() == '#' ? rec::buffer_started : rec::lost_events;
      r.cpu = lost_cpu;
      r.line = no;
      add(r);
      return;
    }
    if (lead.empty() || lead.front() == '#') {
      // scripts/record-kvm-trace.sh names the events it recorded.
      if (starts_with(lead, "# uret-record:") &&
          lead.find("msr/write_msr") != std::string_view::npos) {
        out_.write_msr_recorded = true;
      }
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
    note_time(tl, no);
    record r;
    r.cpu = tl.cpu;
    r.line = no;
    const auto ev = tl.event;
    const auto p = tl.payload;
    if (is(ev, "kvm_entry")) {
      kvm_entry_payload e;
      if (!parse_kvm_entry(p, e)) return unparsed(no, line, tl.cpu);
      r.kind = rec::entry;
      ++out_.stats.entries;
      r.task = task_of(tl.tid, tl.comm);
      note_vcpu(r.task, e.vcpu);
    } else if (is(ev, "kvm_exit")) {
      kvm_exit_payload e;
      if (!parse_kvm_exit(p, e)) return unparsed(no, line, tl.cpu);
      r.kind = rec::exit;
      r.task = task_of(tl.tid, tl.comm);
      r.flag = e.failed_vmentry;
      r.aux = exit_reason(e.reason);
      note_vcpu(r.task, e.vcpu);
      (e.svm ? tasks_[r.task].svm : tasks_[r.task].vmx) = true;
    } else if (is(ev, "kvm_userspace_exit")) {
      kvm_userspace_exit_payload e;
      if (!parse_kvm_userspace_exit(p, e)) return unparsed(no, line, tl.cpu);
      r.kind = rec::uexit;
      r.task = task_of(tl.tid, tl.comm);
      note_vcpu(r.task, -1);
      ++userspace_exits_;
    } else if (is(ev, "kvm_fpu")) {
      bool load = false;
      if (!parse_kvm_fpu(p, load)) return unparsed(no, line, tl.cpu);
      r.kind = load ? rec::fpu_load : rec::fpu_unload;
      ++fpu_records_;
      r.task = task_of(tl.tid, tl.comm);
      note_vcpu(r.task, -1);
    } else if (is(ev, "sched_switch")) {
      sched_switch_payload sw;
      if (!parse_sched_switch(p, sw)) return unparsed(no, line, tl.cpu);
      r.kind = rec::sched_switch;
      static_cast<void>(task_of(tl.tid, tl.comm));
      r.task = task_of(sw.prev_tid, sw.prev_comm);
      r.task2 = task_of(sw.next_tid, sw.next_comm);
    } else if (is(ev, "sched_migrate_task")) {
      sched_migrate_payload m;
      if (!parse_sched_migrate(p, m)) return unparsed(no, line, tl.cpu);
      r.kind = rec::migrate;
      r.task = task_of(tl.tid, tl.comm);
      r.task2 = task_of(m.tid, m.comm);
      r.aux = m.dest_cpu;
      note_cpu(m.dest_cpu);
    } else if (is(ev, "sys_exit") || starts_with(ev, "sys_exit_")) {
      if (!parse_sys_exit(p)) return unparsed(no, line, tl.cpu);
      r.kind = rec::sys_exit;
      r.task = task_of(tl.tid, tl.comm);
      if (r.task != 0) tasks_[r.task].syscalls = true;
    } else if (is(ev, "sys_enter") || starts_with(ev, "sys_enter_")) {
      r.kind = rec::sys_enter;
      r.task = task_of(tl.tid, tl.comm);
      if (r.task != 0) tasks_[r.task].syscalls = true;
    } else if (is(ev, "write_msr") || is(ev, "read_msr")) {
      msr_payload m;
      if (!parse_msr_access(p, m)) return unparsed(no, line, tl.cpu);
      r.kind = is(ev, "write_msr") ? rec::wrmsr : rec::rdmsr;
      r.task = task_of(tl.tid, tl.comm);
      r.flag = m.faulted;
      r.aux = m.msr;
      r.value = m.value;
      if (!m.faulted && msrs::efer.value == m.msr && (m.value & svme) != 0) svm_host_ = true;
      if (r.kind == rec::wrmsr && !m.faulted && candidate(m.msr)) any_user_return_write_ = true;
    } else {
      static_cast<void>(task_of(tl.tid, tl.comm));
      ++out_.stats.ignored;
      return;
    }
    add(r);
  }

  static constexpr std::uint64_t svme = 1ULL << 12;  // EFER.SVME: SVM enabled (AMD only)

  /// One of import_options::user_return_msrs that the simulator models.
  [[nodiscard]] bool candidate(std::uint32_t msr) const {
    for (const auto& m : opt_.user_return_msrs) {
      if (m.value == msr) return slot_of(m).has_value();
    }
    return false;
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
    infer_user_return_msrs();
  }

  /// KVM's probe at module load (kvm_probe_user_return_msr()): a read of a candidate MSR and,
  /// as that CPU's next MSR record, a write of the same value by the same task. The write is
  /// marked (it is no user-return traffic) and the MSR counted as probed.
  void note_probe(record& r) {
    if (r.kind != rec::rdmsr && r.kind != rec::wrmsr) return;
    if (r.cpu >= last_msr_.size()) last_msr_.resize(r.cpu + 1);
    const record q = last_msr_[r.cpu];
    last_msr_[r.cpu] = r;
    if (r.kind != rec::wrmsr || r.flag || q.line == 0 || !candidate(r.aux)) return;
    if (q.kind != rec::rdmsr || q.flag || q.aux != r.aux || q.value != r.value ||
        q.task != r.task) {
      return;
    }
    r.probe = true;
    probed_ = static_cast<slot_set>(probed_ | (1U << *slot_of(msr_index{r.aux})));
  }

  std::vector<record> last_msr_;  // per CPU: its last MSR record (line 0: none yet)

  /// The host's user-return MSRs, from what the trace shows rather than assumed: SVM registers
  /// TSC_AUX only (svm_hardware_setup(); a vCPU with SVM exit reasons, or EFER.SVME set, tells
  /// the vendor); else the MSRs KVM probed at module load (kvm_add_user_return_msr() ->
  /// kvm_probe_user_return_msr(): a read and, as that CPU's next MSR record, a write of the same
  /// value by the same task); else import_options::user_return_msrs. The probe's records are
  /// marked (note_probe()): they are no user-return traffic.
  void infer_user_return_msrs() {
    const slot_set probed = probed_;
    bool svm = svm_host_;
    for (std::size_t i = 1; i < tasks_.size(); ++i) {
      if (tasks_[i].r == role::vcpu &&
          (tasks_[i].kind == task_kind::svm || tasks_[i].kind == task_kind::sev_es)) {
        svm = true;
      }
    }
    slot_set all = 0;
    for (const auto& m : opt_.user_return_msrs) {
      if (auto sl = slot_of(m)) all = static_cast<slot_set>(all | (1U << *sl));
    }
    if (svm) {
      user_return_ = static_cast<slot_set>(all & (1U << slots::tsc_aux));
      out_.user_return_basis = "SVM (its exit reasons or EFER.SVME): TSC_AUX only";
    } else if (probed != 0) {
      user_return_ = static_cast<slot_set>(all & probed);
      out_.user_return_basis = "KVM's probe at module load";
    } else {
      user_return_ = all;
      out_.user_return_basis = "not shown by the trace: the MSRs of docs/traces.md's filter";
    }
    for (unsigned sl = 0; sl < msr_count; ++sl) {
      if (has(user_return_, sl)) out_.user_return_msrs.push_back(slot_msrs[sl]);
    }
  }

  [[nodiscard]] bool is_vcpu_task(std::uint32_t t) const { return tasks_[t].r == role::vcpu; }
  [[nodiscard]] bool is_user_like(std::uint32_t t) const {
    return tasks_[t].r == role::user || tasks_[t].r == role::vcpu;
  }
};

}  // namespace uret::sim::detail
