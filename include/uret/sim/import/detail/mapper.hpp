// SPDX-License-Identifier: MIT
// uret/sim/import/detail/mapper.hpp - the importer's second pass: a small per-CPU state machine
// over the records that emits the simulator's events, marks gaps where the trace is
// inconsistent, and keeps each msr:write_msr of a user-return MSR as ground truth, learning host
// and guest values on the way (the rules are in uret/sim/import/import.hpp and docs/traces.md).
#pragma once

#include <cstddef>
#include <cstdint>

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
};

}  // namespace uret::sim::detail
