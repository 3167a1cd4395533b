// SPDX-License-Identifier: MIT
// uret/sim/import/detail/msr_writes.hpp - the importer's second stage over MSR records: each
// msr:write_msr of a user-return MSR kept as ground truth and classified, host and guest values
// learnt on the way, and the resets of KVM's cache the trace cannot show.
//
// What a user-return write is, by where KVM makes it (arch/x86/kvm/x86.c, svm/svm.c, vmx/vmx.c):
//  - by a vCPU thread inside KVM_RUN, outside guest mode: kvm_set_user_return_msr(), either the
//    load before entry (svm_prepare_switch_to_guest(), vmx_prepare_switch_to_guest()) or a guest
//    WRMSR handled at once (svm_set_msr(), vmx_set_guest_uret_msr()): the vCPU's guest value;
//  - by any other task: kvm_on_user_return(), the notifier, on that task's return to user mode;
//    with no syscall exit before it, the write itself shows the return (a task preempted in user
//    mode returns through the interrupt exit path);
//  - by a kernel thread, or after EFER.SVME was cleared: drop_user_return_notifiers() when
//    virtualization is disabled on the CPU (offline, module unload).
// KVM writes only where its cache (`curr`) differs, so the last recorded write of an MSR on a CPU
// is what the cache holds; a write the cache would not have needed proves something the trace
// does not show (a CPU that went offline where the kernel cannot trace, or lost writes).
#pragma once

#include <cstddef>
#include <cstdint>

#include "uret/msr.hpp"
#include "uret/sim/import/detail/emitter.hpp"
#include "uret/sim/import/imported_trace.hpp"
#include "uret/sim/trace.hpp"

namespace uret::sim::detail {

/// Stage 2's handling of MSR records, over import_emitter.
class import_msr_writes : protected import_emitter {
 protected:
  explicit import_msr_writes(const import_options& o) : import_emitter(o) {}

  std::size_t at_ = 0;     // the record being mapped
  bool look_cut_ = false;  // a look-ahead reached import_options::lookahead_records

  /// Record `i` (after at_), or nullptr past the end of the trace or of the look-ahead window
  /// (then look_cut_: the mapper marks a gap, since the rule could not be applied).
  [[nodiscard]] const record* look(std::size_t i) {
    if (i - at_ > opt_.lookahead_records) {
      look_cut_ = true;
      return nullptr;
    }
    return records_.at(i);
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

  void other(const record& r, other_write_reason why) {
    ++out_.stats.other_msr_writes;
    if (candidate(r.aux))
      out_.other_writes.push_back({r.cpu, msr_index{r.aux}, r.value, r.line, why});
  }

  /// A read or write of an MSR outside the host's user-return set, a probe, or any read: no claim
  /// about which task runs (interrupts and IPIs log them under whoever was running).
  void on_msr_side(const record& r) {
    auto& c = cpu_[r.cpu];
    const auto slot = slot_of(msr_index{r.aux});
    const bool efer = r.aux == msrs::efer.value;
    if (r.kind == rec::rdmsr) {
      if (r.flag) return;
      if (efer) {
        c.efer = r.value;
        c.efer_known = true;
      }
      // KVM reads the host values at CPU online (kvm_user_return_msr_cpu_online()), and they are
      // what its cache then holds.
      if (slot && has(user_return_, *slot)) {
        static_cast<void>(learn(c.host_read, c.host_read_known, *slot, r.value));
        c.shadow[*slot] = r.value;
        c.shadow_known = static_cast<slot_set>(c.shadow_known | (1U << *slot));
        c.hotplug_since = false;
      }
      return;
    }
    if (r.flag) {
      ++out_.stats.faulted_msr_writes;
      return;
    }
    if (r.probe) {
      other(r, other_write_reason::probe);
      if (slot) static_cast<void>(learn(c.host_read, c.host_read_known, *slot, r.value));
      return;
    }
    if (efer && (r.value & svme) != 0 && (!c.efer_known || (c.efer & svme) == 0)) {
      other(r, other_write_reason::svm_enable);
      emit(event_kind::online, r.cpu, 0, r.line);  // virtualization enabled on the CPU
    } else if (efer && (r.value & svme) == 0 && c.efer_known && (c.efer & svme) != 0) {
      other(r, other_write_reason::svm_disable);
      // kvm_arch_disable_virtualization_cpu() (hardware_disable_nolock() before 6.3): the
      // vendor's disable, then drop_user_return_notifiers(), whose restore writes follow.
      emit(event_kind::disable, r.cpu, 0, r.line);
      c.dropping = true;
    } else {
      other(r, other_write_reason::not_user_return);
    }
    if (efer) {
      c.efer = r.value;
      c.efer_known = true;
    }
  }

  /// A write of one of the host's user-return MSRs by `r.task`, which runs on the CPU.
  void on_user_return_write(const record& r, unsigned slot) {
    const auto cpu = r.cpu;
    auto& c = cpu_[cpu];
    const auto t = r.task;
    auto& s = tasks_[t];
    const auto bit = static_cast<slot_set>(1U << slot);
    if (s.in_guest) {  // no WRMSR in guest mode: the exit is missing
      gap(cpu, r.line, gap_kind::missed_exit, true);
      repair_exit(cpu, t, r.line);
    }
    if (t != 0 && is_vcpu_task(t) && s.in_run && !s.in_guest && !c.dropping) {
      // kvm_set_user_return_msr() for the vCPU: its guest value.
      if (!c.resync && has(c.shadow_known, slot) && c.shadow[slot] == r.value) {
        untraced_reset(r);
      }
      if (c.resync) {
        // After a gap: this MSR did not hold the guest value (the others did).
        emit(event_kind::unknown, cpu, t, r.line, event_origin::gap_repair, exit_outcome::real,
             bit);
      }
      const bool changes = has(s.guest_known, slot) && s.guest[slot] != r.value;
      if (!has(s.guest_known, slot)) {
        static_cast<void>(learn(s.guest_first, s.guest_known, slot, r.value));
        s.guest[slot] = r.value;
      }
      if (!s.loaded && !entry_follows(r)) {
        // The load before an entry that KVM then cancelled (vcpu_enter_guest() loads the guest
        // values, then finds a signal or request pending): an entry with no guest time.
        if (changes) {
          emit(event_kind::guest_msr, cpu, t, r.line, event_origin::trace, exit_outcome::real,
               static_cast<std::uint8_t>(slot), r.value);
          s.guest[slot] = r.value;
          ++out_.stats.guest_value_events;
        }
        emit(event_kind::enter, cpu, t, r.line, event_origin::cancelled_entry);
        emit(event_kind::exit, cpu, t, r.line, event_origin::cancelled_entry);
        s.loaded = true;
      } else if (changes) {
        // A guest WRMSR (svm_set_msr(), vmx_set_guest_uret_msr()) or another VM on this thread.
        emit(event_kind::guest_msr, cpu, t, r.line, event_origin::trace, exit_outcome::real,
             static_cast<std::uint8_t>(slot), r.value);
        s.guest[slot] = r.value;
        ++out_.stats.guest_value_events;
      }
    } else if (c.dropping || s.r == role::kernel || s.r == role::idle || t == 0) {
      // drop_user_return_notifiers() when virtualization is disabled on the CPU.
      if (!c.dropping) {
        emit(event_kind::disable, cpu, 0, r.line);
        c.dropping = true;
      }
      if (learn(c.host, c.host_known, slot, r.value)) changed(r, false);
    } else if (s.in_syscall ||
               (c.restore_window && has(static_cast<slot_set>(c.window_msrs), slot))) {
      // Not kvm_on_user_return(): it runs on the way out to user mode, after the syscall-exit
      // tracepoint, and writes each slot at most once (its loop over the user-return slots).
      // A write by a task that entered the kernel again (a sys_enter with no sys_exit since),
      // or a second write of an MSR the same return already restored, is not that restore.
      return not_a_restore(r);
    } else {
      // kvm_on_user_return() on this task's return to user mode: after its syscall exit (the
      // return is already there), or else the write shows the return.
      if (!c.restore_window) {
        s.ret = pending::none;
        if (is_vcpu_task(t)) s.in_run = false;
        emit(event_kind::user, cpu, t, r.line, event_origin::confirmed_return);
        if (c.resync) c.resync = false;
      }
      c.window_msrs |= bit;
      if (learn(c.host, c.host_known, slot, r.value)) changed(r, false);
    }
    c.shadow[slot] = r.value;
    c.shadow_known = static_cast<slot_set>(c.shadow_known | bit);
    c.hotplug_since = false;
    ++out_.stats.msr_writes;
    expects_.push_back({cpu, msr_index{r.aux}, r.value, r.line, events_.size()});
  }

  /// A write of a user-return MSR the importer cannot attribute to KVM: still ground truth (the
  /// comparison checks it), counted as unclassified, and it teaches no host or guest value.
  /// KVM's cache (`curr`) does not change by it, so neither does the shadow.
  void not_a_restore(const record& r) {
    ++out_.stats.msr_writes;
    ++out_.stats.unclassified_msr_writes;
    expects_.push_back({r.cpu, msr_index{r.aux}, r.value, r.line, events_.size()});
  }

  /// A vCPU's write before entry that KVM's cache, by the trace, already held: its cache was
  /// reset where the trace does not show it. A CPU whose hotplug thread ran since went offline
  /// and came back where the kernel cannot trace (before 6.3 KVM's CPU callbacks run in the
  /// STARTING/DYING section, where tracepoints are off): drop_user_return_notifiers() there,
  /// kvm_user_return_msr_cpu_online() on the way back. Anything else is a gap.
  void untraced_reset(const record& r) {
    auto& c = cpu_[r.cpu];
    const auto t = r.task;
    if (!c.hotplug_since) {
      gap(r.cpu, r.line, gap_kind::unrecorded_write, true);
      return;
    }
    ++out_.stats.untraced_hotplugs;
    c.hotplug_since = false;
    switch_to(r.cpu, 0, r.line, false, event_origin::untraced);
    emit(event_kind::offline, r.cpu, 0, r.line, event_origin::untraced);
    emit(event_kind::online, r.cpu, 0, r.line, event_origin::untraced);
    switch_to(r.cpu, t, r.line, false, event_origin::untraced);
  }

  /// A return to user mode on a CPU whose hotplug thread ran since KVM's cache (by the trace)
  /// last held a guest value there: if the notifier's restore write does not follow as the CPU's
  /// next record, the cache was reset where the trace does not show it (see untraced_reset()).
  void check_return_restores(const record& r) {
    auto& c = cpu_[r.cpu];
    if (!c.hotplug_since || c.resync) return;
    bool loaded = false;
    for (unsigned sl = 0; sl < msr_count; ++sl) {
      if (!has(user_return_, sl) || !has(c.shadow_known, sl)) continue;
      std::uint64_t host = host_default(r.cpu, sl);
      if (has(c.host_known, sl)) {
        host = c.host[sl];
      } else if (has(c.host_read_known, sl)) {
        host = c.host_read[sl];
      }
      loaded = loaded || c.shadow[sl] != host;
    }
    if (!loaded) return;
    for (std::size_t i = at_ + 1; const record* next = look(i); ++i) {
      const record& n = *next;
      if (n.cpu != r.cpu) continue;
      const auto slot = slot_of(msr_index{n.aux});
      if (n.kind == rec::wrmsr && n.task == r.task && slot && has(user_return_, *slot)) return;
      if (n.kind == rec::wrmsr || n.kind == rec::rdmsr) continue;
      break;
    }
    // No restore: KVM's cache held the host values already.
    untraced_reset(r);
    for (unsigned sl = 0; sl < msr_count; ++sl) {
      if (!has(c.shadow_known, sl)) continue;
      c.shadow_known = static_cast<slot_set>(c.shadow_known & ~(1U << sl));
    }
  }

  /// True when the CPU's next record after a syscall exit switches that task out: it was
  /// preempted on its way back to user mode (the switch comes before any restore write).
  [[nodiscard]] bool preempted_on_the_way_out(const record& r) {
    for (std::size_t i = at_ + 1; const record* next = look(i); ++i) {
      const record& n = *next;
      if (n.cpu != r.cpu) continue;
      if (n.kind == rec::rdmsr) continue;
      return n.kind == rec::sched_switch && n.task == r.task && n.task2 != r.task;
    }
    return false;
  }

  /// True when the vCPU thread's next record on the CPU, past MSR records, is its VM entry.
  [[nodiscard]] bool entry_follows(const record& r) {
    for (std::size_t i = at_ + 1; const record* next = look(i); ++i) {
      const record& n = *next;
      if (n.cpu != r.cpu || n.kind == rec::wrmsr || n.kind == rec::rdmsr) continue;
      return n.kind == rec::entry && n.task == r.task;
    }
    return true;  // the trace ends first: nothing to say
  }

  void on_msr_write(const record& r) {
    const auto slot = slot_of(msr_index{r.aux});
    if (r.flag || r.probe || !slot || !has(user_return_, *slot)) return on_msr_side(r);
    ensure_current(r.cpu, r.task, r.line);
    on_user_return_write(r, *slot);
  }
};

}  // namespace uret::sim::detail
