// SPDX-License-Identifier: MIT
// benchmarks/reference/harness.hpp - the state shared by the callgrind driver and the
// micro-benchmarks: the same 16 MSRs, host and guest values and CPUs, each side on its own
// instance of the same register file (regfile.h): the C reference through its functions,
// uret::slot_table through `regfile_backend`, which calls those same inline functions.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "uret/msr_backend.hpp"
#include "uret/notifier.hpp"
#include "uret/slot_table.hpp"

extern "C" {
#include "user_return.h"
}

namespace uret_ref {

inline constexpr unsigned k_cpus = 4;
inline constexpr unsigned k_slots = 16;
inline constexpr std::uint64_t k_all = ~std::uint64_t{0};

/// The 8 user-return MSRs the library knows by name, then 8 more indices to fill 16 slots.
constexpr std::uint32_t msr_of(unsigned slot) {
  constexpr std::uint32_t named[] = {0xC0000080, 0xC0000081, 0xC0000082, 0xC0000083,
                                     0xC0000084, 0xC0000102, 0xC0000103, 0x122};
  return slot < 8 ? named[slot] : 0xC0010100 + slot;
}
constexpr std::uint64_t host_value(unsigned slot) { return 0xffffffff81000000ULL + slot * 0x40; }
constexpr std::uint64_t guest_value(unsigned slot) { return 0x00007f0000001000ULL + slot; }
constexpr std::uint64_t guest_value2(unsigned slot) { return 0x00007f0000002000ULL + slot; }

/// The uret backend over regfile.h: the register file itself (not a pointer to it), so that
/// the table reaches it through one reference, as the C reference through one pointer.
struct regfile_backend {
  regfile f;
  uret::result<std::uint64_t> read(uret::cpu_id cpu, uret::msr_index msr) noexcept {
    std::uint64_t v = 0;
    const int rc = regfile_read(&f, cpu.value, msr.value, &v);
    if (rc != 0) [[unlikely]]
      return rc == REGFILE_ENOCPU ? uret::errc::no_such_cpu : uret::errc::msr_fault;
    return v;
  }
  uret::result<void> write(uret::cpu_id cpu, uret::msr_index msr, std::uint64_t value) noexcept {
    const int rc = regfile_write(&f, cpu.value, msr.value, value);
    if (rc != 0) [[unlikely]]
      return rc == REGFILE_ENOCPU ? uret::errc::no_such_cpu : uret::errc::msr_fault;
    return {};
  }
};
static_assert(uret::msr_backend<regfile_backend>);

using table_type = uret::slot_table<regfile_backend, 16, 64>;

// uret side
inline regfile_backend g_hw{};
inline uret::notifier_chain<64> g_chain{k_cpus};
inline table_type g_table{g_hw, g_chain, k_cpus};
inline uret::msr_index g_msr_list[k_slots];  // what ref_uret_msrs_list holds on the C side

// C side
inline regfile g_cregs;

/// Declare the 16 MSRs in both register files (no log), add them to both tables, bring every CPU
/// online.
inline void setup_both() {
  regfile_init(&g_cregs, k_cpus);
  regfile_init(&g_hw.f, k_cpus);
  ref_init(&g_cregs);
  for (unsigned s = 0; s < k_slots; ++s) {
    if (regfile_declare(&g_cregs, msr_of(s), host_value(s), 0) != 0 ||
        regfile_declare(&g_hw.f, msr_of(s), host_value(s), 0) != 0) {
      std::fputs("set-up: declare failed\n", stderr);
      std::exit(2);
    }
    g_msr_list[s] = uret::msr_index{msr_of(s)};
  }
  for (unsigned s = 0; s < k_slots; ++s) {
    if (ref_add_user_return_msr(msr_of(s)) != static_cast<int>(s) ||
        g_table.add(uret::msr_index{msr_of(s)}).value_or(99) != s) {
      std::fputs("set-up: add failed\n", stderr);
      std::exit(2);
    }
  }
  g_table.set_counting(false);  // the C reference keeps no counters either
  for (unsigned c = 0; c < k_cpus; ++c) {
    ref_user_return_msr_cpu_online(c);
    static_cast<void>(g_table.cpu_online(uret::cpu_id{c}));
  }
}

}  // namespace uret_ref
