// SPDX-License-Identifier: MIT
// uret/detail/slot_bits.hpp - small helpers of uret/slot_table.hpp: the slot mask type, a bit
// count without a library call, and the attribute that keeps GCC from cloning a cold path.
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

// For set()'s cold write path taken from the handle operations, which passes the slot handle
// by reference, so that the hot path keeps no slot number or bit in registers for it: GCC
// would otherwise clone it with the handle's fields as scalar arguments (IPA-SRA). Clang
// makes no such clones.
#if defined(__clang__)
#define URET_DETAIL_NOCLONE
#else
#define URET_DETAIL_NOCLONE __attribute__((noclone))
#endif

namespace uret::detail {
// Set bits of `v`, without __builtin_popcount's library call (no POPCNT in the baseline ISA; a
// kernel module or a freestanding kernel does not link libgcc).
constexpr unsigned count_bits(std::uint64_t v) noexcept {
  v = v - ((v >> 1) & 0x5555555555555555U);
  v = (v & 0x3333333333333333U) + ((v >> 2) & 0x3333333333333333U);
  v = (v + (v >> 4)) & 0x0f0f0f0f0f0f0f0fU;
  return static_cast<unsigned>((v * 0x0101010101010101U) >> 56);
}
static_assert(count_bits(0) == 0 && count_bits(0xf0f0) == 8 && count_bits(~std::uint64_t{0}) == 64);

template <std::size_t Slots>
using slot_mask_t =
    std::conditional_t<(Slots <= 16), std::uint16_t,
                       std::conditional_t<(Slots <= 32), std::uint32_t, std::uint64_t>>;
}  // namespace uret::detail
