// SPDX-License-Identifier: MIT
// uret/backends/linux_kernel_msr.hpp - the backend for code inside a Linux kernel module:
// RDMSR/WRMSR through the kernel's rdmsrl_safe() / wrmsrl_safe() (arch/x86/include/asm/msr.h),
// reached through the C shim of uret/linux_kernel/shim.h.
//
// Like native_msr, it reaches only the executing CPU: `cpu` must be the CPU the call runs on,
// with preemption off (or interrupts off) for the duration. A call for another CPU, or from a
// preemptible context, fails with errc::no_such_cpu before any access, so a caller that could
// migrate never touches one CPU's MSR on behalf of another CPU's cache record. A #GP in the
// access comes back from the kernel's exception table as -EIO and here as errc::msr_fault,
// with the hardware unchanged.
//
// Environment: a Linux x86-64 kernel module whose C part defines the shim
// (URET_LINUX_SHIM_IMPLEMENTATION); no allocation, no exceptions, no other runtime symbol.
#pragma once

#include <cstdint>

#include "uret/linux_kernel/shim.h"
#include "uret/msr.hpp"
#include "uret/msr_backend.hpp"

namespace uret {

/// MSR access on the executing CPU through the kernel's safe accessors.
///
///     uret::linux_kernel_msr msr;
///     preempt_disable();                                  // in the module's C code
///     auto v = msr.read(uret::cpu_id{uret_linux_this_cpu()}, uret::msrs::tsc_aux);
class linux_kernel_msr {
 public:
  /// rdmsrl_safe() of `msr`. Errors: no_such_cpu (not the executing CPU, or preemptible),
  /// msr_fault.
  result<std::uint64_t> read(cpu_id cpu, msr_index msr) noexcept {
    if (!here(cpu)) [[unlikely]]
      return errc::no_such_cpu;
    unsigned long long v = 0;
    if (uret_linux_rdmsr(msr.value, &v) != 0) [[unlikely]]
      return errc::msr_fault;
    return static_cast<std::uint64_t>(v);
  }

  /// wrmsrl_safe() of `value` into `msr`. Errors: no_such_cpu (not the executing CPU, or
  /// preemptible), msr_fault (nothing written).
  result<void> write(cpu_id cpu, msr_index msr, std::uint64_t value) noexcept {
    if (!here(cpu)) [[unlikely]]
      return errc::no_such_cpu;
    if (uret_linux_wrmsr(msr.value, value) != 0) [[unlikely]]
      return errc::msr_fault;
    return {};
  }

 private:
  static bool here(cpu_id cpu) noexcept {
    return uret_linux_preemptible() == 0 && uret_linux_this_cpu() == cpu.value;
  }
};

static_assert(msr_backend<linux_kernel_msr>);

}  // namespace uret
