// SPDX-License-Identifier: MIT
// uret/sim/hardware.hpp - what hardware and firmware do to the user-return MSRs on their own,
// without a WRMSR from the hypervisor: the TDX module on a TD exit, SEV-ES's #VMEXIT, and the
// kernel programming a CPU as it comes up.
//
// Each model exists in two forms: over a plain array of slot values (the oracle's view of the
// hardware) and over uret::mock_msr, where it changes registers with poke() (no write count,
// no log, no fault: firmware does not go through the hypervisor's WRMSR).
#pragma once

#include <cstdint>

#include "uret/backends/mock_msr.hpp"
#include "uret/msr.hpp"
#include "uret/sim/trace.hpp"

namespace uret::sim {

/// The TDX module returning from TDH.VP.ENTER. On a real TD exit it resets STAR, LSTAR,
/// SYSCALL_MASK and TSC_AUX to their architectural INIT values (tdx_post_exit()); when the
/// entry failed early or its zero-step filter synthesised the exit, it touched nothing.
inline void tdx_module_exit(msr_values& hw, exit_outcome outcome) noexcept {
  if (outcome != exit_outcome::real) return;
  for (unsigned s = 0; s < msr_count; ++s) {
    if (has(tdx_clobbered, s)) hw[s] = tdx_post_exit(s);
  }
}

/// tdx_module_exit() on `cpu` of a mock register file.
inline void tdx_module_exit(mock_msr& hw, cpu_id cpu, exit_outcome outcome) noexcept {
  if (outcome != exit_outcome::real) return;
  for (unsigned s = 0; s < msr_count; ++s) {
    if (has(tdx_clobbered, s)) static_cast<void>(hw.poke(cpu, slot_msrs[s], tdx_post_exit(s)));
  }
}

/// SEV-ES with virtual TSC_AUX: VMRUN loads the guest's TSC_AUX from its save area (VMSA);
/// #VMEXIT loads TSC_AUX from the host save area, whatever the hypervisor put there
/// (sev_es_prepare_switch_to_guest() in arch/x86/kvm/svm/sev.c fills it).
inline void sev_es_vmrun(mock_msr& hw, cpu_id cpu, std::uint64_t guest_tsc_aux) noexcept {
  static_cast<void>(hw.poke(cpu, slot_msrs[slots::tsc_aux], guest_tsc_aux));
}
/// See sev_es_vmrun().
inline void sev_es_vmexit(mock_msr& hw, cpu_id cpu, std::uint64_t host_save_tsc_aux) noexcept {
  static_cast<void>(hw.poke(cpu, slot_msrs[slots::tsc_aux], host_save_tsc_aux));
}

/// A CPU coming up: the kernel programs its host values (syscall_init(), setup_getcpu()) before
/// anything else runs there.
inline void cpu_bringup(mock_msr& hw, cpu_id cpu, const msr_values& host) noexcept {
  for (unsigned s = 0; s < msr_count; ++s) static_cast<void>(hw.poke(cpu, slot_msrs[s], host[s]));
}

/// Declare the simulated MSRs on `hw` and give every CPU its host values.
inline void declare_msrs(mock_msr& hw, const setup& s) {
  for (unsigned i = 0; i < msr_count; ++i) hw.declare(slot_msrs[i], host_default(0, i));
  for (std::uint32_t c = 0; c < s.cpus && c < hw.cpus(); ++c) cpu_bringup(hw, cpu_id{c}, s.host[c]);
}

}  // namespace uret::sim
