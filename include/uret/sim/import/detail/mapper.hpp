// SPDX-License-Identifier: MIT
// uret/sim/import/detail/mapper.hpp - the importer's second stage: a small per-CPU state machine
// over the records that emits the simulator's events, marks gaps where the trace is
// inconsistent, and keeps each msr:write_msr of a user-return MSR as ground truth, learning host
// and guest values on the way (the rules are in uret/sim/import/import.hpp and docs/traces.md).
//
// The MSR records are handled in msr_writes.hpp (which says what a user-return write is, by
// where KVM makes it); events, gaps and context switches in emitter.hpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "uret/msr.hpp"
#include "uret/sim/import/detail/msr_writes.hpp"
#include "uret/sim/import/imported_trace.hpp"
#include "uret/sim/trace.hpp"

namespace uret::sim::detail {

/// Stage 2, after import_scanner's stage 1: one record at a time, in the order read.
class import_mapper : protected import_msr_writes {
 protected:
  explicit import_mapper(const import_options& o) : import_msr_writes(o) {}

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
          not_a_restore(r);
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
             r.flag ? exit_outcome::early_fail : exit_outcome::real, 0, 0,
             static_cast<std::uint16_t>(r.aux));
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
      case rec::sys_enter:
        if (t != 0) s.in_syscall = true;
        break;
      case rec::sys_exit:
        if (t == 0) break;
        s.in_syscall = false;
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

  void map() {
    records_.rewind();
    for (at_ = 0; const record* next = records_.at(at_); ++at_) {
      const record r = *next;  // a copy: a look-ahead may move the window
      map_one(r);
      if (look_cut_) {
        look_cut_ = false;
        gap(r.cpu, r.line, gap_kind::lookahead_limit, true);
      }
      records_.release(at_);
      const bool marker = r.kind == rec::lost_events || r.kind == rec::buffer_started ||
                          r.kind == rec::bad_line || r.kind == rec::time_backwards;
      if (!marker) cpu_[r.cpu].fresh_gap = false;
    }
  }
};

}  // namespace uret::sim::detail
