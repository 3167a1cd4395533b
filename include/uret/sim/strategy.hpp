// SPDX-License-Identifier: MIT
// uret/sim/strategy.hpp - the restoration strategies the simulator compares: each one's name,
// description and behaviour, in one table (strategy_table) that the simulator consults at every
// decision point. Adding a strategy is one enumerator and one row.
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

#include <cstddef>
#include <cstdint>
#include <iterator>
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

/// What a strategy does after a TD exit (the TDX module may have reset tdx_clobbered).
enum class td_exit_action : std::uint8_t {
  nothing,       ///< trust the cache (user-return: wrong by design on TD vCPUs)
  invalidate,    ///< slot_table::invalidate() the slots the module may reset
  update_cache,  ///< kvm_user_return_msr_update_cache(): the cache holds the post-exit values
  may_clobber,   ///< slot_table::may_clobber() with the post-exit values
};

/// What a strategy does when a vCPU thread leaves its run loop (switched away, or KVM_RUN
/// returns to user mode).
enum class leave_action : std::uint8_t {
  nothing,                 ///< the user-return notifier restores later
  restore,                 ///< restore the host values now (vcpu_put)
  invalidate_and_restore,  ///< bhyve: mark the loaded slots unknown and restore them now
};

/// One strategy: its name, what it stands for, and its answer at each point the simulator
/// asks (uret/sim/simulator.hpp: enter, exit, leave).
struct strategy_hooks {
  strategy id;
  std::string_view name;
  std::string_view description;
  /// Guest values written on every entry (else once per vcpu_load period).
  bool load_every_entry = false;
  /// Guest values written for real when loaded, whatever the cache says (invalidate first).
  bool load_unconditionally = false;
  /// TDX: write the post-exit values before every TD entry (tdx_prepare_switch_to_guest()).
  bool post_exit_values_before_td_entry = false;
  /// Host values back right after every exit (VMX/SVM: the loaded slots; TDX: after the
  /// td_exit action).
  bool restore_after_exit = false;
  td_exit_action on_td_exit = td_exit_action::nothing;
  leave_action on_leave = leave_action::nothing;
  /// Designed for TD vCPUs too (`uret-sim check` exercises only the kinds a strategy handles).
  bool handles_tdx = true;
  /// Expected to keep every invariant on the kinds it handles.
  bool expected_correct = true;
};

/// Every strategy, in the order tables list them (and in the order of the enumeration).
inline constexpr strategy_hooks strategy_table[] = {
    {.id = strategy::eager,
     .name = "eager",
     .description = "guest values on every entry, host values on every exit (no cache)",
     .load_every_entry = true,
     .load_unconditionally = true,
     .restore_after_exit = true,
     .on_td_exit = td_exit_action::invalidate},
    {.id = strategy::run_loop,
     .name = "run-loop",
     .description =
         "switch when the vCPU run loop is entered and left (bhyve's vmx_msr_guest_enter/exit)",
     .load_unconditionally = true,
     .on_td_exit = td_exit_action::invalidate,
     .on_leave = leave_action::invalidate_and_restore},
    {.id = strategy::ctxsw,
     .name = "ctxsw",
     .description =
         "switch when the CPU changes task or the vCPU thread leaves KVM_RUN (vcpu_load/put)",
     .on_td_exit = td_exit_action::invalidate,
     .on_leave = leave_action::restore},
    {.id = strategy::user_return,
     .name = "user-return",
     .description = "lazy restore on return to user mode (KVM VMX/SVM, kvm_on_user_return)",
     .handles_tdx = false},
    {.id = strategy::tdx_update_after_run,
     .name = "tdx-update-after-run",
     .description = "TDX: cache told the module wrote its values after every run (RFC, v6.16)",
     .on_td_exit = td_exit_action::update_cache,
     .expected_correct = false},
    {.id = strategy::tdx_set_before_entry,
     .name = "tdx-set-before-entry",
     .description = "TDX: post-exit values written before every entry (upstream, late 2025)",
     .post_exit_values_before_td_entry = true},
    {.id = strategy::tdx_invalidate,
     .name = "tdx-invalidate",
     .description = "TDX: slots invalidated after every TD exit (uret)",
     .on_td_exit = td_exit_action::invalidate},
    {.id = strategy::tdx_may_clobber,
     .name = "tdx-may-clobber",
     .description = "TDX: slot_table::may_clobber after every TD exit (uret)",
     .on_td_exit = td_exit_action::may_clobber},
};

namespace detail {
constexpr bool strategy_table_in_order() noexcept {
  for (std::size_t i = 0; i < std::size(strategy_table); ++i) {
    if (static_cast<std::size_t>(strategy_table[i].id) != i) return false;
  }
  return true;
}
}  // namespace detail
static_assert(detail::strategy_table_in_order(), "strategy_table: one row per strategy, in order");

/// The row of `s`.
[[nodiscard]] constexpr const strategy_hooks& hooks(strategy s) noexcept {
  return strategy_table[static_cast<std::size_t>(s)];
}

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
static_assert(std::size(all_strategies) == std::size(strategy_table));

/// The strategy's name ("user-return").
[[nodiscard]] constexpr std::string_view to_string(strategy s) noexcept {
  return static_cast<std::size_t>(s) < std::size(strategy_table) ? hooks(s).name : "?";
}

/// The strategy named `name`, or nullopt.
[[nodiscard]] constexpr std::optional<strategy> parse_strategy(std::string_view name) noexcept {
  for (const strategy_hooks& h : strategy_table) {
    if (h.name == name) return h.id;
  }
  return std::nullopt;
}

/// One line on what the strategy stands for.
[[nodiscard]] constexpr std::string_view describe(strategy s) noexcept {
  return static_cast<std::size_t>(s) < std::size(strategy_table) ? hooks(s).description : "?";
}

/// True when `s` is designed for vCPUs of kind `k` (the kinds `uret-sim check` exercises).
[[nodiscard]] constexpr bool handles(strategy s, task_kind k) noexcept {
  if (!is_vcpu(k)) return true;
  return k != task_kind::tdx || hooks(s).handles_tdx;
}

/// True when the strategy is expected to keep every invariant on the kinds it handles
/// (all but tdx-update-after-run, whose cache update is wrong when the TDX module did not
/// reset the MSRs).
[[nodiscard]] constexpr bool expected_correct(strategy s) noexcept {
  return hooks(s).expected_correct;
}

}  // namespace uret::sim
