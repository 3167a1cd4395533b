// SPDX-License-Identifier: MIT
// benchmarks/reference/harness.hpp - the state shared by the callgrind driver and the
// micro-benchmarks: the same 16 MSRs, host and guest values, CPUs, declared in the C mock for
// the C reference and in uret::mock_msr for a uret::slot_table, and set up identically.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "uret/backends/mock_msr.hpp"
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

// uret side
inline uret::mock_msr g_hw{k_cpus};
inline uret::notifier_chain<64> g_chain{k_cpus};
inline uret::slot_table<uret::mock_msr, 16, 64> g_table{g_hw, g_chain, k_cpus};
inline uret::msr_index g_msr_list[k_slots];  // what ref_uret_msrs_list holds on the C side

// C side
inline cmock g_cmock;

/// Declare the 16 MSRs in both mocks (log off), add them to both tables, bring every CPU online.
inline void setup_both() {
  if (cmock_init(&g_cmock, k_cpus) != 0) {
    std::fputs("out of memory\n", stderr);
    std::exit(2);
  }
  ref_init(&g_cmock);
  for (unsigned s = 0; s < k_slots; ++s) {
    static_cast<void>(cmock_declare(&g_cmock, msr_of(s), host_value(s), 0));
    g_hw.declare(uret::msr_index{msr_of(s)}, host_value(s));
    g_msr_list[s] = uret::msr_index{msr_of(s)};
  }
  g_hw.set_logging(false);
  for (unsigned s = 0; s < k_slots; ++s) {
    if (ref_add_user_return_msr(msr_of(s)) != static_cast<int>(s) ||
        g_table.add(uret::msr_index{msr_of(s)}).value_or(99) != s) {
      std::fputs("set-up: add failed\n", stderr);
      std::exit(2);
    }
  }
  for (unsigned c = 0; c < k_cpus; ++c) {
    ref_user_return_msr_cpu_online(c);
    static_cast<void>(g_table.cpu_online(uret::cpu_id{c}));
  }
}

}  // namespace uret_ref
