// SPDX-License-Identifier: MIT
// uret/backends/native_msr.hpp - the ring-0 backend: RDMSR and WRMSR on the executing CPU.
//
// For hypervisor and kernel code running at CPL 0 on x86-64 (GCC or Clang inline assembly).
// RDMSR/WRMSR reach only the CPU that executes them, so `read(cpu, ...)` and `write(cpu, ...)`
// require `cpu` to be the executing CPU, with preemption (or migration) off for the duration,
// the same rule the slot table already imposes on its callers.
//
// What happens when the CPU rejects an access (#GP: an MSR it does not implement, reserved bits
// set, a non-canonical address) is the fault policy, a template parameter:
//  - fault_policy::fatal: plain instructions. A fault goes to the kernel's #GP handler like any
//    other kernel bug; the backend itself never reports errc::msr_fault.
//  - fault_policy::exception_table (the default): every RDMSR/WRMSR the backend emits is recorded
//    in the linker section `uret_extable`, with the address to resume at. The kernel's #GP
//    handler calls uret::native_msr_fixup(rip); when it returns a non-zero address the handler
//    sets the saved RIP to it and returns from the exception, and the access reports
//    errc::msr_fault with the hardware unchanged (Intel SDM vol. 2B, WRMSR: a #GP leaves the
//    MSR unwritten). This is how kernels build rdmsr_safe()/wrmsr_safe().
//  - any other type with the two static members the `native_fault_policy` concept names, for
//    kernels that already have their own safe accessors.
//
// Checks: a CPU number >= the count given at construction is errc::no_such_cpu. When
// URET_NATIVE_MSR_CHECK_CPU is non-zero (the default unless NDEBUG is defined) and a
// current-CPU hook was given, a CPU number other than the hook's answer is errc::no_such_cpu
// too, before any instruction runs: this backend cannot reach another CPU's MSRs, and a caller
// that asks is running with preemption on.
//
// Environment: no allocation, no exceptions, no runtime symbols; the exception table needs
// GNU ld, gold or lld, which define __start_uret_extable/__stop_uret_extable for a section whose
// name is a C identifier.
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>

#include "uret/msr.hpp"
#include "uret/msr_backend.hpp"

#if !defined(__x86_64__)
#error "uret/backends/native_msr.hpp needs x86-64 (RDMSR/WRMSR)"
#endif

// Set it the same way in every translation unit of a program (it changes inline functions).
#ifndef URET_NATIVE_MSR_CHECK_CPU
#ifdef NDEBUG
#define URET_NATIVE_MSR_CHECK_CPU 0
#else
#define URET_NATIVE_MSR_CHECK_CPU 1
#endif
#endif

namespace uret {

/// One exception-table entry: where a possibly faulting RDMSR/WRMSR is, and where to resume
/// if it faults. Both fields are self-relative (target address minus the field's own address),
/// so the table needs no relocation wherever the image is loaded.
struct extable_entry {
  std::int32_t insn;   ///< the RDMSR/WRMSR instruction, relative to this field
  std::int32_t fixup;  ///< the resume address, relative to this field
};

namespace detail {
[[nodiscard]] inline std::uintptr_t extable_target(const std::int32_t& field) noexcept {
  return reinterpret_cast<std::uintptr_t>(&field) +
         static_cast<std::uintptr_t>(static_cast<std::intptr_t>(field));
}
}  // namespace detail

/// The address of the instruction `e` covers.
[[nodiscard]] inline std::uintptr_t extable_insn(const extable_entry& e) noexcept {
  return detail::extable_target(e.insn);
}
/// The address a fault of `e`'s instruction resumes at.
[[nodiscard]] inline std::uintptr_t extable_fixup(const extable_entry& e) noexcept {
  return detail::extable_target(e.fixup);
}

/// Search the entries [first, last) for the instruction at `rip`: its resume address, or 0.
/// Linear: a kernel has one entry per inlined RDMSR/WRMSR of this backend, a few dozen.
[[nodiscard]] inline std::uintptr_t search_extable(const extable_entry* first,
                                                   const extable_entry* last,
                                                   std::uintptr_t rip) noexcept {
  for (; first != last; ++first) {
    if (extable_insn(*first) == rip) return extable_fixup(*first);
  }
  return 0;
}

}  // namespace uret

// Defined by the linker around the `uret_extable` section; weak, so that an image without any
// exception-table access links and sees an empty table.
extern "C" {
extern const uret::extable_entry __start_uret_extable[] __attribute__((weak));  // NOLINT
extern const uret::extable_entry __stop_uret_extable[] __attribute__((weak));   // NOLINT
}

namespace uret {

/// The linked exception table of this image (empty when nothing uses it).
[[nodiscard]] inline const extable_entry* native_extable_begin() noexcept {
  return __start_uret_extable;
}
/// One past its last entry.
[[nodiscard]] inline const extable_entry* native_extable_end() noexcept {
  return __stop_uret_extable;
}

/// For the kernel's #GP handler: if `rip` is an RDMSR/WRMSR of native_msr under
/// fault_policy::exception_table, the address to resume at; otherwise 0 (not ours: handle the
/// fault as you would without uret). Safe in exception context: no locks, no writes.
///
///     void gp_handler(trap_frame* f) {
///       if (std::uintptr_t fixup = uret::native_msr_fixup(f->rip)) { f->rip = fixup; return; }
///       panic(...);
///     }
[[nodiscard]] inline std::uintptr_t native_msr_fixup(std::uintptr_t rip) noexcept {
  return search_extable(native_extable_begin(), native_extable_end(), rip);
}

/// @brief How native_msr executes RDMSR/WRMSR and what a fault does. `rdmsr` stores the value
/// and returns true, or returns false when the instruction faulted; `wrmsr` returns true when
/// the value was written, false when the instruction faulted and nothing was written.
/// (Left unformatted: clang-format 14 mangles compound requirements.)
// clang-format off
template <class Policy>
concept native_fault_policy = requires(msr_index msr, std::uint64_t value, std::uint64_t& out) {
  { Policy::rdmsr(msr, out) } noexcept -> std::same_as<bool>;
  { Policy::wrmsr(msr, value) } noexcept -> std::same_as<bool>;
};
// clang-format on

namespace fault_policy {

/// Plain RDMSR/WRMSR: a fault is the kernel's problem (an oops), never an errc.
struct fatal {
  static bool rdmsr(msr_index msr, std::uint64_t& out) noexcept {
    std::uint32_t lo = 0;
    std::uint32_t hi = 0;
    asm volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr.value) : "memory");
    out = (std::uint64_t{hi} << 32) | lo;
    return true;
  }
  static bool wrmsr(msr_index msr, std::uint64_t value) noexcept {
    asm volatile("wrmsr"
                 :
                 : "c"(msr.value), "a"(static_cast<std::uint32_t>(value)),
                   "d"(static_cast<std::uint32_t>(value >> 32))
                 : "memory");
    return true;
  }
};

/// RDMSR/WRMSR recorded in `uret_extable`: the resume address of each is the `faulted` label of
/// its asm goto, so a recovered fault costs nothing on the path that does not fault.
/// `volatile` is spelled out although asm goto is documented as implicitly volatile: GCC 12
/// deletes an asm goto with outputs when the outputs are unused (a caller that looks only at
/// error()), and with it the fault.
struct exception_table {
  static bool rdmsr(msr_index msr, std::uint64_t& out) noexcept {
    std::uint32_t lo = 0;
    std::uint32_t hi = 0;
    asm volatile goto(
        "1: rdmsr\n\t"
        ".pushsection uret_extable, \"a\"\n\t"
        ".balign 4\n\t"
        ".long 1b - .\n\t"
        ".long %l[faulted] - .\n\t"
        ".popsection"
        : "=a"(lo), "=d"(hi)
        : "c"(msr.value)
        : "memory"
        : faulted);
    out = (std::uint64_t{hi} << 32) | lo;
    return true;
  faulted:
    return false;
  }
  static bool wrmsr(msr_index msr, std::uint64_t value) noexcept {
    asm volatile goto(
        "1: wrmsr\n\t"
        ".pushsection uret_extable, \"a\"\n\t"
        ".balign 4\n\t"
        ".long 1b - .\n\t"
        ".long %l[faulted] - .\n\t"
        ".popsection"
        :
        : "c"(msr.value), "a"(static_cast<std::uint32_t>(value)),
          "d"(static_cast<std::uint32_t>(value >> 32))
        : "memory"
        : faulted);
    return true;
  faulted:
    return false;
  }
};

}  // namespace fault_policy

/// The ring-0 MSR backend.
///
///     // in the kernel, with preemption off on CPU `me`:
///     constinit uret::native_msr<> msr{max_cpus, &my_smp_processor_id};
///     uret::result<std::uint64_t> v = msr.read(me, uret::msrs::lstar);
///     uret::result<void> w = msr.write(me, uret::msr_index{0x6E1}, bad);  // errc::msr_fault
template <native_fault_policy Policy = fault_policy::exception_table>
class native_msr {
 public:
  using policy_type = Policy;
  /// Returns the CPU executing the call (smp_processor_id()); used only by the debug check.
  using current_cpu_hook = cpu_id (*)() noexcept;

  /// A backend for CPUs 0 .. cpus-1; `current_cpu` (may be null) enables the executing-CPU
  /// check when URET_NATIVE_MSR_CHECK_CPU is non-zero.
  constexpr explicit native_msr(std::size_t cpus, current_cpu_hook current_cpu = nullptr) noexcept
      : cpus_(cpus), current_cpu_(current_cpu) {}

  [[nodiscard]] constexpr std::size_t cpus() const noexcept { return cpus_; }
  /// True when this build checks the CPU argument against the hook.
  [[nodiscard]] constexpr bool checks_cpu() const noexcept {
    return URET_NATIVE_MSR_CHECK_CPU != 0 && current_cpu_ != nullptr;
  }

  /// RDMSR of `msr` on `cpu`, which must be the executing CPU.
  /// Errors: no_such_cpu (out of range, or not the executing CPU when checked), msr_fault.
  result<std::uint64_t> read(cpu_id cpu, msr_index msr) noexcept {
    if (!reachable(cpu)) [[unlikely]] {
      return errc::no_such_cpu;
    }
    std::uint64_t value = 0;
    if (!Policy::rdmsr(msr, value)) [[unlikely]] {
      return errc::msr_fault;
    }
    return value;
  }

  /// WRMSR of `value` into `msr` on `cpu`, which must be the executing CPU. On error nothing
  /// was written. Errors: no_such_cpu (as for read), msr_fault.
  result<void> write(cpu_id cpu, msr_index msr, std::uint64_t value) noexcept {
    if (!reachable(cpu)) [[unlikely]] {
      return errc::no_such_cpu;
    }
    if (!Policy::wrmsr(msr, value)) [[unlikely]] {
      return errc::msr_fault;
    }
    return {};
  }

 private:
  [[nodiscard]] bool reachable(cpu_id cpu) const noexcept {
    if (cpu.value >= cpus_) return false;
#if URET_NATIVE_MSR_CHECK_CPU
    if (current_cpu_ != nullptr && current_cpu_() != cpu) return false;
#endif
    return true;
  }

  std::size_t cpus_;
  current_cpu_hook current_cpu_;
};

static_assert(msr_backend<native_msr<fault_policy::exception_table>>);
static_assert(msr_backend<native_msr<fault_policy::fatal>>);

}  // namespace uret
