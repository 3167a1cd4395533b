// SPDX-License-Identifier: MIT
// uret/msr_backend.hpp - the policy through which the slot table touches hardware.
//
// A backend performs RDMSR/WRMSR on a named CPU. The contract:
//  - `read(cpu, msr)` returns the value the hardware of `cpu` holds in `msr`, or an errc;
//  - `write(cpu, msr, value)` makes the hardware of `cpu` hold `value`, or returns an errc and
//    leaves the hardware unchanged (a write either happens or it does not);
//  - both are `noexcept` and report failure as a value: errc::msr_fault when the MSR faults
//    (#GP), errc::no_such_cpu, errc::not_permitted, errc::io_error;
//  - calls for different CPUs may come from different threads at the same time; calls for one
//    CPU never overlap (the caller owns that CPU, as kernel code with preemption off does).
#pragma once

#include <concepts>
#include <cstdint>

#include "uret/msr.hpp"

namespace uret {

/// @brief A policy that reads and writes MSRs of a given CPU, failing by value, never throwing.
template <class Backend>
concept msr_backend = requires(Backend& b, cpu_id cpu, msr_index msr, std::uint64_t value) {
  { b.read(cpu, msr) }
  noexcept->std::same_as<result<std::uint64_t>>;
  { b.write(cpu, msr, value) }
  noexcept->std::same_as<result<void>>;
};

}  // namespace uret
