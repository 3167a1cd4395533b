// SPDX-License-Identifier: MIT
// uret/sim/sched.hpp - the scheduling state of a simulated machine: which task runs on each
// CPU, whether it is in guest mode, which CPUs are up, where each task lives.
//
// It decides, the same way for every consumer (simulator, oracle, generators, fuzzer), whether
// an event is possible in the current state. An impossible event (enter on a CPU running a
// host task, a switch to a task that lives on another CPU, ...) is *ignored* and counted, never
// undefined: any sequence of events is a valid input, which is what lets the shrinker drop
// events freely and the fuzzer feed arbitrary bytes. Whether virtualization is enabled is not
// part of this state: it depends on what the strategy's writes let a mid-write disable do.
//
// Rules (c = the event's CPU; "runs" = the CPU's current task):
//   switch c T   c up, not in guest, T is idle_task or a task living on c, T not already running
//   enter c      c up, a vCPU runs, not in guest
//   exit c       c in guest
//   user c       c up, not in guest, a user task or a vCPU thread runs
//   migrate T c  c up, T exists, T is not running, T does not already live on c
//   offline c    c up, not in guest (the CPU's idle task runs afterwards)
//   online c     always (CPU was down: it comes up running idle; CPU up: virtualization enable)
//   disable c    c up, not in guest
//   unknown c    c up (in guest: an implicit real exit first)
//   fault c M    c up, M one of the simulated MSRs
//   guest-msr c M V  c up, not in guest, a vCPU runs, M simulated, V an index of setup::values
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "uret/sim/trace.hpp"

namespace uret::sim {

/// What applying an event did, for the consumers that act on it.
struct sched_step {
  std::uint32_t task = idle_task;  ///< the task running before the event
  bool valid = false;              ///< false: the event was ignored
  bool came_up = false;            ///< online of a CPU that was down
  bool forced_exit = false;        ///< unknown in guest mode: an implicit real exit happened
};

/// The scheduling state of a machine.
class sched_state {
 public:
  /// All CPUs up running their idle task, every task on its set-up CPU.
  explicit sched_state(const setup& s) : cpus_(s.cpus), values_(s.values.size()) {
    tasks_.reserve(s.tasks.size());
    for (const task& t : s.tasks) tasks_.push_back({t.cpu < s.cpus ? t.cpu : 0, t.kind});
    for (std::uint32_t c = 0; c < cpus_; ++c) cpu_[c] = {idle_task, true, false};
  }

  [[nodiscard]] std::uint32_t cpus() const noexcept { return cpus_; }
  [[nodiscard]] std::size_t tasks() const noexcept { return tasks_.size(); }
  /// The task running on `cpu` (idle_task for its idle task).
  [[nodiscard]] std::uint32_t running(std::uint32_t cpu) const noexcept { return cpu_[cpu].task; }
  [[nodiscard]] bool up(std::uint32_t cpu) const noexcept { return cpu_[cpu].up; }
  [[nodiscard]] bool in_guest(std::uint32_t cpu) const noexcept { return cpu_[cpu].guest; }
  /// The CPU task `t` lives on.
  [[nodiscard]] std::uint32_t home(std::uint32_t t) const noexcept { return tasks_[t].cpu; }
  [[nodiscard]] task_kind kind(std::uint32_t t) const noexcept { return tasks_[t].kind; }
  /// True when task `t` is running on its CPU.
  [[nodiscard]] bool is_running(std::uint32_t t) const noexcept {
    return cpu_[tasks_[t].cpu].task == t;
  }

  /// Would `e` be applied (true) or ignored (false)?
  [[nodiscard]] bool possible(const event& e) const noexcept {
    const std::uint32_t c = e.cpu;
    if (c >= cpus_) return false;
    const per_cpu& p = cpu_[c];
    switch (e.kind) {
      case event_kind::switch_to:
        if (!p.up || p.guest || e.task == p.task) return false;
        return e.task == idle_task || (e.task < tasks_.size() && tasks_[e.task].cpu == c);
      case event_kind::enter:
        return p.up && !p.guest && p.task != idle_task && is_vcpu(tasks_[p.task].kind);
      case event_kind::exit: return p.guest;
      case event_kind::user:
        return p.up && !p.guest && p.task != idle_task &&
               (is_vcpu(tasks_[p.task].kind) || tasks_[p.task].kind == task_kind::user);
      case event_kind::migrate:
        return p.up && e.task < tasks_.size() && tasks_[e.task].cpu != c && !is_running(e.task);
      case event_kind::offline:
      case event_kind::disable: return p.up && !p.guest;
      case event_kind::online: return true;
      case event_kind::unknown: return p.up;
      case event_kind::fault: return p.up && e.arg < msr_count;
      case event_kind::guest_msr:
        return p.up && !p.guest && p.task != idle_task && is_vcpu(tasks_[p.task].kind) &&
               e.arg < msr_count && e.task < values_;
    }
    return false;
  }

  /// Apply `e` if possible.
  sched_step apply(const event& e) noexcept {
    if (!possible(e)) return sched_step{};
    per_cpu& p = cpu_[e.cpu];
    const std::uint32_t prev = p.task;
    bool came_up = false;
    bool forced_exit = false;
    switch (e.kind) {
      case event_kind::switch_to: p.task = e.task; break;
      case event_kind::enter: p.guest = true; break;
      case event_kind::exit: p.guest = false; break;
      case event_kind::migrate: tasks_[e.task].cpu = e.cpu; break;
      case event_kind::offline:
        p.up = false;
        p.task = idle_task;
        break;
      case event_kind::online:
        came_up = !p.up;
        p.up = true;
        break;
      case event_kind::unknown:
        forced_exit = p.guest;
        p.guest = false;
        break;
      case event_kind::user:
      case event_kind::disable:
      case event_kind::fault:
      case event_kind::guest_msr: break;
    }
    sched_step r;
    r.task = prev;
    r.valid = true;
    r.came_up = came_up;
    r.forced_exit = forced_exit;
    return r;
  }

 private:
  struct per_task {
    std::uint32_t cpu;
    task_kind kind;
  };
  struct per_cpu {
    std::uint32_t task = idle_task;
    bool up = true;
    bool guest = false;
  };

  std::uint32_t cpus_;
  std::array<per_cpu, max_cpus> cpu_{};
  std::vector<per_task> tasks_;
  std::size_t values_ = 0;  // setup::values: the guest-msr values
};

}  // namespace uret::sim
