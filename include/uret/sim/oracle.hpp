// SPDX-License-Identifier: MIT
// uret/sim/oracle.hpp - the fewest WRMSRs any strategy with perfect knowledge of the hardware
// could issue on a trace.
//
// The oracle tracks the true value of every slot on every CPU and writes only where the
// hardware must change:
//  - before entering a VMX or SVM guest, each slot its kind loads whose hardware value differs
//    from what the guest needs (guest bits inside the mask, host bits outside);
//  - before a return to user mode, each slot whose hardware value differs from the host value.
// Nothing else costs a write: a real TD exit resets the TDX module's MSRs for free; SEV-ES's
// #VMEXIT reloads TSC_AUX from the host save area, which the oracle fills with the value the
// hardware held before entry (as a correct hypervisor does); a CPU coming up is programmed by
// the kernel; disabling virtualization, going offline, a trace gap (`unknown`) and an injected
// fault need no write. Every strategy that keeps I3 and G issues at least this many writes
// (none of the simulator's strategies chooses the SEV-ES save-area value to save a write).
//
// The oracle sees the same events as the simulator, through the same sched_state, so it ignores
// exactly the events the simulator ignores.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "uret/sim/hardware.hpp"
#include "uret/sim/sched.hpp"
#include "uret/sim/trace.hpp"

namespace uret::sim {

/// Perfect-knowledge WRMSR count, fed one event at a time.
class oracle {
 public:
  explicit oracle(const setup& s) : setup_(&s) {
    for (std::uint32_t c = 0; c < s.cpus; ++c) hw_[c] = s.host[c];
    guest_.reserve(s.tasks.size());
    for (const task& t : s.tasks) guest_.push_back(t.guest);
  }

  /// Account for `e`, which `sched` (the caller's sched_state) has just applied as `step`.
  void step(const event& e, const sched_step& step) noexcept {
    if (!step.valid) return;
    const std::uint32_t c = e.cpu;
    msr_values& hw = hw_[c];
    const msr_values& host = setup_->host[c];
    switch (e.kind) {
      case event_kind::enter: {
        const task& t = setup_->tasks[step.task];
        if (t.kind == task_kind::sev_es) {
          save_area_[c] = hw[slots::tsc_aux];
          break;
        }
        if (satisfied_[c] == step.task) break;  // nothing changed the hardware since
        satisfied_[c] = step.task;
        const slot_set need = loads(t.kind);
        for (unsigned s = 0; s < msr_count; ++s) {
          if (!has(need, s)) continue;
          const std::uint64_t v = merged(guest_[step.task][s], value_mask(s), host[s]);
          if (hw[s] != v) {
            hw[s] = v;
            ++writes_;
          }
        }
        break;
      }
      case event_kind::exit: exit(c, step.task, static_cast<exit_outcome>(e.arg)); break;
      case event_kind::unknown:
        if (step.forced_exit) exit(c, step.task, exit_outcome::real);
        break;
      case event_kind::user:
        satisfied_[c] = idle_task;
        for (unsigned s = 0; s < msr_count; ++s) {
          if (hw[s] != host[s]) {
            hw[s] = host[s];
            ++writes_;
          }
        }
        break;
      case event_kind::online:
        if (step.came_up) {
          hw = host;
          satisfied_[c] = idle_task;
        }
        break;
      case event_kind::switch_to:
      case event_kind::migrate:
      case event_kind::offline:
      case event_kind::disable:
      case event_kind::fault: break;
      case event_kind::guest_msr:
        // The guest needs another value from now on; the next entry writes it if the hardware
        // differs (writing it at once is never cheaper).
        guest_[step.task][e.arg] = setup_->values[e.task];
        satisfied_[c] = idle_task;
        break;
    }
  }

  /// WRMSRs so far.
  [[nodiscard]] std::uint64_t writes() const noexcept { return writes_; }
  /// The oracle's view of `cpu`'s hardware.
  [[nodiscard]] const msr_values& hardware(std::uint32_t cpu) const noexcept { return hw_[cpu]; }

 private:
  void exit(std::uint32_t c, std::uint32_t t, exit_outcome o) noexcept {
    const task_kind k = setup_->tasks[t].kind;
    if (k == task_kind::tdx && o == exit_outcome::real) {
      tdx_module_exit(hw_[c], o);
      satisfied_[c] = idle_task;
    }
    if (k == task_kind::sev_es) hw_[c][slots::tsc_aux] = save_area_[c];
  }

  const setup* setup_;
  std::vector<msr_values> guest_;  // per task: the guest values, as guest-msr events change them
  std::array<msr_values, max_cpus> hw_{};
  std::array<std::uint64_t, max_cpus> save_area_{};
  // The VMX/SVM task whose guest values the hardware of each CPU holds since its last entry
  // (idle_task: none); entering it again needs no look at the slots.
  std::array<std::uint32_t, max_cpus> satisfied_ = none();
  static constexpr std::array<std::uint32_t, max_cpus> none() noexcept {
    std::array<std::uint32_t, max_cpus> a{};
    for (auto& x : a) x = idle_task;
    return a;
  }
  std::uint64_t writes_ = 0;
};

/// The oracle's WRMSR count for a whole trace.
[[nodiscard]] inline std::uint64_t oracle_writes(const trace& t) {
  sched_state sched{t.setup};
  oracle o{t.setup};
  for (const event& e : t.events) o.step(e, sched.apply(e));
  return o.writes();
}

}  // namespace uret::sim
