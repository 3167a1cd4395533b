// SPDX-License-Identifier: MIT
// uret/detail/slot_table_impl.hpp - the member functions of uret::slot_table defined out of
// the class: add(), cpu_online(), drop(), and the private paths behind set(), update_cache(),
// invalidate(), may_clobber() and the restore (kvm_on_user_return()).
//
// Included at the end of uret/slot_table.hpp; include that header, not this one. The
// functions are the ones the class body declares, unchanged, and `inline` as they were when
// defined in the class (those marked [[gnu::noinline]] in the class are not declared `inline`,
// which GCC refuses beside noinline), so the compiler sees the same code.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>

#include "uret/slot_table.hpp"

namespace uret {

template <msr_backend Backend, std::size_t Slots, std::size_t MaxCpus, notifier_policy Chain>
inline result<unsigned> slot_table<Backend, Slots, MaxCpus, Chain>::add(msr_index msr,
                                                                        cpu_id probe_cpu) noexcept {
  if (count_ == Slots) return errc::table_full;
  if (find(msr)) return errc::duplicate_msr;
  for (std::size_t c = 0; c < cpus_; ++c) {
    if (cpu_[c].online) return errc::table_in_use;
  }
  if (!valid(probe_cpu)) return errc::cpu_out_of_range;
  const result<std::uint64_t> v = backend_.read(probe_cpu, msr);
  if (!v) return v.error();
  const result<void> w = backend_.write(probe_cpu, msr, *v);
  if (!w) return w.error();
  ++cpu_[probe_cpu.value].stats.writes;
  msrs_[count_] = msr;
  return static_cast<unsigned>(count_++);
}

template <msr_backend Backend, std::size_t Slots, std::size_t MaxCpus, notifier_policy Chain>
inline result<void> slot_table<Backend, Slots, MaxCpus, Chain>::cpu_online(cpu_id cpu) noexcept {
  if (!valid(cpu) || cpu.value >= chain_.cpus()) return errc::cpu_out_of_range;
  per_cpu& r = cpu_[cpu.value];
  if (r.node.registered() || r.dirty != 0) return errc::guest_value_loaded;
  // Every read before any host value changes. Nothing is dirty, so every slot caches its
  // host value (curr == host): the reads go straight into `curr`, and a read that fails puts
  // back the cached values the earlier reads replaced, so the table is as it was (the host
  // values untouched), even on a CPU already online whose MSRs changed since.
  const std::size_t n = count_;
  for (std::size_t i = 0; i < n; ++i) {
    const result<std::uint64_t> v = backend_.read(cpu, msrs_[i]);
    if (!v) [[unlikely]]
      return online_failed(r, i, v.error());
    r.curr[i] = v.value_or(0);
  }
  // Then `host` takes every slot's value: a copy of fixed size, which compiles to a few
  // moves with no loop and no library call (slots never added hold 0 in both arrays).
  for (std::size_t i = 0; i < Slots; ++i) r.host[i] = r.curr[i];
  r.dirty = 0;
  r.unknown = 0;
  r.nr_slots = static_cast<std::uint8_t>(count_);
  r.online = true;
  return {};
}

// A read of cpu_online() failed after `read` slots were read into `curr`: their cached
// values were the host values, which are still there.
template <msr_backend Backend, std::size_t Slots, std::size_t MaxCpus, notifier_policy Chain>
errc slot_table<Backend, Slots, MaxCpus, Chain>::online_failed(per_cpu& r, std::size_t read,
                                                               errc e) noexcept {
  for (std::size_t i = 0; i < read; ++i) r.curr[i] = r.host[i];
  return e;
}

template <msr_backend Backend, std::size_t Slots, std::size_t MaxCpus, notifier_policy Chain>
inline result<void> slot_table<Backend, Slots, MaxCpus, Chain>::drop(cpu_id cpu) noexcept {
  if (!valid(cpu)) [[unlikely]]
    return errc::cpu_out_of_range;
  per_cpu& r = cpu_[cpu.value];
  if (r.node.registered()) {
    const result<void> res = restore(r, cpu);
    if (!res) return res;  // still dirty, still registered, still online
  }
  r.nr_slots = 0;
  r.online = false;
  r.gate = static_cast<std::uint8_t>(r.gate & k_writing);
  r.dirty = 0;
  r.unknown = static_cast<mask_t>(~mask_t{0});  // stale handles miss the set() fast path
  return {};
}

template <msr_backend Backend, std::size_t Slots, std::size_t MaxCpus, notifier_policy Chain>
inline errc slot_table<Backend, Slots, MaxCpus, Chain>::slot_error(const per_cpu& r,
                                                                   unsigned slot) const noexcept {
  if (slot >= Slots) return errc::slot_out_of_range;
  if (slot >= count_) return errc::slot_not_added;
  URET_ASSERT(!r.online, "slot below nr_slots on an online CPU");
  return errc::cpu_offline;
}

// kvm_user_return_register_notifier(), before anything changes: register once.
template <msr_backend Backend, std::size_t Slots, std::size_t MaxCpus, notifier_policy Chain>
inline result<void> slot_table<Backend, Slots, MaxCpus, Chain>::ensure_registered(
    per_cpu& r, cpu_id cpu) noexcept {
  if (r.node.registered()) [[likely]]
    return {};
  return register_slow(r, cpu);
}

template <msr_backend Backend, std::size_t Slots, std::size_t MaxCpus, notifier_policy Chain>
result<void> slot_table<Backend, Slots, MaxCpus, Chain>::register_slow(per_cpu& r,
                                                                       cpu_id cpu) noexcept {
  const result<void> g = chain_.register_notifier(cpu, r.node);
  r.gate =
      static_cast<std::uint8_t>((r.gate & k_writing) | (g.has_value() && r.online ? k_ready : 0U));
  return g;
}

template <msr_backend Backend, std::size_t Slots, std::size_t MaxCpus, notifier_policy Chain>
inline void slot_table<Backend, Slots, MaxCpus, Chain>::unregister(per_cpu& r) noexcept {
  r.gate = static_cast<std::uint8_t>(r.gate & k_writing);
  if constexpr (requires { chain_.unlink(r.node); }) {
    chain_.unlink(r.node);  // the node is ours, registered on chain_ only: no ownership check
  } else {
    static_cast<void>(chain_.unregister(r.node));
  }
}

template <msr_backend Backend, std::size_t Slots, std::size_t MaxCpus, notifier_policy Chain>
template <bool Count>
inline result<void> slot_table<Backend, Slots, MaxCpus, Chain>::set_in(
    per_cpu& r, cpu_id cpu, const slot_handle& s, std::uint64_t value,
    std::uint64_t mask) noexcept {
  value = (value & mask) | (r.host[s.index_] & ~mask);
  if (value == r.curr[s.index_] && (r.unknown & s.bit_) == 0) [[likely]] {
    if constexpr (Count) {
      if (counting_) ++r.stats.skipped;
    }
    return {};
  }
  return write_and_cache<Count>(r, cpu, s, value);
}

// set()'s write path (the kernel's order: write, then cache, then register). A restore can
// run inside the write window (a virtualization disable from interrupt context): it clears
// k_ready (it unregisters), and clears the writing byte if it wrote `host` over our value
// (see answer_writer()). On the path where the restore is registered and the CPU online,
// one compare of `gate` after the write tells whether anything ran.
template <msr_backend Backend, std::size_t Slots, std::size_t MaxCpus, notifier_policy Chain>
template <bool Count>
inline result<void> slot_table<Backend, Slots, MaxCpus, Chain>::write_and_cache(
    per_cpu& r, cpu_id cpu, const slot_handle& s, std::uint64_t value) noexcept {
  const unsigned slot = s.index_;
  if (r.gate != k_ready) [[unlikely]] {
    if constexpr (Count)  // the checked operations
      return write_unready_at<Count>(r, cpu, slot, value);
    else
      return write_unready<Count>(r, cpu, s, value);
  }
  const std::uint8_t token = s.token_;
  r.gate = token;
  const result<void> w = backend_.write(cpu, msrs_[slot], value);
  if (r.gate != token) [[unlikely]]
    return write_interrupted<Count>(r, cpu, slot, s.bit_, value, w);
  r.gate = k_ready;
  if (!w) [[unlikely]]
    return w;
  if constexpr (Count) {
    if (counting_) ++r.stats.writes;
  }
  r.curr[slot] = value;
  r.unknown = static_cast<mask_t>(r.unknown & s.not_bit_);
  r.dirty = static_cast<mask_t>(r.dirty | s.bit_);
  return {};
}

// A restore ran inside the window of a write started while ready.
template <msr_backend Backend, std::size_t Slots, std::size_t MaxCpus, notifier_policy Chain>
template <bool Count>
result<void> slot_table<Backend, Slots, MaxCpus, Chain>::write_interrupted(
    per_cpu& r, cpu_id cpu, unsigned slot, mask_t bit, std::uint64_t value,
    result<void> w) noexcept {
  const bool answered = (r.gate & k_writing) == 0;  // it wrote host after our value
  r.gate = static_cast<std::uint8_t>(r.gate & k_ready);
  return after_write<Count>(r, cpu, slot, bit, value, w, answered);
}

// The write path when the restore is not registered or the CPU is offline (the first write
// after a restore, or a handle kept across drop()). The handle operations reach it with their
// handle, which is in memory already; the checked ones with the slot number, since the handle
// they make on the way is best left in registers.
template <msr_backend Backend, std::size_t Slots, std::size_t MaxCpus, notifier_policy Chain>
template <bool Count>
result<void> slot_table<Backend, Slots, MaxCpus, Chain>::write_unready(
    per_cpu& r, cpu_id cpu, const slot_handle& s, std::uint64_t value) noexcept {
  return write_unready_at<Count>(r, cpu, s.index_, value);
}

template <msr_backend Backend, std::size_t Slots, std::size_t MaxCpus, notifier_policy Chain>
template <bool Count>
result<void> slot_table<Backend, Slots, MaxCpus, Chain>::write_unready_at(
    per_cpu& r, cpu_id cpu, unsigned slot, std::uint64_t value) noexcept {
  const mask_t bit = bit_of(slot);
  if (!r.online) [[unlikely]]
    return errc::cpu_offline;  // a handle kept across drop()
  r.gate = static_cast<std::uint8_t>((r.gate & k_ready) | (slot + 1));
  const result<void> w = backend_.write(cpu, msrs_[slot], value);
  const bool answered = (r.gate & k_writing) == 0;
  r.gate = static_cast<std::uint8_t>(r.gate & k_ready);
  return after_write<Count>(r, cpu, slot, bit, value, w, answered);
}

template <msr_backend Backend, std::size_t Slots, std::size_t MaxCpus, notifier_policy Chain>
template <bool Count>
inline result<void> slot_table<Backend, Slots, MaxCpus, Chain>::after_write(
    per_cpu& r, cpu_id cpu, unsigned slot, mask_t bit, std::uint64_t value, result<void> w,
    bool answered) noexcept {
  if (!w) [[unlikely]]
    return w;
  if constexpr (Count) {
    if (counting_) ++r.stats.writes;
  }
  if (answered) [[unlikely]]
    return errc::interrupted;
  r.curr[slot] = value;
  r.unknown = static_cast<mask_t>(r.unknown & ~bit);
  r.dirty = static_cast<mask_t>(r.dirty | bit);
  if ((r.gate & k_ready) == 0) [[unlikely]]
    return register_after_write(r, cpu, slot);
  return {};
}

// The registration a write needed failed: put the host value back so that nothing awaits a
// restore that will never run, and report the error.
template <msr_backend Backend, std::size_t Slots, std::size_t MaxCpus, notifier_policy Chain>
result<void> slot_table<Backend, Slots, MaxCpus, Chain>::register_after_write(
    per_cpu& r, cpu_id cpu, unsigned slot) noexcept {
  if (r.node.registered()) return {};  // online == false: a drop ran inside the write window
  const result<void> g = register_slow(r, cpu);
  if (g) return g;
  const mask_t bit = bit_of(slot);
  // If this write fails too, the cache still tells the truth (the guest value) and the next
  // operation that registers the restore will cover it.
  if (backend_.write(cpu, msrs_[slot], r.host[slot])) {
    r.curr[slot] = r.host[slot];
    r.dirty = static_cast<mask_t>(r.dirty & ~bit);
  }
  return g;
}

template <msr_backend Backend, std::size_t Slots, std::size_t MaxCpus, notifier_policy Chain>
result<void> slot_table<Backend, Slots, MaxCpus, Chain>::cache_unready(
    per_cpu& r, cpu_id cpu, unsigned slot, std::uint64_t value) noexcept {
  if (!r.online) return errc::cpu_offline;  // a handle kept across drop()
  return cache(r, cpu, slot, value);
}

template <msr_backend Backend, std::size_t Slots, std::size_t MaxCpus, notifier_policy Chain>
inline result<void> slot_table<Backend, Slots, MaxCpus, Chain>::cache(
    per_cpu& r, cpu_id cpu, unsigned slot, std::uint64_t value) noexcept {
  if (const result<void> g = ensure_registered(r, cpu); !g) [[unlikely]]
    return g;
  const mask_t bit = bit_of(slot);
  r.curr[slot] = value;
  r.unknown = static_cast<mask_t>(r.unknown & ~bit);
  r.dirty = static_cast<mask_t>(r.dirty | bit);
  return {};
}

template <msr_backend Backend, std::size_t Slots, std::size_t MaxCpus, notifier_policy Chain>
inline result<void> slot_table<Backend, Slots, MaxCpus, Chain>::clobber(
    per_cpu& r, cpu_id cpu, unsigned slot, std::uint64_t value) noexcept {
  const mask_t bit = bit_of(slot);
  if (r.curr[slot] == value && (r.unknown & bit) == 0) return {};
  if (!r.online) [[unlikely]]
    return errc::cpu_offline;
  return mark_slot_unknown(r, cpu, slot);
}

// One slot: no walk over a mask.
template <msr_backend Backend, std::size_t Slots, std::size_t MaxCpus, notifier_policy Chain>
inline result<void> slot_table<Backend, Slots, MaxCpus, Chain>::mark_slot_unknown(
    per_cpu& r, cpu_id cpu, unsigned slot) noexcept {
  if (const result<void> g = ensure_registered(r, cpu); !g) [[unlikely]]
    return g;
  r.curr[slot] = ~r.host[slot];  // see below
  r.unknown = static_cast<mask_t>(r.unknown | bit_of(slot));
  r.dirty = static_cast<mask_t>(r.dirty | bit_of(slot));
  return {};
}

template <msr_backend Backend, std::size_t Slots, std::size_t MaxCpus, notifier_policy Chain>
inline result<void> slot_table<Backend, Slots, MaxCpus, Chain>::mark_unknown(per_cpu& r, cpu_id cpu,
                                                                             mask_t bits) noexcept {
  if (const result<void> g = ensure_registered(r, cpu); !g) [[unlikely]]
    return g;
  // While a slot is unknown its `curr` means nothing; it is made to differ from `host`, so
  // that the restore's one comparison writes the slot without looking at `unknown`.
  for (mask_t todo = bits; todo != 0; todo = static_cast<mask_t>(todo & (todo - 1))) {
    const auto slot = static_cast<unsigned>(std::countr_zero(todo));
    r.curr[slot] = ~r.host[slot];
  }
  r.unknown = static_cast<mask_t>(r.unknown | bits);
  r.dirty = static_cast<mask_t>(r.dirty | bits);
  return {};
}

template <msr_backend Backend, std::size_t Slots, std::size_t MaxCpus, notifier_policy Chain>
inline result<void> slot_table<Backend, Slots, MaxCpus, Chain>::restore(per_cpu& r,
                                                                        cpu_id cpu) noexcept {
  if (r.node.registered()) unregister(r);
  if ((r.gate & k_writing) != 0) [[unlikely]]
    answer_writer(r);
  if (counting_) return walk_counting(r, cpu);
  return walk<false>(r, cpu);
}

// The walk that keeps the counters, out of line: counters cost nothing when not wanted.
template <msr_backend Backend, std::size_t Slots, std::size_t MaxCpus, notifier_policy Chain>
result<void> slot_table<Backend, Slots, MaxCpus, Chain>::walk_counting(per_cpu& r,
                                                                       cpu_id cpu) noexcept {
  return walk<true>(r, cpu);
}

// The restore's walk: kvm_on_user_return()'s loop, "for each slot, if host != curr, write
// host and set curr = host", over the slots from the lowest dirty one to the highest (the
// kernel's loop runs over every slot: a slot outside `dirty` holds curr == host, and is
// known, so the range writes exactly what the kernel writes, in its order). One comparison
// per slot (an unknown slot's `curr` differs from `host`, see mark_unknown()). A write's
// result is checked with a branch predicted not taken; the first failure hands the rest of
// the walk to walk_failed(), so that this loop keeps no failure state.
template <msr_backend Backend, std::size_t Slots, std::size_t MaxCpus, notifier_policy Chain>
template <bool Count>
inline result<void> slot_table<Backend, Slots, MaxCpus, Chain>::walk(per_cpu& r,
                                                                     cpu_id cpu) noexcept {
  const std::uint64_t todo_at_start = r.dirty;
  std::uint64_t written = 0;
  if (todo_at_start != 0) {
    Backend& backend = backend_;  // locals: the writes cannot change them
    const unsigned last = static_cast<unsigned>(std::bit_width(todo_at_start)) - 1;
    unsigned slot = static_cast<unsigned>(std::countr_zero(todo_at_start));
    do {
      const std::uint64_t host = r.host[slot];
      if (host == r.curr[slot]) continue;
      if (const result<void> w = backend.write(cpu, msrs_[slot], host); !w) [[unlikely]]
        return walk_failed<Count>(r, cpu, todo_at_start, slot, written, w);
      r.curr[slot] = host;
      if constexpr (Count) ++written;
    } while (++slot <= last);
  }
  if constexpr (Count) r.stats.writes += written;
  // Every slot is settled. Only a nested drop() can run inside the loop (from a write): it
  // finds nothing registered and clears `dirty`, leaving its offline masks as they are.
  r.unknown = static_cast<mask_t>(r.unknown & ~r.dirty);
  r.dirty = 0;
  return {};
}

// The rest of a walk whose write of `slot` failed with `first_error`: the failed slots stay
// dirty with the value the hardware holds, and the restore is registered again (I1). Returns
// the first failure.
template <msr_backend Backend, std::size_t Slots, std::size_t MaxCpus, notifier_policy Chain>
template <bool Count>
result<void> slot_table<Backend, Slots, MaxCpus, Chain>::walk_failed(
    per_cpu& r, cpu_id cpu, std::uint64_t todo_at_start, std::size_t slot, std::uint64_t written,
    result<void> first_error) noexcept {
  std::uint64_t failed = std::uint64_t{1} << slot;  // the slot that failed
  const auto end = static_cast<std::size_t>(std::bit_width(todo_at_start));
  for (++slot; slot < end; ++slot) {
    const std::uint64_t host = r.host[slot];
    if (host == r.curr[slot]) continue;
    if (!backend_.write(cpu, msrs_[slot], host)) {
      failed |= std::uint64_t{1} << slot;
      continue;
    }
    r.curr[slot] = host;
    if constexpr (Count) ++written;
  }
  if constexpr (Count) r.stats.writes += written;
  const auto settled = static_cast<mask_t>(todo_at_start & ~failed);
  r.unknown = static_cast<mask_t>(r.unknown & ~(settled & r.dirty));  // as in walk()
  // The failed slots stay dirty even if a drop() nested in one of the writes cleared the
  // masks (it found nothing registered, so it restored nothing): the hardware still holds
  // their guest values, and the next return to user mode must write them.
  r.dirty = static_cast<mask_t>((r.dirty & ~settled) | failed);
  if (r.dirty != 0) {
    if (const result<void> g = ensure_registered(r, cpu); !g && first_error) first_error = g;
  }
  return first_error;
}

// A restore inside set()'s write window: if it is about to write the slot being written,
// it clears `writing` to tell set() that `host` went in after set()'s value.
template <msr_backend Backend, std::size_t Slots, std::size_t MaxCpus, notifier_policy Chain>
void slot_table<Backend, Slots, MaxCpus, Chain>::answer_writer(per_cpu& r) noexcept {
  const auto slot = static_cast<unsigned>((r.gate & k_writing) - 1);
  if ((r.dirty & bit_of(slot)) != 0 && must_restore(r, slot))
    r.gate = static_cast<std::uint8_t>(r.gate & k_ready);
}

template <msr_backend Backend, std::size_t Slots, std::size_t MaxCpus, notifier_policy Chain>
inline void slot_table<Backend, Slots, MaxCpus, Chain>::notifier_callback(node_type& n,
                                                                          cpu_id cpu) noexcept {
  auto* self = static_cast<slot_table*>(n.context);
  URET_ASSERT(cpu.value < MaxCpus && &self->cpu_[cpu.value].node == &n,
              "user-return notifier run on a CPU other than the one it was registered for");
  static_cast<void>(self->restore(self->cpu_[cpu.value], cpu));
}

}  // namespace uret
