// SPDX-License-Identifier: MIT
// uret/sim/import/detail/mapper.hpp - the importer's second pass: a small per-CPU state machine
// over the records that emits the simulator's events, marks gaps where the trace is
// inconsistent, and keeps each msr:write_msr of a user-return MSR as ground truth, learning host
// and guest values on the way (the rules are in uret/sim/import/import.hpp and docs/traces.md).
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
#include <string_view>

#include "uret/msr.hpp"
#include "uret/sim/import/detail/scanner.hpp"
#include "uret/sim/import/imported_trace.hpp"
#include "uret/sim/trace.hpp"

namespace uret::sim::detail {

/// Pass 2, after import_scanner's pass 1.
class import_mapper : protected import_scanner {
 protected:
  explicit import_mapper(const import_options& o) : import_scanner(o) {}

  // ---- pass 2 ------------------------------------------------------------------------------

  void emit(event_kind kind, std::uint32_t cpu, std::uint32_t task, std::size_t line,
            event_origin origin = event_origin::trace, exit_outcome oc = exit_outcome::real,
            std::uint8_t arg = 0, std::uint64_t value = 0) {
    events_.push_back({kind, oc, origin, cpu, task, line, arg, value});
    auto& c = cpu_[cpu];
    if (kind == event_kind::user) {
      tasks_[task].loaded = false;
      c.restore_window = true;
      c.window_msrs = 0;
      if (origin == event_origin::probable_return) {
        ++out_.stats.probable_returns;
      } else if (origin == event_origin::confirmed_return) {
        ++out_.stats.confirmed_returns;
      } else {
        ++out_.stats.returns;
      }
    } else if (kind != event_kind::migrate && kind != event_kind::unknown &&
               kind != event_kind::guest_msr && kind != event_kind::disable) {
      c.restore_window = false;
    }
    if (origin == event_origin::trace_start || origin == event_origin::gap_repair) {
      ++out_.stats.synthetic;
    }
  }

  /// A gap on `cpu`: events are missing there. Nothing is invalidated yet: the state is taken
  /// from the trace again (resync) once the next entry or return shows what KVM's cache held.
  /// The running vCPU thread's load period ends (it may have left KVM_RUN and come back in the
  /// gap). `task_known`: the importer still knows which task runs there.
  void gap(std::uint32_t cpu, std::size_t line, gap_kind kind, bool task_known) {
    auto& c = cpu_[cpu];
    if (!task_known) c.known = false;
    if (c.fresh_gap) return;  // an inconsistency that is this gap's own consequence
    c.fresh_gap = true;
    out_.gaps.push_back({cpu, line, kind, events_.size(), expects_.size()});
    ++out_.stats.gaps;
    c.resync = true;
    c.shadow_known = 0;
    c.after_switch = false;
    const auto cur = c.current;
    if (cur == 0) return;
    tasks_[cur].ret = pending::none;
    if (!is_vcpu_task(cur)) return;
    repair_exit(cpu, cur, line);
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
  void switch_to(std::uint32_t cpu, std::uint32_t t, std::size_t line, bool traced,
                 event_origin origin = event_origin::trace) {
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
        emit(event_kind::migrate, cpu, t, line, origin);
        s.home = cpu;
      }
    }
    if (cur != 0) {
      tasks_[cur].running_on = -1;
      tasks_[cur].loaded = false;  // vcpu_put(): the next entry loads again
    }
    emit(event_kind::switch_to, cpu, t, line, origin);
    cpu_[cpu].current = t;
    if (t == 0) return;
    auto& s = tasks_[t];
    s.running_on = cpu;
    if (traced && guess_returns() && is_user_like(t) && !(is_vcpu_task(t) && s.in_run) &&
        s.ret == pending::none) {
      s.ret = pending::probable;
    }
  }

  /// The switch heuristic guesses returns only where no msr:write_msr can confirm them.
  [[nodiscard]] bool guess_returns() const {
    return opt_.switch_to_user_task_returns && !any_user_return_write_ &&
           !out_.write_msr_recorded && !opt_.write_msr_recorded;
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
    } else {
      // kvm_on_user_return() on this task's return to user mode: after its syscall exit (the
      // return is already there), or else the write shows the return.
      if (!c.restore_window || has(static_cast<slot_set>(c.window_msrs), slot)) {
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
    for (std::size_t i = at_ + 1; i < records_.size(); ++i) {
      const auto& n = records_[i];
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
  [[nodiscard]] bool preempted_on_the_way_out(const record& r) const {
    for (std::size_t i = at_ + 1; i < records_.size(); ++i) {
      const auto& n = records_[i];
      if (n.cpu != r.cpu) continue;
      if (n.kind == rec::rdmsr) continue;
      return n.kind == rec::sched_switch && n.task == r.task && n.task2 != r.task;
    }
    return false;
  }

  /// True when the vCPU thread's next record on the CPU, past MSR records, is its VM entry.
  [[nodiscard]] bool entry_follows(const record& r) const {
    for (std::size_t i = at_ + 1; i < records_.size(); ++i) {
      const auto& n = records_[i];
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

  void map_one(const record& r) {
    const auto cpu = r.cpu;
    auto& c = cpu_[cpu];
    switch (r.kind) {
      case rec::lost_events: return gap(cpu, r.line, gap_kind::lost_events, false);
      case rec::buffer_started: return gap(cpu, r.line, gap_kind::buffer_started, false);
      case rec::bad_line: return gap(cpu, r.line, gap_kind::unparsed_line, false);
      case rec::time_backwards: return gap(cpu, r.line, gap_kind::time_backwards, false);
      default: break;
    }
    const bool msr_event = r.kind == rec::wrmsr || r.kind == rec::rdmsr;
    if (!msr_event) {
      c.restore_window = false;
      c.dropping = false;
    }
    // Records of the previous task right after a context switch: the switch path (KVM's
    // vcpu_put, __switch_to) still runs as that task. No claim about the CPU.
    if (c.after_switch && r.task != c.current && r.task == c.switched_from &&
        r.kind != rec::sched_switch && r.kind != rec::migrate) {
      ++out_.stats.after_switch_records;
      if (r.kind == rec::wrmsr) {
        const auto slot = slot_of(msr_index{r.aux});
        if (slot && has(user_return_, *slot) && !r.flag && !r.probe) {
          ++out_.stats.msr_writes;
          ++out_.stats.unclassified_msr_writes;
          expects_.push_back({cpu, msr_index{r.aux}, r.value, r.line, events_.size()});
        } else {
          on_msr_side(r);
        }
      }
      return;
    }
    if (r.kind == rec::rdmsr) return on_msr_side(r);
    if (r.kind == rec::wrmsr) {
      const auto slot = slot_of(msr_index{r.aux});
      if (r.flag || r.probe || !slot || !has(user_return_, *slot)) return on_msr_side(r);
    }
    if (r.task == c.current) c.after_switch = false;
    // Any event on the CPU ends a pending return of the task running there (it happened before
    // this event), except that task's own syscall return, which is the return.
    if (c.known && c.current == r.task && r.kind != rec::sys_exit) flush_return(cpu, r.line);
    if (r.kind == rec::sched_switch) {
      if (c.known && c.current != r.task) {
        if (r.task == 0 && (starts_with(tasks_[c.current].comm, "migration/") ||
                            starts_with(tasks_[c.current].comm, "cpuhp/"))) {
          // The CPU went offline: its hotplug thread's last switch, to the idle task that
          // takes the CPU down, ran where the CPU is no longer online and tracepoints are off.
          c.hotplug_since = true;
        } else {
          gap(cpu, r.line, gap_kind::missed_switch, false);
        }
      }
      switch_to(cpu, r.task2, r.line, true);
      c.known = true;
      c.switched_from = r.task;
      c.after_switch = r.task != r.task2;
      if (starts_with(tasks_[r.task2].comm, "cpuhp/")) c.hotplug_since = true;
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
        s.in_guest = s.entered = s.in_run = s.run_known = s.loaded = true;
        s.ret = pending::none;
        c.resync = false;
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
        s.in_run = s.run_known = true;
        break;
      case rec::uexit:
        if (s.in_guest) {
          gap(cpu, r.line, gap_kind::missed_exit, true);
          repair_exit(cpu, t, r.line);
        }
        s.in_run = false;
        s.run_known = true;
        if (t != 0) s.ret = pending::certain;
        break;
      case rec::fpu_load: s.in_run = s.run_known = true; break;
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
        } else if (is_vcpu_task(t) && s.run_known && s.in_run && userspace_exits_ != 0) {
          // KVM_RUN ends with kvm_userspace_exit (and kvm_fpu unload): its end is missing.
          gap(cpu, r.line, gap_kind::missed_run_end, true);
        }
        check_return_restores(r);
        s.ret = pending::none;
        s.in_run = false;
        if (!guess_returns() && preempted_on_the_way_out(r)) {
          // Preempted in exit_to_user_mode_loop() before it reached user mode: the notifier's
          // flag (TIF_USER_RETURN_NOTIFY) went on with the next task, and the return that fires
          // it shows later, by its restore write.
          ++out_.stats.interrupted_returns;
          break;
        }
        emit(event_kind::user, cpu, t, r.line);
        c.resync = false;
        break;
      case rec::wrmsr: on_msr_write(r); break;
      default: break;
    }
  }

  std::size_t at_ = 0;  // the record being mapped

  void map() {
    for (at_ = 0; at_ < records_.size(); ++at_) {
      const auto& r = records_[at_];
      map_one(r);
      const bool marker = r.kind == rec::lost_events || r.kind == rec::buffer_started ||
                          r.kind == rec::bad_line || r.kind == rec::time_backwards;
      if (!marker) cpu_[r.cpu].fresh_gap = false;
    }
  }
};

}  // namespace uret::sim::detail
