// SPDX-License-Identifier: MIT
// tests/ring0/kernel/kernel.hpp - what the test kernel offers the test: console, CPU identity,
// barriers, the #GP bookkeeping, the verdict. Include it before any uret header: it routes
// URET_ASSERT into the kernel's panic.
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <type_traits>

#include "layout.h"

namespace ring0 {
[[noreturn]] void panic(const char* what, const char* file, int line) noexcept;
}  // namespace ring0

#define URET_ASSERT(cond, msg) \
  ((cond) ? static_cast<void>(0) : ::ring0::panic(msg, __FILE__, __LINE__))

#include "uret/msr.hpp"

namespace ring0 {

inline constexpr std::size_t max_cpus = KERNEL_MAX_CPUS;

/// The registers trap_common saves, then what the CPU pushed (boot.S).
struct trap_frame {
  std::uint64_t r15, r14, r13, r12, r11, r10, r9, r8, rbp, rdi, rsi, rdx, rcx, rbx, rax;
  std::uint64_t vector, error;
  std::uint64_t rip, cs, rflags, rsp, ss;
};

/// Per-CPU record of the #GP faults the exception table recovered.
struct gp_record {
  std::uint64_t recovered = 0;  ///< how many
  std::uint64_t rip = 0;        ///< the last faulting instruction
  std::uint64_t fixup = 0;      ///< where it resumed
  std::uint32_t msr = 0;        ///< ECX at the fault
};

// ---- console (COM1). One call prints one line, never interleaved with another CPU's.
struct hex {
  std::uint64_t value;
};

class line {
 public:
  void put(std::string_view s) noexcept;
  void put(const char* s) noexcept;  // no strlen: the kernel's runtime has none
  void put(hex h) noexcept;
  void put(bool b) noexcept { put(b ? "true" : "false"); }
  template <std::integral T>
  void put(T v) noexcept {
    if constexpr (std::is_signed_v<T>) {
      if (v < 0) {
        put("-");
        put_unsigned(static_cast<std::uint64_t>(-(v + 1)) + 1);
        return;
      }
    }
    put_unsigned(static_cast<std::uint64_t>(v));
  }
  void emit() noexcept;

 private:
  void put_unsigned(std::uint64_t v) noexcept;
  char buf_[256];
  std::size_t n_ = 0;
};

template <class... Args>
void say(const Args&... args) noexcept {
  line l;
  (l.put(args), ...);
  l.emit();
}

// ---- machine
[[noreturn]] void exit_qemu(std::uint8_t verdict) noexcept;
[[noreturn]] void halt() noexcept;
/// The logical CPU executing the call (0 = BSP), from its APIC ID: the native_msr hook.
uret::cpu_id current_cpu() noexcept;
/// CPUs running the test (the BSP and every AP that came up).
std::uint32_t cpus_online() noexcept;
/// Wait until every online CPU has reached this barrier.
void barrier() noexcept;
gp_record gp_stats(uret::cpu_id cpu) noexcept;
/// The value of `key=` on the kernel command line (QEMU -append), or an empty view.
std::string_view cmdline_value(const char* key) noexcept;

inline std::uint64_t rdtsc() noexcept {
  std::uint32_t lo = 0;
  std::uint32_t hi = 0;
  asm volatile("rdtsc" : "=a"(lo), "=d"(hi));
  return (std::uint64_t{hi} << 32) | lo;
}

// ---- implemented by the test (ring0_test.cpp)
/// On the BSP, before any AP starts: build the shared objects, add the slots.
void test_setup(std::uint32_t cpus) noexcept;
/// On every CPU, concurrently.
void test_run(uret::cpu_id cpu) noexcept;
/// On the BSP after every CPU finished test_run: the number of failed checks.
std::uint32_t test_finish() noexcept;

}  // namespace ring0
