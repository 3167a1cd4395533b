// SPDX-License-Identifier: MIT
// uret/sim/strategy.hpp - the restoration strategies the simulator compares, by name.
//
// A strategy is the hypervisor policy deciding when user-return MSRs are written. Every
// strategy drives the real uret::slot_table over uret::mock_msr (uret/sim/simulator.hpp); they
// differ only in which table operations they call and when:
//
//  name                   stands for                                 writes
//  eager                  no cache (per-entry save/restore)          guest values at every entry,
//                                                                    host values at every exit
//  run-loop               bhyve (vmx_msr_guest_enter/_exit around    guest values when the run
//                         its run loop)                              loop starts, host values when
//                                                                    it is left (switch or user)
//  ctxsw                  values as task context (KVM's vcpu_load/   guest values that differ at
//                         vcpu_put before user-return notifiers)     entry; host values that
//                                                                    differ when the CPU changes
//                                                                    task or the vCPU thread
//                                                                    returns to user mode
//  user-return            KVM VMX/SVM (kvm_set_user_return_msr +     guest values that differ at
//                         the user-return notifier)                  entry; host values on the
//                                                                    next return to user mode
//  tdx-update-after-run   KVM TDX RFC (2021) and v6.16:              as user-return; after a TD
//                         kvm_user_return_msr_update_cache()         exit the cache is told the
//                                                                    module wrote its values
//  tdx-set-before-entry   KVM TDX since late 2025: set the           as user-return; before TD
//                         post-exit values before entering           entry the post-exit values
//                                                                    are written for real
//  tdx-invalidate         this library: slot_table::invalidate()     as user-return; after a TD
//                         after a TD exit                            exit the slots are unknown
//  tdx-may-clobber        this library: slot_table::may_clobber()    as user-return; after a TD
//                         after a TD exit                            exit a slot is unknown only
//                                                                    if it did not already hold
//                                                                    the post-exit value
//
// vCPU kinds a strategy was not designed for fall back as follows: the tdx-* strategies treat
// VMX, SVM and SEV-ES vCPUs exactly as user-return does; user-return knows nothing of the TDX
// module (it calls nothing after a TD exit), so on TD vCPUs it is wrong by design and the
// checker shows it; eager, run-loop and ctxsw handle TD vCPUs conservatively (the slots the
// module may reset are invalidated after each TD exit and restored with real writes).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "uret/sim/trace.hpp"

namespace uret::sim {

/// A restoration strategy.
enum class strategy : std::uint8_t {
  eager,
  run_loop,
  ctxsw,
  user_return,
  tdx_update_after_run,
  tdx_set_before_entry,
  tdx_invalidate,
  tdx_may_clobber,
};

/// Every strategy, in the order tables list them.
inline constexpr strategy all_strategies[] = {
    strategy::eager,
    strategy::run_loop,
    strategy::ctxsw,
    strategy::user_return,
    strategy::tdx_update_after_run,
    strategy::tdx_set_before_entry,
    strategy::tdx_invalidate,
    strategy::tdx_may_clobber,
};

/// The strategy's name ("user-return").
[[nodiscard]] constexpr std::string_view to_string(strategy s) noexcept {
  switch (s) {
    case strategy::eager: return "eager";
    case strategy::run_loop: return "run-loop";
    case strategy::ctxsw: return "ctxsw";
    case strategy::user_return: return "user-return";
    case strategy::tdx_update_after_run: return "tdx-update-after-run";
    case strategy::tdx_set_before_entry: return "tdx-set-before-entry";
    case strategy::tdx_invalidate: return "tdx-invalidate";
    case strategy::tdx_may_clobber: return "tdx-may-clobber";
  }
  return "?";
}

/// The strategy named `name`, or nullopt.
[[nodiscard]] constexpr std::optional<strategy> parse_strategy(std::string_view name) noexcept {
  for (strategy s : all_strategies) {
    if (to_string(s) == name) return s;
  }
  return std::nullopt;
}

/// One line on what the strategy stands for.
[[nodiscard]] constexpr std::string_view describe(strategy s) noexcept {
  switch (s) {
    case strategy::eager:
      return "guest values on every entry, host values on every exit (no cache)";
    case strategy::run_loop:
      return "switch when the vCPU run loop is entered and left (bhyve's vmx_msr_guest_enter/exit)";
    case strategy::ctxsw:
      return "switch when the CPU changes task or the vCPU thread leaves KVM_RUN (vcpu_load/put)";
    case strategy::user_return:
      return "lazy restore on return to user mode (KVM VMX/SVM, kvm_on_user_return)";
    case strategy::tdx_update_after_run:
      return "TDX: cache told the module wrote its values after every run (RFC, v6.16)";
    case strategy::tdx_set_before_entry:
      return "TDX: post-exit values written before every entry (upstream, late 2025)";
    case strategy::tdx_invalidate: return "TDX: slots invalidated after every TD exit (uret)";
    case strategy::tdx_may_clobber:
      return "TDX: slot_table::may_clobber after every TD exit (uret)";
  }
  return "?";
}

/// True when `s` is designed for vCPUs of kind `k` (the kinds `uret-sim check` exercises).
[[nodiscard]] constexpr bool handles(strategy s, task_kind k) noexcept {
  if (!is_vcpu(k)) return true;
  if (s == strategy::user_return) return k != task_kind::tdx;
  return true;
}

/// True when the strategy is expected to keep every invariant on the kinds it handles
/// (all but tdx-update-after-run, whose cache update is wrong when the TDX module did not
/// reset the MSRs).
[[nodiscard]] constexpr bool expected_correct(strategy s) noexcept {
  return s != strategy::tdx_update_after_run;
}

}  // namespace uret::sim
