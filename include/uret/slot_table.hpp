// SPDX-License-Identifier: MIT
// uret/slot_table.hpp - KVM's lazy user-return MSR cache (arch/x86/kvm/x86.c, since late 2025
// arch/x86/kvm/msrs.c: struct kvm_user_return_msrs and the functions around it).
//
// A table of up to `Slots` MSRs (added once, at set-up) and, per CPU, for each slot the value to
// restore before user mode (`host`) and what the hardware holds (`curr`), plus the notifier
// that restores them on the next return to user mode. Every operation takes the CPU it runs on
// explicitly; the caller guarantees it runs on that CPU with preemption off (or, in tests, that
// one thread owns that CPU). Different CPUs never share a cache line.
//
// Invariants kept by every operation, including every failure path:
//  - the cache never believes a value the hardware does not hold: a slot is either known
//    (`curr` == hardware) or explicitly unknown;
//  - a slot whose `curr` differs from `host`, or is unknown, is "dirty", and any dirty slot
//    implies the notifier is registered (spec I1);
//  - a failed backend write, and a failed notifier registration, change nothing (I5): every
//    operation that needs the restore registers it before it changes anything, and reports
//    the policy's error itself.
// For call sequences KVM accepts (no invalidate/may_clobber) in which no restore write faults,
// the backend sees exactly the writes, in the same order, that the kernel's functions issue.
// One deliberate difference when a restore write faults: the kernel's kvm_on_user_return()
// uses an unchecked wrmsrq() and records the host value as current anyway, so it never
// writes that MSR again; here the slot keeps its cached value, stays dirty, the restore is
// registered again, and the next return to user mode retries the write.
//
// Two ways in. The checked operations take a cpu_id and a slot number and check both on every
// call (a compare and a branch each, plus a counter update). The handle operations take a
// cpu_handle and a slot_handle, which can only be obtained valid (cpu() checks the CPU is in
// range and online, slot() that the slot was added), and so check nothing the handles already
// guarantee; they keep no counters. Both keep every invariant above.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <type_traits>

#include "uret/detail/slot_bits.hpp"
#include "uret/msr.hpp"
#include "uret/msr_backend.hpp"
#include "uret/notifier.hpp"

namespace uret {

/// Per-CPU counters of a slot table, kept by the checked operations, the restore and add()
/// while counting is on (the default; slot_table::set_counting()). The handle operations keep
/// none: counters cost nothing when not wanted.
struct slot_stats {
  std::uint64_t writes = 0;   ///< backend writes that succeeded (probe, checked set, restore)
  std::uint64_t skipped = 0;  ///< checked set() calls that needed no write (value cached)
};

/// The user-return MSR table over `Backend`, for up to `Slots` MSRs and `MaxCpus` CPUs, whose
/// restores are registered with the notifier policy `Chain` (notifier_chain by default, the
/// model of kernel/user-return-notifier.c).
///
///     uret::mock_msr hw{2};
///     hw.declare(uret::msrs::tsc_aux, 0);
///     uret::notifier_chain<> chain{2};
///     uret::slot_table<uret::mock_msr> table{hw, chain, 2};
///     unsigned slot = *table.add(uret::msrs::tsc_aux);
///     table.cpu_online(uret::cpu_id{0});              // capture host values
///     table.set(uret::cpu_id{0}, slot, 0x5a5);        // guest value: one WRMSR
///     chain.fire(uret::cpu_id{0});                    // return to user: host value back
///
/// With handles, checked once (e.g. when the vCPU is loaded) instead of on every call:
///
///     auto cpu = *table.cpu(uret::cpu_id{0});         // in range and online, or an error
///     auto aux = *table.slot(slot);                   // added, or an error
///     table.set(cpu, aux, 0x5a5);
///
/// What a caller guarantees (as KVM does): every call for a CPU runs on that CPU with
/// preemption off (or, in tests, on the one thread that owns that CPU), and the chain and the
/// backend outlive the table.
template <msr_backend Backend, std::size_t Slots = 16, std::size_t MaxCpus = 64,
          notifier_policy Chain = notifier_chain<MaxCpus>>
class slot_table {
  static_assert(Slots > 0 && Slots <= 64, "a slot table holds 1 to 64 MSRs");
  static_assert(MaxCpus > 0);
  using mask_t = detail::slot_mask_t<Slots>;
  using node_type = typename Chain::node_type;
  struct per_cpu;
  // per_cpu::gate: k_ready, and in k_writing 1 + the slot set() is writing (1 .. 64).
  static constexpr std::uint8_t k_ready = 0x80;
  static constexpr std::uint8_t k_writing = 0x7f;

 public:
  using backend_type = Backend;
  using chain_type = Chain;
  static constexpr std::size_t capacity = Slots;
  static constexpr std::size_t max_cpus = MaxCpus;

  /// A CPU of this table, in range and online when it was obtained (from cpu()). Valid for the
  /// table's lifetime; after drop() of its CPU, operations through it return cpu_offline.
  class cpu_handle {
   public:
    [[nodiscard]] constexpr cpu_id id() const noexcept { return cpu_; }

   private:
    friend class slot_table;
    friend class result<cpu_handle>;
    constexpr cpu_handle() noexcept = default;
    constexpr cpu_handle(per_cpu* r, cpu_id c) noexcept : r_(r), cpu_(c) {}
    per_cpu* r_ = nullptr;
    cpu_id cpu_{};
  };

  /// A slot of this table that add() handed out (from slot()), with its bit precomputed.
  class slot_handle {
   public:
    [[nodiscard]] constexpr unsigned index() const noexcept { return index_; }

   private:
    friend class slot_table;
    friend class result<slot_handle>;
    constexpr slot_handle() noexcept = default;
    constexpr explicit slot_handle(unsigned i) noexcept
        : index_(i),
          token_(static_cast<std::uint8_t>(k_ready | (i + 1))),
          bit_(bit_of(i)),
          not_bit_(static_cast<mask_t>(~bit_of(i))) {}
    unsigned index_ = 0;
    std::uint8_t token_ = 0;  // what set() puts in the record's `gate` while it writes
    mask_t bit_ = 0;
    mask_t not_bit_ = 0;
  };

  /// A table over `backend` for CPUs 0 .. cpus-1 (clamped to 1 .. MaxCpus), registering its
  /// per-CPU notifiers on `chain`. Both must outlive the table; the table does not move.
  /// A CPU the chain does not serve (cpus() > chain.cpus()) is refused by cpu_online().
  constexpr slot_table(Backend& backend, chain_type& chain, std::size_t cpus = MaxCpus) noexcept
      : backend_(backend), chain_(chain), cpus_(cpus == 0 ? 1 : (cpus > MaxCpus ? MaxCpus : cpus)) {
    for (auto& r : cpu_) {
      r.node.on_user_return = &slot_table::notifier_callback;
      r.node.context = this;
    }
  }
  slot_table(const slot_table&) = delete;
  slot_table& operator=(const slot_table&) = delete;
  /// Unregisters the notifiers that are still registered; it does not restore host values
  /// (call drop() on each CPU first if the hardware must get them back).
  ~slot_table() {
    for (auto& r : cpu_) {
      if (r.node.registered()) unregister(r);
    }
  }

  [[nodiscard]] std::size_t cpus() const noexcept { return cpus_; }
  /// Slots handed out so far (kvm_nr_uret_msrs).
  [[nodiscard]] std::size_t size() const noexcept { return count_; }
  /// The MSR of `slot`, or slot_out_of_range / slot_not_added.
  [[nodiscard]] result<msr_index> msr(unsigned slot) const noexcept {
    if (slot >= Slots) return errc::slot_out_of_range;
    if (slot >= count_) return errc::slot_not_added;
    return msrs_[slot];
  }

  /// The handle of an online CPU. Errors: cpu_out_of_range, cpu_offline.
  [[nodiscard]] result<cpu_handle> cpu(cpu_id c) noexcept {
    if (!valid(c)) return errc::cpu_out_of_range;
    per_cpu& r = cpu_[c.value];
    if (!r.online) return errc::cpu_offline;
    return cpu_handle{&r, c};
  }

  /// The handle of an added slot. Errors: slot_out_of_range, slot_not_added.
  [[nodiscard]] result<slot_handle> slot(unsigned s) const noexcept {
    if (s >= Slots) return errc::slot_out_of_range;
    if (s >= count_) return errc::slot_not_added;
    return slot_handle{s};
  }

  /// Give `msr` the next slot (kvm_add_user_return_msr()): probe it on `probe_cpu` by reading
  /// it and writing the same value back, as kvm_probe_user_return_msr() does; add nothing if
  /// either faults. Set-up only: not concurrent with any other call.
  /// Errors: table_full, duplicate_msr, table_in_use (a CPU is online), cpu_out_of_range, and
  /// the backend's error when the probe fails.
  result<unsigned> add(msr_index msr, cpu_id probe_cpu = cpu_id{0}) noexcept;

  /// The slot of `msr` (kvm_find_user_return_msr()), or unknown_msr.
  [[nodiscard]] result<unsigned> find(msr_index msr) const noexcept {
    for (std::size_t i = 0; i < count_; ++i) {
      if (msrs_[i] == msr) return static_cast<unsigned>(i);
    }
    return errc::unknown_msr;
  }

  /// Virtualization enabled on `cpu` (kvm_user_return_msr_cpu_online()): read every slot's MSR
  /// and take it as both `host` and `curr`. Refused while guest values await restore (the
  /// restore is registered, or a slot is dirty because a registration failed), since the
  /// guest's value would become "host" for good. If a read fails the CPU stays as it was
  /// (offline, or online with the same host values and every slot still caching what the
  /// hardware holds).
  /// Errors: cpu_out_of_range (also for a CPU the chain does not serve), guest_value_loaded,
  /// the backend's read error.
  result<void> cpu_online(cpu_id cpu) noexcept;

  /// Load `value` into `slot` on `cpu` (kvm_set_user_return_msr()). Bits outside `mask` come
  /// from the host value. If the merged value equals the cached one, nothing is written and
  /// nothing registered. Otherwise register the restore, write, and cache the value; if the
  /// registration or the write fails, return the error with nothing changed.
  /// Errors: cpu_out_of_range, cpu_offline, slot_out_of_range, slot_not_added, the chain's
  /// registration error, the backend's write error, interrupted (a restore that ran inside
  /// the write window already put the host value back; the cache says so).
  /// Cost over the handle form: the two checks and the `skipped`/`writes` counters.
  result<void> set(cpu_id cpu, unsigned slot, std::uint64_t value,
                   std::uint64_t mask = ~std::uint64_t{0}) noexcept {
    if (!valid(cpu)) [[unlikely]]
      return errc::cpu_out_of_range;
    per_cpu& r = cpu_[cpu.value];
    if (!captured(r, slot)) [[unlikely]]
      return slot_error(r, slot);
    return set_in<true>(r, cpu, slot_handle{slot}, value, mask);
  }
  /// set() through handles. Errors: cpu_offline (the CPU was dropped since), the chain's
  /// registration error, the backend's write error, interrupted.
  result<void> set(cpu_handle cpu, const slot_handle& slot, std::uint64_t value,
                   std::uint64_t mask = ~std::uint64_t{0}) noexcept {
    return set_in<false>(*cpu.r_, cpu.cpu_, slot, value, mask);
  }

  /// "Set cached without write" (kvm_user_return_msr_update_cache(), v6.16): record that the
  /// hardware already holds `value` (firmware put it there), with no write, no mask and no
  /// comparison, and register the restore. Correct only if the firmware really wrote `value`;
  /// prefer may_clobber() when it might not have.
  /// Errors: cpu_out_of_range, cpu_offline, slot_out_of_range, slot_not_added, the chain's
  /// registration error (nothing changed).
  result<void> update_cache(cpu_id cpu, unsigned slot, std::uint64_t value) noexcept {
    if (!valid(cpu)) [[unlikely]]
      return errc::cpu_out_of_range;
    per_cpu& r = cpu_[cpu.value];
    if (!captured(r, slot)) [[unlikely]]
      return slot_error(r, slot);
    return cache(r, cpu, slot, value);
  }
  /// update_cache() through handles. Errors: cpu_offline, the chain's registration error.
  result<void> update_cache(cpu_handle cpu, slot_handle slot, std::uint64_t value) noexcept {
    per_cpu& r = *cpu.r_;
    if ((r.gate & k_ready) == 0) [[unlikely]]
      return cache_unready(r, cpu.cpu_, slot.index_, value);
    r.curr[slot.index_] = value;
    r.dirty = static_cast<mask_t>(r.dirty | slot.bit_);
    r.unknown = static_cast<mask_t>(r.unknown & slot.not_bit_);
    return {};
  }

  /// Forget what the hardware holds in `slot`: the next set() writes unconditionally and the
  /// next restore writes `host` unconditionally. For firmware or hardware that may have
  /// changed the MSR in a way the caller cannot describe.
  /// Errors: cpu_out_of_range, cpu_offline, slot_out_of_range, slot_not_added, the chain's
  /// registration error (nothing changed).
  result<void> invalidate(cpu_id cpu, unsigned slot) noexcept {
    if (!valid(cpu)) [[unlikely]]
      return errc::cpu_out_of_range;
    per_cpu& r = cpu_[cpu.value];
    if (!captured(r, slot)) [[unlikely]]
      return slot_error(r, slot);
    return mark_slot_unknown(r, cpu, slot);
  }

  /// invalidate() for every slot of `cpu`.
  result<void> invalidate(cpu_id cpu) noexcept {
    if (!valid(cpu)) [[unlikely]]
      return errc::cpu_out_of_range;
    per_cpu& r = cpu_[cpu.value];
    if (!r.online) return errc::cpu_offline;
    if (r.nr_slots == 0) return {};
    return mark_unknown(r, cpu, static_cast<mask_t>(all_slots(r.nr_slots)));
  }

  /// Firmware may or may not have written `value` into `slot` (the TDX module on a TD exit:
  /// it resets the MSR on a real exit, leaves it alone on a failed entry or zero-step exit).
  /// If the cache already holds `value`, both outcomes leave the hardware at `value` and the
  /// slot stays known; otherwise it becomes unknown. Never wrong, never writes.
  /// Errors: cpu_out_of_range, cpu_offline, slot_out_of_range, slot_not_added, the chain's
  /// registration error (nothing changed).
  result<void> may_clobber(cpu_id cpu, unsigned slot, std::uint64_t value) noexcept {
    if (!valid(cpu)) [[unlikely]]
      return errc::cpu_out_of_range;
    per_cpu& r = cpu_[cpu.value];
    if (!captured(r, slot)) [[unlikely]]
      return slot_error(r, slot);
    return clobber(r, cpu, slot, value);
  }
  /// may_clobber() through handles. Errors: cpu_offline, the chain's registration error.
  result<void> may_clobber(cpu_handle cpu, slot_handle slot, std::uint64_t value) noexcept {
    return clobber(*cpu.r_, cpu.cpu_, slot.index_, value);
  }

  /// What the cache says the hardware holds (kvm_get_user_return_msr()).
  /// Errors: value_unknown, cpu_out_of_range, cpu_offline, slot_out_of_range, slot_not_added.
  [[nodiscard]] result<std::uint64_t> current(cpu_id cpu, unsigned slot) const noexcept {
    if (!valid(cpu)) return errc::cpu_out_of_range;
    const per_cpu& r = cpu_[cpu.value];
    if (!captured(r, slot)) return slot_error(r, slot);
    if ((r.unknown >> slot) & 1U) return errc::value_unknown;
    return r.curr[slot];
  }

  /// The value restored before user mode on `cpu`.
  /// Errors: cpu_out_of_range, cpu_offline, slot_out_of_range, slot_not_added.
  [[nodiscard]] result<std::uint64_t> host(cpu_id cpu, unsigned slot) const noexcept {
    if (!valid(cpu)) return errc::cpu_out_of_range;
    const per_cpu& r = cpu_[cpu.value];
    if (!captured(r, slot)) return slot_error(r, slot);
    return r.host[slot];
  }

  /// True when `cpu`'s restore is registered (msrs->registered). False out of range.
  [[nodiscard]] bool registered(cpu_id cpu) const noexcept {
    return valid(cpu) && cpu_[cpu.value].node.registered();
  }
  /// True when `cpu` is online (cpu_online() ran and no drop() since).
  [[nodiscard]] bool online(cpu_id cpu) const noexcept {
    return valid(cpu) && cpu_[cpu.value].online;
  }
  /// Bit i set: slot i will be written by the next restore (cache differs from host, or is
  /// unknown). Zero out of range or offline.
  [[nodiscard]] std::uint64_t dirty_slots(cpu_id cpu) const noexcept {
    if (!online(cpu)) return 0;
    const per_cpu& r = cpu_[cpu.value];
    std::uint64_t out = 0;
    for (mask_t todo = r.dirty; todo != 0; todo = static_cast<mask_t>(todo & (todo - 1))) {
      const auto s = static_cast<unsigned>(std::countr_zero(todo));
      if (must_restore(r, s)) out |= std::uint64_t{1} << s;
    }
    return out;
  }
  /// Bit i set: the cache does not know slot i's hardware value. Zero out of range or offline.
  [[nodiscard]] std::uint64_t unknown_slots(cpu_id cpu) const noexcept {
    return online(cpu) ? cpu_[cpu.value].unknown : 0;
  }
  /// Keep the counters (the default) or not: a load and a branch per restore and per checked
  /// set() when off; when on, a population count per restore and an increment per checked
  /// set(). Set-up only.
  void set_counting(bool on) noexcept { counting_ = on; }
  /// The counters of `cpu` (zero out of range).
  [[nodiscard]] slot_stats stats(cpu_id cpu) const noexcept {
    return valid(cpu) ? cpu_[cpu.value].stats : slot_stats{};
  }

  /// The restore (kvm_on_user_return()), as the notifier runs it when `cpu` returns to user
  /// mode: unregister first (guarded by `registered`, so a re-entrant run does nothing twice),
  /// then write `host` into every dirty slot, in ascending slot order. A slot whose write fails
  /// keeps its cached value, and the notifier is registered again so I1 still holds; the first
  /// error is returned. (The kernel records the host value as current even when its
  /// unchecked wrmsrq() faulted, and never retries; see the header comment.)
  /// Errors: cpu_out_of_range, the backend's write error.
  result<void> on_user_return(cpu_id cpu) noexcept {
    if (!valid(cpu)) [[unlikely]]
      return errc::cpu_out_of_range;
    return restore(cpu_[cpu.value], cpu);
  }
  /// on_user_return() through a handle.
  result<void> on_user_return(cpu_handle cpu) noexcept { return restore(*cpu.r_, cpu.cpu_); }

  /// Virtualization disabled on `cpu` (drop_user_return_notifiers()): run the restore now if it
  /// is registered, then take the CPU offline until the next cpu_online(). If a restore write
  /// fails the CPU stays online and registered (the hardware still holds a guest value).
  /// Errors: cpu_out_of_range, the backend's write error.
  result<void> drop(cpu_id cpu) noexcept;

  /// Record size per CPU, for the cache-line budget (16 slots in 5 lines).
  static constexpr std::size_t per_cpu_bytes() noexcept { return sizeof(per_cpu); }

 private:
  // Field order keeps 16 slots in five cache lines (320 bytes) with the default chain.
  // `dirty`: slots touched since the last restore (a superset of those the restore writes:
  // it writes a dirty slot whose value is unknown or differs from host). A slot outside
  // `dirty` holds curr == host and is known, which lets the restore compare every slot from
  // the lowest dirty one to the highest, as the kernel compares every slot, and lets
  // cpu_online() read into `curr`. `unknown` is a subset of `dirty` while online, and all
  // ones while offline. dirty != 0 implies the node is registered (I1).
  // `host` and `curr` are two arrays (the kernel keeps {host, curr} pairs), so that a slot
  // number indexes both with a scaled address and no multiply.
  struct alignas(64) per_cpu {
    std::uint64_t host[Slots]{};  // what the restore writes back
    std::uint64_t curr[Slots]{};  // what the hardware holds, unless the slot is unknown
    node_type node{};
    mask_t dirty = 0;
    mask_t unknown = static_cast<mask_t>(~mask_t{0});
    std::uint8_t nr_slots = 0;  // slots captured by cpu_online(); 0 while offline
    bool online = false;
    // k_ready: online, and the node registered (by this table). Low seven bits: 1 + the slot
    // set() is writing, 0 when none; a restore that writes that slot clears them. One byte,
    // so that set() learns with one compare after its write whether a restore ran in the
    // window (and stores it with one instruction).
    std::uint8_t gate = 0;
    slot_stats stats{};
  };

  // The one comparison the checked paths make for a slot: covers range, added and online.
  [[nodiscard]] static bool captured(const per_cpu& r, unsigned slot) noexcept {
    if (r.nr_slots > Slots) __builtin_unreachable();  // cpu_online never captures more
    return slot < r.nr_slots;
  }

  [[nodiscard]] bool valid(cpu_id cpu) const noexcept {
    if (cpus_ > MaxCpus) __builtin_unreachable();  // constructor clamps; lets GCC see the bound
    return cpu.value < cpus_;
  }

  static constexpr mask_t bit_of(unsigned slot) noexcept {
    return static_cast<mask_t>(mask_t{1} << slot);
  }
  static constexpr std::uint64_t all_slots(std::size_t n) noexcept {
    return n >= 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << n) - 1;
  }
  [[nodiscard]] static bool must_restore(const per_cpu& r, unsigned slot) noexcept {
    return (r.unknown & bit_of(slot)) != 0 || r.host[slot] != r.curr[slot];
  }

  // The paths behind the public operations, defined (with what each is for) in
  // uret/detail/slot_table_impl.hpp.
  errc slot_error(const per_cpu& r, unsigned slot) const noexcept;
  [[gnu::noinline]] static errc online_failed(per_cpu& r, std::size_t read, errc e) noexcept;
  result<void> ensure_registered(per_cpu& r, cpu_id cpu) noexcept;
  [[gnu::noinline]] result<void> register_slow(per_cpu& r, cpu_id cpu) noexcept;
  void unregister(per_cpu& r) noexcept;
  template <bool Count>
  result<void> set_in(per_cpu& r, cpu_id cpu, const slot_handle& s, std::uint64_t value,
                      std::uint64_t mask) noexcept;
  template <bool Count>
  result<void> write_and_cache(per_cpu& r, cpu_id cpu, const slot_handle& s,
                               std::uint64_t value) noexcept;
  template <bool Count>
  [[gnu::noinline]] result<void> write_interrupted(per_cpu& r, cpu_id cpu, unsigned slot,
                                                   mask_t bit, std::uint64_t value,
                                                   result<void> w) noexcept;
  template <bool Count>
  [[gnu::noinline]] URET_DETAIL_NOCLONE result<void> write_unready(per_cpu& r, cpu_id cpu,
                                                                   const slot_handle& s,
                                                                   std::uint64_t value) noexcept;
  template <bool Count>
  [[gnu::noinline]] result<void> write_unready_at(per_cpu& r, cpu_id cpu, unsigned slot,
                                                  std::uint64_t value) noexcept;
  template <bool Count>
  result<void> after_write(per_cpu& r, cpu_id cpu, unsigned slot, mask_t bit, std::uint64_t value,
                           result<void> w, bool answered) noexcept;
  [[gnu::noinline]] result<void> register_after_write(per_cpu& r, cpu_id cpu,
                                                      unsigned slot) noexcept;
  [[gnu::noinline]] result<void> cache_unready(per_cpu& r, cpu_id cpu, unsigned slot,
                                               std::uint64_t value) noexcept;
  result<void> cache(per_cpu& r, cpu_id cpu, unsigned slot, std::uint64_t value) noexcept;
  result<void> clobber(per_cpu& r, cpu_id cpu, unsigned slot, std::uint64_t value) noexcept;
  result<void> mark_slot_unknown(per_cpu& r, cpu_id cpu, unsigned slot) noexcept;
  result<void> mark_unknown(per_cpu& r, cpu_id cpu, mask_t bits) noexcept;
  result<void> restore(per_cpu& r, cpu_id cpu) noexcept;
  [[gnu::noinline]] result<void> walk_counting(per_cpu& r, cpu_id cpu) noexcept;
  template <bool Count>
  result<void> walk(per_cpu& r, cpu_id cpu) noexcept;
  template <bool Count>
  [[gnu::noinline]] result<void> walk_failed(per_cpu& r, cpu_id cpu, std::uint64_t todo_at_start,
                                             std::size_t slot, std::uint64_t written,
                                             result<void> first_error) noexcept;
  [[gnu::noinline]] static void answer_writer(per_cpu& r) noexcept;
  static void notifier_callback(node_type& n, cpu_id cpu) noexcept;

  per_cpu cpu_[MaxCpus];
  Backend& backend_;
  chain_type& chain_;
  std::size_t cpus_;
  std::size_t count_ = 0;
  bool counting_ = true;
  msr_index msrs_[Slots]{};
};

}  // namespace uret

#undef URET_DETAIL_NOCLONE

#include "uret/detail/slot_table_impl.hpp"  // IWYU pragma: export
