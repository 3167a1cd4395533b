// SPDX-License-Identifier: MIT
// uret/sim/simulator.hpp - the machine around the slot table: runs a trace under a strategy,
// counts WRMSRs and RDMSRs, checks the invariants after every event, and prices the trace with
// the oracle.
//
//     namespace sim = uret::sim;
//     sim::trace t = sim::generate(*sim::find_workload("exit-storm"), 42, 1'000'000);
//     sim::run_result r = sim::run(t, sim::strategy::user_return);
//     // r.wrmsr, r.rdmsr, r.oracle_wrmsr, r.violations, r.reports[0] ...
//     sim::run_options fast;
//     fast.check = false;  // no checker: fastest
//     r = sim::run(t, sim::strategy::eager, fast);
//
// The machine: a uret::mock_msr register file (the true hardware), a uret::notifier_chain, and
// one uret::slot_table holding the seven simulated MSRs, brought online on every CPU at set-up
// (set-up reads and writes are not counted). Every strategy (uret/sim/strategy.hpp) drives that
// table; the simulator plays the rest of the system:
//  - the scheduler (uret/sim/sched.hpp): which task runs, guest mode, CPUs up or down;
//  - return to user mode: the kernel's exit-to-user loop fires the CPU's notifiers while any is
//    registered (a restore whose write faulted registers itself again), at most four rounds;
//  - hardware and firmware (uret/sim/hardware.hpp): the TDX module on TD exits, SEV-ES's
//    #VMEXIT, CPU bring-up;
//  - virtualization disable: `drop` on the table (from `disable`, `offline`, or from inside a
//    WRMSR window via mock_msr's write hook: mid-write lands after the CPU's next WRMSR,
//    mid-restore after the next WRMSR of a restore); virtualization is enabled again by
//    `online` or lazily by the next entry on that CPU, always restoring before capturing host
//    values (slot_table::cpu_online refuses while a guest value is loaded);
//  - injected faults: mock_msr::fail_next_write, at most one outstanding per CPU; a set whose
//    write faulted is retried (the fault is one-shot), a restore likewise.
// Nothing allocates per event unless `record_writes` is on.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "uret/backends/mock_msr.hpp"
#include "uret/msr.hpp"
#include "uret/notifier.hpp"
#include "uret/sim/checker.hpp"
#include "uret/sim/hardware.hpp"
#include "uret/sim/oracle.hpp"
#include "uret/sim/run_result.hpp"
#include "uret/sim/sched.hpp"
#include "uret/sim/strategy.hpp"
#include "uret/sim/trace.hpp"
#include "uret/slot_table.hpp"

namespace uret::sim {

/// The simulated machine under one strategy. Not copyable or movable (the slot table refers
/// to its backend and chain).
class simulator {
 public:
  using table_type = slot_table<mock_msr, 16, max_cpus>;

  simulator(const setup& s, strategy st, const run_options& options = {})
      : setup_(s),
        strategy_(st),
        hooks_(hooks(st)),
        opts_(options),
        hw_(s.cpus),
        chain_(s.cpus),
        table_(hw_, chain_, s.cpus),
        sched_(setup_),
        oracle_(setup_),
        checker_(options.max_reports) {
    declare_msrs(hw_, setup_);
    hw_.set_logging(false);
    for (unsigned i = 0; i < msr_count; ++i) static_cast<void>(table_.add(slot_msrs[i]));
    for (std::uint32_t c = 0; c < setup_.cpus; ++c) {
      static_cast<void>(table_.cpu_online(cpu_id{c}));
      cpu_[c].virt = true;
      // Give the mock's one-entry fault list its capacity now (inject and consume a fault), so
      // a fault event never allocates.
      hw_.fail_next_write(cpu_id{c}, slot_msrs[0]);
      static_cast<void>(hw_.write(cpu_id{c}, slot_msrs[0], setup_.host[c][0]));
    }
    for (std::uint32_t c = 0; c < setup_.cpus; ++c) {
      const auto st0 = hw_.stats(cpu_id{c});
      base_writes_ += st0.writes;
      base_reads_ += st0.reads;
      base_faults_ += st0.faults;
    }
    hw_.set_write_hook(&simulator::on_write, this);
  }
  simulator(const simulator&) = delete;
  simulator& operator=(const simulator&) = delete;

  /// Apply one event.
  void step(const event& e) {
    const std::uint64_t index = result_.events++;
    index_ = index;
    const sched_step st = sched_.apply(e);
    if (!st.valid) {
      ++result_.ignored;
      return;
    }
    if (opts_.check) checker_.begin_event(index, e);
    const std::uint32_t c = e.cpu;
    switch (e.kind) {
      case event_kind::switch_to: leave(c, st.task); break;
      case event_kind::enter: enter(c, st.task); break;
      case event_kind::exit: exit(c, st.task, static_cast<exit_outcome>(e.arg)); break;
      case event_kind::user: user(c, st.task); break;
      case event_kind::migrate: break;
      case event_kind::offline: disable(c); break;
      case event_kind::online:
        if (st.came_up) cpu_bringup(hw_, cpu_id{c}, setup_.host[c]);
        if (!cpu_[c].virt) enable(c);
        break;
      case event_kind::disable:
        switch (static_cast<disable_when>(e.arg)) {
          case disable_when::mid_write: cpu_[c].arm_mid_write = true; break;
          case disable_when::mid_restore: cpu_[c].arm_mid_restore = true; break;
          default: disable(c); break;
        }
        break;
      case event_kind::unknown:
        if (st.forced_exit) exit(c, st.task, exit_outcome::real);
        // `unknown c MSR...` forgets only those slots (event::arg, a slot set; 0: all).
        if (e.arg == 0) {
          static_cast<void>(table_.invalidate(cpu_id{c}));
        } else {
          invalidate(c, static_cast<slot_set>(e.arg & all_slots));
        }
        break;
      case event_kind::fault: arm_fault(c, e.arg); break;
      case event_kind::guest_msr: guest_msr(c, st.task, e.arg, setup_.values[e.task]); break;
    }
    if (opts_.oracle) oracle_.step(e, st);
    if (opts_.check && e.kind != event_kind::migrate && sched_.up(c)) {
      check_cache(checker_, table_, hw_, c, sched_.in_guest(c));
    }
  }

  /// Apply every event of `events`.
  void run(std::span<const event> events) {
    for (const event& e : events) step(e);
  }

  /// The counters and violations so far.
  [[nodiscard]] const run_result& result() {
    std::uint64_t w = 0;
    std::uint64_t r = 0;
    std::uint64_t f = 0;
    for (std::uint32_t c = 0; c < setup_.cpus; ++c) {
      const auto st = hw_.stats(cpu_id{c});
      w += st.writes;
      r += st.reads;
      f += st.faults;
    }
    result_.wrmsr = w - base_writes_;
    result_.rdmsr = r - base_reads_;
    result_.faults = f - base_faults_;
    result_.oracle_wrmsr = opts_.oracle ? oracle_.writes() : 0;
    result_.violations = checker_.count();
    result_.by_invariant = checker_.by_invariant();
    result_.first_violation = checker_.first();
    result_.reports = checker_.reports();
    return result_;
  }

  /// The writes recorded (run_options::record_writes) since the last clear_writes().
  [[nodiscard]] std::span<const write_record> writes() const noexcept { return result_.writes; }
  /// Forgets the recorded writes (a caller that consumes them event by event keeps memory flat).
  void clear_writes() noexcept { result_.writes.clear(); }

  /// The true value of `slot` on `cpu`.
  [[nodiscard]] std::uint64_t hardware(std::uint32_t cpu, unsigned slot) const noexcept {
    return hw_.peek(cpu_id{cpu}, slot_msrs[slot]).value_or(0);
  }
  /// The slot table the strategy drives.
  [[nodiscard]] const table_type& table() const noexcept { return table_; }
  /// The scheduling state.
  [[nodiscard]] const sched_state& sched() const noexcept { return sched_; }
  /// True while virtualization is enabled on `cpu`.
  [[nodiscard]] bool virtualization_enabled(std::uint32_t cpu) const noexcept {
    return cpu_[cpu].virt;
  }
  [[nodiscard]] const sim::setup& setup() const noexcept { return setup_; }
  [[nodiscard]] strategy strategy_used() const noexcept { return strategy_; }

 private:
  struct cpu_state {
    bool virt = false;          // virtualization enabled (table online)
    bool guest_loaded = false;  // the running vCPU's guest state is loaded (not eager)
    bool in_restore = false;    // a restore is running (mid-restore disables land here)
    bool arm_mid_write = false;
    bool arm_mid_restore = false;
    bool fault_armed = false;
    std::uint64_t faults_at_arm = 0;
    std::uint64_t save_area_tsc_aux = 0;  // SEV-ES host save area
  };

  static constexpr slot_set tdx_slots(task_kind k) noexcept {
    return k == task_kind::tdx ? tdx_clobbered : 0;
  }

  // kvm_set_user_return_msr() with the checker's I4/I5 around it and the one-shot fault retry.
  bool set(std::uint32_t c, unsigned slot, std::uint64_t value, std::uint64_t mask) {
    for (int attempt = 0; attempt < 3; ++attempt) {
      const uret::result<void> r = opts_.check ? checked_set(c, slot, value, mask)
                                               : table_.set(cpu_id{c}, slot, value, mask);
      if (r) return true;
      if (r.error() != errc::msr_fault) return false;
    }
    return false;
  }

  uret::result<void> checked_set(std::uint32_t c, unsigned slot, std::uint64_t value,
                                 std::uint64_t mask) {
    const cpu_id cpu{c};
    const auto before = table_.current(cpu, slot);
    const auto host = table_.host(cpu, slot);
    const std::uint64_t dirty = table_.dirty_slots(cpu);
    const std::uint64_t unknown = table_.unknown_slots(cpu);
    const bool registered = table_.registered(cpu);
    const std::uint64_t writes = hw_.stats(cpu).writes;
    const uret::result<void> r = table_.set(cpu, slot, value, mask);
    if (before && host && merged(value, mask, *host) == *before) {
      const std::uint64_t issued = hw_.stats(cpu).writes - writes;
      checker_.expect(invariant::i4, c, slot, issued == 0, 0, issued);
    }
    if (!r && r.error() == errc::msr_fault) {
      const auto after = table_.current(cpu, slot);
      const bool same = after.has_value() == before.has_value() && (!after || *after == *before) &&
                        table_.dirty_slots(cpu) == dirty && table_.unknown_slots(cpu) == unknown &&
                        table_.registered(cpu) == registered;
      checker_.expect(invariant::i5, c, slot, same, before.value_or(0), after.value_or(0));
    }
    return r;
  }

  // kvm_on_user_return() run now (vcpu_put, eager's exit, run-loop's exit from the loop).
  void restore(std::uint32_t c) {
    const bool outer = cpu_[c].in_restore;
    cpu_[c].in_restore = true;
    for (int attempt = 0; attempt < 3; ++attempt) {
      if (table_.on_user_return(cpu_id{c})) break;
    }
    cpu_[c].in_restore = outer;
  }

  // Invalidate `slots` on `c` (no-op where the table is offline).
  void invalidate(std::uint32_t c, slot_set s) {
    for (unsigned i = 0; i < msr_count; ++i) {
      if (has(s, i)) static_cast<void>(table_.invalidate(cpu_id{c}, i));
    }
  }

  // Virtualization enable (kvm_user_return_msr_cpu_online()): restore first if anything is
  // registered, so a guest value can never be captured as the host value.
  void enable(std::uint32_t c) {
    for (int attempt = 0; attempt < 3; ++attempt) {
      if (table_.registered(cpu_id{c})) restore(c);
      if (table_.cpu_online(cpu_id{c})) break;
    }
    cpu_[c].virt = true;
    cpu_[c].guest_loaded = false;
  }

  // Virtualization disable (drop_user_return_notifiers()).
  void disable(std::uint32_t c) {
    const bool outer = cpu_[c].in_restore;
    cpu_[c].in_restore = true;
    for (int attempt = 0; attempt < 3; ++attempt) {
      if (table_.drop(cpu_id{c})) break;
    }
    cpu_[c].in_restore = outer;
    cpu_[c].virt = false;
    cpu_[c].guest_loaded = false;
  }

  // Write the guest values a VMX/SVM vCPU needs (vmx_prepare_switch_to_guest(),
  // svm_prepare_switch_to_guest()), as the strategy does it: load_every_entry (eager) or once
  // per vcpu_load period (KVM's guest_state_loaded, bhyve's run loop), for real when
  // load_unconditionally.
  bool load_guest(std::uint32_t c, const task& t) {
    const slot_set need = loads(t.kind);
    for (unsigned s = 0; s < msr_count; ++s) {
      if (!has(need, s)) continue;
      if (hooks_.load_unconditionally) static_cast<void>(table_.invalidate(cpu_id{c}, s));
      if (!set(c, s, t.guest[s], value_mask(s))) return false;
    }
    return true;
  }

  // tdx_prepare_switch_to_guest() since late 2025: write the post-exit values for real.
  bool set_post_exit_values(std::uint32_t c) {
    for (unsigned s = 0; s < msr_count; ++s) {
      if (!has(tdx_clobbered, s)) continue;
      if (!set(c, s, tdx_post_exit(s), ~std::uint64_t{0})) return false;
    }
    return true;
  }

  void enter(std::uint32_t c, std::uint32_t t) {
    const task& tk = setup_.tasks[t];
    bool ok = false;
    for (int attempt = 0; attempt < 4 && !ok; ++attempt) {
      if (!cpu_[c].virt) enable(c);
      const bool load = hooks_.load_every_entry || !cpu_[c].guest_loaded;
      ok = true;
      switch (tk.kind) {
        case task_kind::vmx:
        case task_kind::svm:
          if (load) ok = load_guest(c, tk);
          break;
        case task_kind::sev_es: {
          // sev_es_prepare_switch_to_guest(): the host save area gets the current value.
          const auto cur = table_.current(cpu_id{c}, slots::tsc_aux);
          const std::uint64_t boot = setup_.host[c][slots::tsc_aux];
          cpu_[c].save_area_tsc_aux = opts_.legacy.sev_es_boot_host ? boot : (cur ? *cur : boot);
          break;
        }
        case task_kind::tdx:
          if (load && hooks_.post_exit_values_before_td_entry) ok = set_post_exit_values(c);
          break;
        default: break;
      }
      ok = ok && cpu_[c].virt;
    }
    cpu_[c].guest_loaded = ok;
    if (tk.kind == task_kind::sev_es) sev_es_vmrun(hw_, cpu_id{c}, tk.guest[slots::tsc_aux]);
    if (opts_.check) {
      const slot_set need = loads(tk.kind);
      for (unsigned s = 0; s < msr_count; ++s) {
        if (!has(need, s)) continue;
        const std::uint64_t want = merged(tk.guest[s], value_mask(s), setup_.host[c][s]);
        const std::uint64_t real = hardware(c, s);
        checker_.expect(invariant::guest_entry, c, s, real == want, want, real);
      }
    }
  }

  void exit(std::uint32_t c, std::uint32_t t, exit_outcome outcome) {
    const task_kind k = setup_.tasks[t].kind;
    if (k == task_kind::tdx) tdx_module_exit(hw_, cpu_id{c}, outcome);
    if (k == task_kind::sev_es) sev_es_vmexit(hw_, cpu_id{c}, cpu_[c].save_area_tsc_aux);
    if (k == task_kind::vmx || k == task_kind::svm) {
      if (hooks_.restore_after_exit) {
        invalidate(c, loads(k));
        restore(c);
      }
      return;
    }
    if (k != task_kind::tdx) return;
    switch (hooks_.on_td_exit) {
      case td_exit_action::nothing: break;
      case td_exit_action::invalidate: invalidate(c, tdx_clobbered); break;
      case td_exit_action::update_cache:
        for (unsigned s = 0; s < msr_count; ++s) {
          if (has(tdx_clobbered, s)) {
            static_cast<void>(table_.update_cache(cpu_id{c}, s, tdx_post_exit(s)));
          }
        }
        break;
      case td_exit_action::may_clobber:
        for (unsigned s = 0; s < msr_count; ++s) {
          if (has(tdx_clobbered, s)) {
            static_cast<void>(table_.may_clobber(cpu_id{c}, s, tdx_post_exit(s)));
          }
        }
        break;
    }
    if (hooks_.restore_after_exit) restore(c);
  }

  // The vCPU thread `t` stops running its loop on `c`: switched away, or KVM_RUN returns.
  void leave(std::uint32_t c, std::uint32_t t) {
    if (t == idle_task || !is_vcpu(setup_.tasks[t].kind)) return;
    switch (hooks_.on_leave) {
      case leave_action::nothing: break;
      case leave_action::restore: restore(c); break;
      case leave_action::invalidate_and_restore: {
        if (!cpu_[c].guest_loaded) return;
        const task_kind k = setup_.tasks[t].kind;
        invalidate(c, static_cast<slot_set>(loads(k) | tdx_slots(k)));
        restore(c);
        break;
      }
    }
    cpu_[c].guest_loaded = false;
  }

  // The running task returns to user mode: exit_to_user_mode_loop() fires the notifiers while
  // the flag is set.
  void user(std::uint32_t c, std::uint32_t t) {
    leave(c, t);
    const bool outer = cpu_[c].in_restore;
    cpu_[c].in_restore = true;
    for (int round = 0; round < 4 && chain_.pending(cpu_id{c}); ++round) {
      static_cast<void>(chain_.fire(cpu_id{c}));
    }
    cpu_[c].in_restore = outer;
    if (opts_.check) check_user_return(checker_, table_, hw_, c, setup_.host[c]);
  }

  // The running vCPU `t` takes a new guest value for `slot`: a guest WRMSR that KVM handles with
  // kvm_set_user_return_msr() at once (svm_set_msr() for TSC_AUX, vmx_set_guest_uret_msr() on
  // VMX) while the guest state is loaded. Where it is not (or for eager, which restores the host
  // values at every exit), the next entry loads the new value. SEV-ES and TDX vCPUs: hardware and
  // the TDX module switch these MSRs, so only the value changes.
  void guest_msr(std::uint32_t c, std::uint32_t t, unsigned slot, std::uint64_t value) {
    task& tk = setup_.tasks[t];
    tk.guest[slot] = value;
    if (!has(loads(tk.kind), slot) || strategy_ == strategy::eager) return;
    if (!cpu_[c].virt || !cpu_[c].guest_loaded) return;
    static_cast<void>(set(c, slot, value, value_mask(slot)));
  }

  void arm_fault(std::uint32_t c, unsigned slot) {
    cpu_state& p = cpu_[c];
    const std::uint64_t faults = hw_.stats(cpu_id{c}).faults;
    if (p.fault_armed && faults == p.faults_at_arm) return;  // one outstanding at a time
    hw_.fail_next_write(cpu_id{c}, slot_msrs[slot]);
    p.fault_armed = true;
    p.faults_at_arm = faults;
  }

  static void on_write(void* context, cpu_id cpu, msr_index msr, std::uint64_t value) noexcept {
    auto& self = *static_cast<simulator*>(context);
    cpu_state& p = self.cpu_[cpu.value];
    if (self.opts_.record_writes) {
      self.result_.writes.push_back(
          {self.index_, cpu.value, slot_of(msr).value_or(no_slot), value, p.in_restore});
    }
    if (p.arm_mid_write) {
      p.arm_mid_write = false;
      self.disable(cpu.value);
    } else if (p.arm_mid_restore && p.in_restore) {
      p.arm_mid_restore = false;
      self.disable(cpu.value);
    }
  }

  sim::setup setup_;
  strategy strategy_;
  strategy_hooks hooks_;  // strategy_'s row of strategy_table: what it does at each decision
  run_options opts_;
  mock_msr hw_;
  notifier_chain<max_cpus> chain_;
  table_type table_;
  sched_state sched_;
  oracle oracle_;
  checker checker_;
  std::array<cpu_state, max_cpus> cpu_{};
  std::uint64_t index_ = 0;
  std::uint64_t base_writes_ = 0;
  std::uint64_t base_reads_ = 0;
  std::uint64_t base_faults_ = 0;
  run_result result_;
};

/// Run `t` under `s` and return what happened.
[[nodiscard]] inline run_result run(const trace& t, strategy s, const run_options& options = {}) {
  auto sim = std::make_unique<simulator>(t.setup, s, options);
  sim->run(t.events);
  return sim->result();
}

}  // namespace uret::sim
