// SPDX-License-Identifier: MIT
// uret/sim/import/detail/emitter.hpp - the start of the importer's second stage: the simulator's
// events as the mapper emits them, gaps where the trace is inconsistent (with the repairs that
// keep the event stream well formed), and the task each CPU runs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "uret/sim/import/detail/scanner.hpp"
#include "uret/sim/import/imported_trace.hpp"
#include "uret/sim/trace.hpp"

namespace uret::sim::detail {

/// Stage 2's events, gaps and context switches, after import_scanner's stage 1.
class import_emitter : protected import_scanner {
 protected:
  explicit import_emitter(const import_options& o) : import_scanner(o) {}

  // ---- stage 2 -----------------------------------------------------------------------------

  void emit(event_kind kind, std::uint32_t cpu, std::uint32_t task, std::size_t line,
            event_origin origin = event_origin::trace, exit_outcome oc = exit_outcome::real,
            std::uint8_t arg = 0, std::uint64_t value = 0, std::uint16_t reason = 0) {
    pending_event e;
    std::memset(static_cast<void*>(&e), 0, sizeof e);  // padding too: spooled as bytes
    e.kind = kind;
    e.outcome = oc;
    e.origin = origin;
    e.cpu = cpu;
    e.task = task;
    e.line = line;
    e.arg = arg;
    e.value = value;
    e.reason = reason;
    events_.push_back(e);
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
    // A lost sys_exit would leave a task in a syscall for good: what the trace said of the
    // tasks that ran here is no longer evidence.
    for (auto& task : tasks_) {
      if (task.home == static_cast<std::int64_t>(cpu)) task.in_syscall = false;
    }
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
};

}  // namespace uret::sim::detail
