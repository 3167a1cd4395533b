// SPDX-License-Identifier: MIT
// tests/backends/contract/backend_contract.hpp - the behaviour every msr_backend must show, written
// once and run against every backend: the mock (host tests), dev_cpu_msr (a fake tree on the host,
// the real msr driver in the QEMU guest) and native_msr (ring 0). Freestanding: no exceptions,
// no allocation, no I/O; failures are reported through a callback.
//
// A fixture describes the backend under test:
//   using backend_type = ...;
//   backend_type& backend();
//   std::uint32_t cpus();                // CPUs to exercise (all must be reachable)
//   uret::msr_index scratch_msr();       // readable and writable on every CPU, any value safe
//   std::uint64_t scratch_value(cpu);    // a value to write there, different per CPU
//   uret::msr_index faulting_msr();      // an MSR whose write of faulting_value() faults
//   std::uint64_t faulting_value();
//   bool has_cpu_bound();                // true if CPU numbers >= cpus() are rejected by value
// The fixture's CPUs are restored to their original scratch values afterwards.
#pragma once

#include <cstdint>

#include "uret/msr_backend.hpp"
#include "uret/notifier.hpp"
#include "uret/slot_table.hpp"

namespace uret_test {

/// Called once per check: `what` names it, `ok` says whether it held.
using contract_report = void (*)(void* ctx, const char* what, bool ok);

/// Run the contract; returns the number of failed checks.
template <class Fixture>
int run_backend_contract(Fixture& f, contract_report report, void* ctx) noexcept {
  using B = typename Fixture::backend_type;
  static_assert(uret::msr_backend<B>);
  int failed = 0;
  auto check = [&](const char* what, bool ok) {
    if (!ok) ++failed;
    report(ctx, what, ok);
  };
  B& b = f.backend();
  const uret::msr_index m = f.scratch_msr();
  constexpr std::uint32_t max_cpus = 64;
  std::uint64_t original[max_cpus] = {};
  const std::uint32_t n = f.cpus() < max_cpus ? f.cpus() : max_cpus;

  for (std::uint32_t c = 0; c < n; ++c) {
    const uret::cpu_id cpu{c};
    const uret::result<std::uint64_t> r = b.read(cpu, m);
    check("read of the scratch MSR succeeds on every CPU", r.has_value());
    original[c] = r.value_or(0);
  }
  for (std::uint32_t c = 0; c < n; ++c) {
    const uret::cpu_id cpu{c};
    check("write of the scratch MSR succeeds", b.write(cpu, m, f.scratch_value(cpu)).has_value());
  }
  for (std::uint32_t c = 0; c < n; ++c) {
    const uret::cpu_id cpu{c};
    const uret::result<std::uint64_t> r = b.read(cpu, m);
    check("each CPU reads back its own value (writes do not leak across CPUs)",
          r.has_value() && *r == f.scratch_value(cpu));
  }
  {
    const uret::cpu_id cpu{0};
    const uret::result<std::uint64_t> before = b.read(cpu, f.faulting_msr());
    const uret::result<void> w = b.write(cpu, f.faulting_msr(), f.faulting_value());
    check("a write the CPU rejects fails with errc::msr_fault",
          !w.has_value() && w.error() == uret::errc::msr_fault);
    const uret::result<std::uint64_t> after = b.read(cpu, f.faulting_msr());
    check("a rejected write leaves the register unchanged",
          before.has_value() == after.has_value() && (!before.has_value() || *before == *after));
  }
  if (f.has_cpu_bound()) {
    const uret::cpu_id bad{f.cpus()};
    const uret::result<std::uint64_t> r = b.read(bad, m);
    check("read on a CPU that does not exist fails with errc::no_such_cpu",
          !r.has_value() && r.error() == uret::errc::no_such_cpu);
    const uret::result<void> w = b.write(bad, m, 1);
    check("write on a CPU that does not exist fails with errc::no_such_cpu",
          !w.has_value() && w.error() == uret::errc::no_such_cpu);
  }

  // The slot table over this backend: capture, set, restore, each checked against a read.
  {
    uret::notifier_chain<max_cpus> chain{n};
    uret::slot_table<B, 4, max_cpus> table{b, chain, n};
    const uret::result<unsigned> slot = table.add(m);
    check("slot_table::add probes the scratch MSR", slot.has_value());
    if (slot.has_value()) {
      for (std::uint32_t c = 0; c < n; ++c) {
        const uret::cpu_id cpu{c};
        check("cpu_online captures the host value", table.cpu_online(cpu).has_value());
        const std::uint64_t host = table.host(cpu, *slot).value_or(~0ULL);
        const std::uint64_t guest = host ^ 0x5a0;
        const std::uint64_t w0 = table.stats(cpu).writes;
        check("set of a guest value succeeds", table.set(cpu, *slot, guest).has_value());
        check("after set the hardware holds the guest value",
              b.read(cpu, m).value_or(host) == guest);
        check("set of the same value again is skipped",
              table.set(cpu, *slot, guest).has_value() && table.stats(cpu).writes == w0 + 1);
        check("set registers the restore", table.registered(cpu) && chain.pending(cpu));
        check("fire succeeds", chain.fire(cpu).has_value());
        check("after the return to user the hardware holds the host value again",
              b.read(cpu, m).value_or(guest) == host);
        check("the restore was one write and left nothing registered",
              table.stats(cpu).writes == w0 + 2 && !table.registered(cpu));
      }
    }
  }
  for (std::uint32_t c = 0; c < n; ++c) {
    check("the original scratch value is restored",
          b.write(uret::cpu_id{c}, m, original[c]).has_value());
  }
  return failed;
}

}  // namespace uret_test
