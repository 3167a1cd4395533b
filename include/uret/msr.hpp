// SPDX-License-Identifier: MIT
// uret/msr.hpp - the vocabulary: MSR indices, CPU numbers, the well-known user-return MSRs,
// the library's error codes and the `result` type every fallible operation returns.
//
// Nothing here allocates, throws or needs more than <cstdint>, <cstddef>, <string_view> and
// <type_traits>, so it compiles freestanding (ring 0) as well as hosted.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <type_traits>

#include "uret/detail/assert.hpp"

namespace uret {

/// An MSR index (the ECX operand of RDMSR/WRMSR). A strong type, so that an MSR index is never
/// confused with a slot number or a CPU number.
struct msr_index {
  std::uint32_t value = 0;

  constexpr msr_index() noexcept = default;
  constexpr explicit msr_index(std::uint32_t v) noexcept : value(v) {}
  friend constexpr bool operator==(msr_index, msr_index) noexcept = default;
  friend constexpr auto operator<=>(msr_index, msr_index) noexcept = default;
};

/// A logical CPU number, as `smp_processor_id()` returns it.
struct cpu_id {
  std::uint32_t value = 0;

  constexpr cpu_id() noexcept = default;
  constexpr explicit cpu_id(std::uint32_t v) noexcept : value(v) {}
  friend constexpr bool operator==(cpu_id, cpu_id) noexcept = default;
  friend constexpr auto operator<=>(cpu_id, cpu_id) noexcept = default;
};

/// The MSRs KVM treats as user-return MSRs (Intel SDM vol. 4, table 2-2; AMD APM vol. 2).
namespace msrs {
inline constexpr msr_index efer{0xC0000080};            ///< IA32_EFER (VMX: only NX/SCE bits)
inline constexpr msr_index star{0xC0000081};            ///< IA32_STAR: SYSCALL segment selectors
inline constexpr msr_index lstar{0xC0000082};           ///< IA32_LSTAR: 64-bit SYSCALL target
inline constexpr msr_index cstar{0xC0000083};           ///< IA32_CSTAR: compat SYSCALL target
inline constexpr msr_index syscall_mask{0xC0000084};    ///< IA32_FMASK: RFLAGS mask on SYSCALL
inline constexpr msr_index kernel_gs_base{0xC0000102};  ///< IA32_KERNEL_GS_BASE (SWAPGS)
inline constexpr msr_index tsc_aux{0xC0000103};         ///< IA32_TSC_AUX: RDTSCP/RDPID value
inline constexpr msr_index tsx_ctrl{0x122};             ///< IA32_TSX_CTRL
}  // namespace msrs

/// A user-return MSR the library knows by name. (What the TDX module leaves in each is the
/// simulator's business: uret/sim/trace.hpp, tdx_reset_msrs.)
struct well_known_msr {
  msr_index index;
  std::string_view name;
};

/// The well-known user-return MSRs, in KVM's VMX list order.
inline constexpr well_known_msr well_known_msrs[] = {
    {msrs::efer, "EFER"},
    {msrs::star, "STAR"},
    {msrs::lstar, "LSTAR"},
    {msrs::cstar, "CSTAR"},
    {msrs::syscall_mask, "SYSCALL_MASK"},
    {msrs::kernel_gs_base, "KERNEL_GS_BASE"},
    {msrs::tsc_aux, "TSC_AUX"},
    {msrs::tsx_ctrl, "IA32_TSX_CTRL"},
};

/// The entry for `msr`, or nullptr when the library does not know it by name.
[[nodiscard]] constexpr const well_known_msr* find_well_known(msr_index msr) noexcept {
  for (const auto& m : well_known_msrs) {
    if (m.index == msr) return &m;
  }
  return nullptr;
}

/// The name of a well-known MSR ("LSTAR"), or an empty view for any other index.
[[nodiscard]] constexpr std::string_view msr_name(msr_index msr) noexcept {
  const auto* m = find_well_known(msr);
  return m ? m->name : std::string_view{};
}

/// The error codes of the library. Backends and the slot table report every failure as one of
/// these; none of them is ever thrown.
enum class errc : std::uint8_t {
  msr_fault = 1,       ///< the MSR faulted (#GP): absent MSR or reserved bits set
  no_such_cpu,         ///< the backend has no such CPU (or the msr driver is not loaded)
  not_permitted,       ///< the backend may not access the MSR (not root, read-only backend)
  io_error,            ///< any other backend failure (short transfer, unexpected errno)
  cpu_out_of_range,    ///< CPU number >= the CPU count the object was built for
  cpu_offline,         ///< the CPU was never brought online (cpu_online) or was dropped
  slot_out_of_range,   ///< slot >= the table's capacity
  slot_not_added,      ///< slot below capacity but never handed out by add()
  table_full,          ///< add() beyond the table's capacity
  duplicate_msr,       ///< add() of an MSR that already has a slot
  unknown_msr,         ///< find() of an MSR that has no slot
  table_in_use,        ///< add() after a CPU was brought online (slots are fixed by then)
  guest_value_loaded,  ///< cpu_online() while guest values are loaded and restore is pending
  value_unknown,       ///< the cache does not know what the hardware holds (invalidate)
  interrupted,         ///< a restore ran inside the write window and put the host value back
  already_registered,  ///< notifier registered twice
  not_registered,      ///< notifier unregistered while not registered
  invalid_argument,    ///< a null callback or similar misuse
  busy,                ///< notifier chain fired re-entrantly on the same CPU
};

/// A short English description of `e`, e.g. "MSR faulted (#GP)".
[[nodiscard]] constexpr std::string_view to_string(errc e) noexcept {
  // Literals with their length: no strlen at run time, even unoptimised and freestanding.
  using namespace std::string_view_literals;
  switch (e) {
    case errc::msr_fault: return "MSR faulted (#GP)"sv;
    case errc::no_such_cpu: return "no such CPU (or msr driver not loaded)"sv;
    case errc::not_permitted: return "MSR access not permitted"sv;
    case errc::io_error: return "MSR access I/O error"sv;
    case errc::cpu_out_of_range: return "CPU number out of range"sv;
    case errc::cpu_offline: return "CPU not online (call cpu_online first)"sv;
    case errc::slot_out_of_range: return "slot out of range"sv;
    case errc::slot_not_added: return "slot never added"sv;
    case errc::table_full: return "slot table full"sv;
    case errc::duplicate_msr: return "MSR already added"sv;
    case errc::unknown_msr: return "MSR has no slot"sv;
    case errc::table_in_use: return "slots cannot be added once a CPU is online"sv;
    case errc::guest_value_loaded:
      return "guest values loaded: restore before capturing host values"sv;
    case errc::value_unknown: return "hardware value unknown"sv;
    case errc::interrupted: return "restore ran during the write; hardware holds the host value"sv;
    case errc::already_registered: return "notifier already registered"sv;
    case errc::not_registered: return "notifier not registered"sv;
    case errc::invalid_argument: return "invalid argument"sv;
    case errc::busy: return "notifier chain busy (re-entrant fire)"sv;
  }
  return "unknown error"sv;
}

/// Either a `T` or an `errc`. `T` must be trivially copyable (MSR values, slot numbers).
/// Reading the value of an error result is a precondition violation caught by URET_ASSERT.
///
///     uret::result<std::uint64_t> r = backend.read(cpu, uret::msrs::lstar);
///     if (!r) return r.error();
///     use(*r);
template <class T>
class [[nodiscard]] result {
  static_assert(std::is_trivially_copyable_v<T>, "result<T> holds plain values only");

 public:
  constexpr result(T value) noexcept : value_(value) {}  // NOLINT(google-explicit-constructor)
  constexpr result(errc e) noexcept : error_(e) {}       // NOLINT(google-explicit-constructor)

  [[nodiscard]] constexpr bool has_value() const noexcept { return error_ == errc{}; }
  constexpr explicit operator bool() const noexcept { return has_value(); }
  [[nodiscard]] constexpr T value() const noexcept {
    URET_ASSERT(has_value(), "uret::result::value() on an error");
    return value_;
  }
  constexpr T operator*() const noexcept { return value(); }
  [[nodiscard]] constexpr T value_or(T fallback) const noexcept {
    return has_value() ? value_ : fallback;
  }
  /// The error; meaningful only when !has_value().
  [[nodiscard]] constexpr errc error() const noexcept { return error_; }

 private:
  T value_{};
  errc error_{};
};

/// Success or an `errc`, for operations that produce no value.
template <>
class [[nodiscard]] result<void> {
 public:
  constexpr result() noexcept = default;
  constexpr result(errc e) noexcept : error_(e) {}  // NOLINT(google-explicit-constructor)

  [[nodiscard]] constexpr bool has_value() const noexcept { return error_ == errc{}; }
  constexpr explicit operator bool() const noexcept { return has_value(); }
  [[nodiscard]] constexpr errc error() const noexcept { return error_; }

 private:
  errc error_{};
};

}  // namespace uret
