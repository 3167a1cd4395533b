// SPDX-License-Identifier: MIT
// uret/linux_kernel/notifier.hpp - the notifier policy for code inside a Linux kernel module:
// the kernel's own per-CPU user-return notifiers (kernel/user-return-notifier.c), the ones KVM
// registers its kvm_on_user_return() with.
//
// A node embeds the kernel's struct user_return_notifier (inside the C struct uret_linux_node
// of uret/linux_kernel/shim.h). register_notifier() is user_return_notifier_register(): it
// adds the node to the executing CPU's list and sets TIF_USER_RETURN_NOTIFY on the running
// task; the kernel's exit-to-user path (fire_user_return_notifiers()) then calls the node's
// `on_user_return` on that CPU, with interrupts off, whichever task returns first (the flag
// follows the CPU across context switches). So, as in KVM:
//  - register only from the CPU named, with preemption off (slot_table::set and friends must
//    run with preemption off; the shim refuses a preemptible or foreign-CPU caller);
//  - the callback runs in the exit-to-user path with interrupts off: it must not sleep;
//  - unregister() from the holding CPU with preemption off removes the node at once; from any
//    other context it sends an IPI to the holding CPU and waits, so it must not be called with
//    interrupts off there. A module must unregister every node before it is unloaded.
// There is no fire(): only the kernel fires these notifiers.
#pragma once

#include <cstddef>

#include "uret/linux_kernel/shim.h"
#include "uret/msr.hpp"

namespace uret {

/// A user-return notifier node for linux_kernel_notifiers (struct user_return_notifier inside).
/// Set `on_user_return` (and `context`) before registering; the rest belongs to the policy.
/// A node must stay alive and unmoved while it is registered.
struct linux_kernel_notifier {
  /// Called on the CPU returning to user mode, with interrupts off.
  using callback = void (*)(linux_kernel_notifier& self, cpu_id cpu) noexcept;

  callback on_user_return = nullptr;
  void* context = nullptr;

  /// True while the node is on some CPU's list.
  [[nodiscard]] bool registered() const noexcept { return node_.cpu >= 0; }
  /// The CPU whose list holds the node; meaningful only while registered().
  [[nodiscard]] cpu_id cpu() const noexcept {
    return cpu_id{static_cast<std::uint32_t>(node_.cpu)};
  }

  uret_linux_node node_{{}, &linux_kernel_notifier::fire, -1};  // policy-owned

 private:
  // The shim's callback: from the C node back to this object, then to `on_user_return`.
  static void fire(uret_linux_node* n, unsigned int cpu) noexcept {
    auto* self = reinterpret_cast<linux_kernel_notifier*>(reinterpret_cast<char*>(n) -
                                                          offsetof(linux_kernel_notifier, node_));
    if (self->on_user_return != nullptr) self->on_user_return(*self, cpu_id{cpu});
  }
};

/// The notifier policy over the kernel's user_return_notifier_register() / _unregister().
/// Stateless apart from the CPU count; usable as slot_table's `Chain`.
class linux_kernel_notifiers {
 public:
  using node_type = linux_kernel_notifier;

  /// Policy for CPUs 0 .. cpus-1 (at least one; pass at most nr_cpu_ids).
  constexpr explicit linux_kernel_notifiers(std::size_t cpus) noexcept
      : cpus_(cpus == 0 ? 1 : cpus) {}
  linux_kernel_notifiers(const linux_kernel_notifiers&) = delete;
  linux_kernel_notifiers& operator=(const linux_kernel_notifiers&) = delete;

  [[nodiscard]] std::size_t cpus() const noexcept { return cpus_; }

  /// user_return_notifier_register() of `n` on `cpu`, which must be the executing CPU, with
  /// preemption off. Errors: cpu_out_of_range, invalid_argument (no callback, preemptible, or
  /// another CPU), already_registered.
  result<void> register_notifier(cpu_id cpu, node_type& n) noexcept {
    if (cpu.value >= cpus_) return errc::cpu_out_of_range;
    if (n.on_user_return == nullptr) return errc::invalid_argument;
    if (n.registered()) return errc::already_registered;
    if (uret_linux_register(&n.node_, cpu.value) != 0) return errc::invalid_argument;
    return {};
  }

  /// user_return_notifier_unregister() of `n`, on the CPU that holds it (see the header
  /// comment for the contexts this may be called from). Errors: not_registered.
  result<void> unregister(node_type& n) noexcept {
    if (uret_linux_unregister(&n.node_) != 0) return errc::not_registered;
    return {};
  }

 private:
  std::size_t cpus_;
};

}  // namespace uret
