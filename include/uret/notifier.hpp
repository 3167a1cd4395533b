// SPDX-License-Identifier: MIT
// uret/notifier.hpp - the per-CPU user-return notifier chain (kernel/user-return-notifier.c).
//
// Each CPU has a list of notifiers. Registering one means "call me before this CPU next returns
// to user mode"; `fire(cpu)` is that return (the kernel's fire_user_return_notifiers(), run from
// the exit-to-user path when TIF_USER_RETURN_NOTIFY is set). The list belongs to the CPU, not
// to a task: whichever task returns to user mode next on that CPU fires it, so `pending(cpu)`
// is the flag that follows the running task across context switches.
//
// Invariants: a node is on at most one CPU's list; registering adds at the head (as
// hlist_add_head); `fire` visits each node that was on the list when it reached it, and a
// callback may unregister itself or any other node, or register nodes (which this firing does
// not visit). Nothing allocates. Different CPUs' lists live on different cache lines, so
// threads that each own a CPU never share state.
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>

#include "uret/msr.hpp"

namespace uret {

/// @brief What a slot table needs from the per-CPU user-return notifier mechanism it runs on.
///
/// `C::node_type` is an intrusive node the table embeds once per CPU. Before registering a node
/// the table sets its public `on_user_return` (a `void (*)(node_type&, cpu_id) noexcept`) and
/// `context`; `node.registered()` says whether it is on some CPU's list. The contract:
///  - `c.cpus()` is the number of CPUs the policy serves (0 .. cpus()-1); it does not change;
///  - `c.register_notifier(cpu, node)` puts `node` on `cpu`'s list, or returns an error and
///    changes nothing; from then on, the next time `cpu` returns to user mode the policy calls
///    `node.on_user_return(node, cpu)` on `cpu` itself (the kernel's
///    fire_user_return_notifiers()), and keeps the node registered until someone unregisters it;
///  - `c.unregister(node)` takes `node` off its list; it is an error (not undefined) for a node
///    that is not registered with this policy object;
///  - registering, unregistering and the callback for one CPU never run concurrently with each
///    other: the caller of the table keeps preemption off around every call for `cpu` (as KVM
///    does around kvm_set_user_return_msr()), and the policy runs the callback on that CPU;
///    the callback may unregister its node.
template <class C>
concept notifier_policy = requires(C& c, typename C::node_type& node,
                                   const typename C::node_type& cnode, cpu_id cpu) {
  requires std::same_as<decltype(node.on_user_return),
                        void (*)(typename C::node_type&, cpu_id) noexcept>;
  requires std::same_as<decltype(node.context), void*>;
  { cnode.registered() }
  noexcept->std::same_as<bool>;
  { c.cpus() }
  noexcept->std::same_as<std::size_t>;
  { c.register_notifier(cpu, node) }
  noexcept->std::same_as<result<void>>;
  { c.unregister(node) }
  noexcept->std::same_as<result<void>>;
};

struct user_return_notifier;

namespace detail {
/// One CPU's list head; shared by every notifier_chain instantiation so that a node can say
/// which list (and so which chain) holds it.
struct alignas(64) notifier_head {
  user_return_notifier* first = nullptr;
  user_return_notifier* cursor = nullptr;  // next node a running fire() visits
  const void* owner = nullptr;             // the chain, for CPUs it serves; else nullptr
  std::uint32_t cpu = 0;
  bool firing = false;
};
}  // namespace detail

/// An intrusive notifier node, embedded in its owner (struct user_return_notifier).
/// Set `on_user_return` (and `context` if the callback needs it) before registering; the links
/// belong to the chain. A node must stay alive and unmoved while it is registered.
struct user_return_notifier {
  /// Called from `fire(cpu)` with the node and the CPU returning to user mode.
  using callback = void (*)(user_return_notifier& self, cpu_id cpu) noexcept;

  callback on_user_return = nullptr;
  void* context = nullptr;

  /// True while the node is on some CPU's list.
  [[nodiscard]] bool registered() const noexcept { return pprev_ != nullptr; }
  /// The CPU whose list holds the node; meaningful only while registered().
  [[nodiscard]] cpu_id cpu() const noexcept { return cpu_id{head_ != nullptr ? head_->cpu : 0U}; }

  user_return_notifier* next_ = nullptr;    // chain-owned link
  user_return_notifier** pprev_ = nullptr;  // chain-owned link (hlist style)
  detail::notifier_head* head_ = nullptr;   // chain-owned: the list (so the chain) holding it
};

/// Per-CPU lists of user-return notifiers for up to `MaxCpus` CPUs: the default notifier
/// policy of slot_table, and the model of kernel/user-return-notifier.c.
///
///     uret::notifier_chain<> chain{4};
///     node.on_user_return = [](uret::user_return_notifier&, uret::cpu_id) noexcept { ... };
///     chain.register_notifier(uret::cpu_id{1}, node);
///     chain.fire(uret::cpu_id{1});   // CPU 1 returns to user mode: the callback runs
template <std::size_t MaxCpus = 64>
class notifier_chain {
  static_assert(MaxCpus > 0);

 public:
  using node_type = user_return_notifier;

  /// A chain for CPUs 0 .. cpus-1 (cpus is clamped to 1 .. MaxCpus).
  constexpr explicit notifier_chain(std::size_t cpus = MaxCpus) noexcept
      : cpus_(cpus == 0 ? 1 : (cpus > MaxCpus ? MaxCpus : cpus)) {
    for (std::size_t c = 0; c < MaxCpus; ++c) {
      heads_[c].cpu = static_cast<std::uint32_t>(c);
      heads_[c].owner = c < cpus_ ? this : nullptr;
    }
  }
  notifier_chain(const notifier_chain&) = delete;
  notifier_chain& operator=(const notifier_chain&) = delete;
  /// Takes every node still registered off its list, so that no node points into a dead chain
  /// (its owner then sees registered() == false and never calls back into this chain).
  ~notifier_chain() {
    for (detail::notifier_head& h : heads_) {
      for (user_return_notifier* n = h.first; n != nullptr;) {
        user_return_notifier* next = n->next_;
        n->next_ = nullptr;
        n->pprev_ = nullptr;
        n->head_ = nullptr;
        n = next;
      }
      h.first = nullptr;
    }
  }

  [[nodiscard]] std::size_t cpus() const noexcept { return cpus_; }

  /// Add `n` to `cpu`'s list (user_return_notifier_register()).
  /// Errors: cpu_out_of_range, already_registered, invalid_argument (no callback).
  result<void> register_notifier(cpu_id cpu, user_return_notifier& n) noexcept {
    if (!valid(cpu)) return errc::cpu_out_of_range;
    if (n.on_user_return == nullptr) return errc::invalid_argument;
    if (n.registered()) return errc::already_registered;
    detail::notifier_head& h = heads_[cpu.value];
    n.next_ = h.first;
    if (h.first != nullptr) h.first->pprev_ = &n.next_;
    h.first = &n;
    n.pprev_ = &h.first;
    n.head_ = &h;
    return {};
  }

  /// Remove `n` from the list that holds it (user_return_notifier_unregister()).
  /// Errors: not_registered (not on a list of this chain: never registered, already removed,
  /// or registered with another chain).
  result<void> unregister(user_return_notifier& n) noexcept {
    if (!owns(n)) return errc::not_registered;
    detail::notifier_head& h = *n.head_;
    if (h.cursor == &n) h.cursor = n.next_;  // a fire in progress would visit n next
    *n.pprev_ = n.next_;
    if (n.next_ != nullptr) n.next_->pprev_ = n.pprev_;
    n.next_ = nullptr;
    n.pprev_ = nullptr;
    n.head_ = nullptr;
    return {};
  }

  /// unregister() for a node the caller knows is on one of this chain's lists (a slot table
  /// taking its own node off: it registers that node on this chain only), without the
  /// ownership check. Only the link that registered() reads is cleared; the others are
  /// rewritten by the next registration.
  void unlink(user_return_notifier& n) noexcept {
    detail::notifier_head& h = *n.head_;
    if (h.cursor == &n) [[unlikely]]
      h.cursor = n.next_;  // a fire in progress would visit n next
    user_return_notifier* const next = n.next_;
    *n.pprev_ = next;
    if (next != nullptr) next->pprev_ = n.pprev_;
    n.pprev_ = nullptr;
  }

  /// `cpu` returns to user mode: call every registered notifier (fire_user_return_notifiers()).
  /// Errors: cpu_out_of_range, busy (fire of the same CPU from inside a callback).
  result<void> fire(cpu_id cpu) noexcept {
    if (!valid(cpu)) return errc::cpu_out_of_range;
    detail::notifier_head& h = heads_[cpu.value];
    if (h.firing) return errc::busy;
    h.firing = true;
    for (user_return_notifier* n = h.first; n != nullptr; n = h.cursor) {
      h.cursor = n->next_;
      n->on_user_return(*n, cpu);
    }
    h.cursor = nullptr;
    h.firing = false;
    return {};
  }

  /// True when `cpu` has a notifier registered: the TIF_USER_RETURN_NOTIFY flag that the
  /// running task carries. False for an out-of-range CPU.
  [[nodiscard]] bool pending(cpu_id cpu) const noexcept {
    return valid(cpu) && heads_[cpu.value].first != nullptr;
  }

  /// True when `n` is registered on one of this chain's lists.
  [[nodiscard]] bool owns(const user_return_notifier& n) const noexcept {
    return n.registered() && n.head_->owner == this;
  }

 private:
  [[nodiscard]] bool valid(cpu_id cpu) const noexcept {
    if (cpus_ > MaxCpus) __builtin_unreachable();  // constructor clamps; lets GCC see the bound
    return cpu.value < cpus_;
  }

  detail::notifier_head heads_[MaxCpus]{};
  std::size_t cpus_;
};

static_assert(notifier_policy<notifier_chain<1>>);

}  // namespace uret
