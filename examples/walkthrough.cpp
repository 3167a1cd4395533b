// SPDX-License-Identifier: MIT
// A mock CPU walked through KVM's lazy scheme: the guest values go in with set() before the
// first entry, a thousand exits handled in the kernel cost nothing, and the host values come
// back once, when the CPU returns to user mode. Every WRMSR is printed as it happens.
#include <uret/format.hpp>
#include <uret/uret.hpp>

#include <cstdint>
#include <cstdlib>

namespace {
void print_wrmsr(void*, uret::cpu_id cpu, uret::msr_index msr, std::uint64_t value) noexcept {
  fmt::print("    WRMSR {} {:<28} <- {:#x}\n", cpu, fmt::to_string(msr), value);
}

int fail(std::string_view what, uret::errc e) {
  fmt::print(stderr, "walkthrough: {}: {}\n", what, e);
  return EXIT_FAILURE;
}
}  // namespace

int main() {
  const uret::cpu_id cpu{0};
  uret::mock_msr hw{1};
  // Host values as Linux programs them on CPU 0.
  hw.declare(uret::msrs::star, 0x0023001000000000);
  hw.declare(uret::msrs::lstar, 0xffffffff81e00080);
  hw.declare(uret::msrs::syscall_mask, 0x257fd5);
  hw.declare(uret::msrs::tsc_aux, 0);

  uret::notifier_chain<1> chain{1};
  uret::slot_table<uret::mock_msr, 16, 1> table{hw, chain, 1};
  for (auto m :
       {uret::msrs::star, uret::msrs::lstar, uret::msrs::syscall_mask, uret::msrs::tsc_aux}) {
    if (auto slot = table.add(m); !slot) return fail("add", slot.error());
  }
  if (auto r = table.cpu_online(cpu); !r) return fail("cpu_online", r.error());
  hw.set_write_hook(&print_wrmsr, nullptr);

  fmt::print("1. vCPU thread enters KVM_RUN: load the guest's values (kvm_set_user_return_msr)\n");
  const std::uint64_t guest[] = {0x0023001000000000, 0xffffffff82000040, 0x47700, 0x3};
  for (unsigned slot = 0; slot < 4; ++slot) {
    if (auto r = table.set(cpu, slot, guest[slot]); !r) return fail("set", r.error());
  }
  fmt::print("   (STAR is equal in guest and host: no write)\n");

  fmt::print("2. 1000 VM exits handled in the kernel, each followed by a re-entry\n");
  for (int exit = 0; exit < 1000; ++exit) {
    for (unsigned slot = 0; slot < 4; ++slot) {
      if (auto r = table.set(cpu, slot, guest[slot]); !r) return fail("set", r.error());
    }
  }
  fmt::print("   no WRMSR: the cache already holds the guest values ({} sets skipped)\n",
             table.stats(cpu).skipped);

  fmt::print("3. the VMM thread returns to user space: the notifier restores the host values\n");
  if (auto r = chain.fire(cpu); !r) return fail("fire", r.error());

  fmt::print("4. state afterwards (writes include the 4 probe writes of add)\n{}\n",
             uret::dump(table, cpu));
  // One write counter: the table's (what dump() prints, and all a real backend offers) must
  // be the number of WRMSRs the hardware saw.
  const std::uint64_t writes = table.stats(cpu).writes;
  if (writes != hw.stats(cpu).writes) {
    fmt::print(stderr, "walkthrough: the table counted {} writes, the hardware saw {}\n", writes,
               hw.stats(cpu).writes);
    return EXIT_FAILURE;
  }
  fmt::print("WRMSRs after set-up: {} (eager switching would have issued {})\n", writes - 4,
             1001 * 2 * 3);
  return EXIT_SUCCESS;
}
