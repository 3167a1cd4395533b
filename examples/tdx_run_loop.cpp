// SPDX-License-Identifier: MIT
// A hypervisor-style run loop for a TD vCPU, on uret's slot table over the mock backend, that
// tells the table what the TDX module may have done with slot_table::may_clobber() after every
// TD exit. Every WRMSR is printed as it happens.
//
// The TDX module resets STAR, LSTAR, SYSCALL_MASK and TSC_AUX when a TD exits for real, and
// touches nothing when the entry fails early or its zero-step filter synthesises the exit; the
// TD exit does not tell KVM which happened. may_clobber() is right in both cases: a slot whose
// cache already holds the post-exit value stays known, any other becomes unknown and is
// restored with a real write on the way back to user mode. Run it and compare the writes with
// uret-sim's tdx-update-after-run strategy, which trusts a cache that was never written.
#include <uret/backends/mock_msr.hpp>
#include <uret/notifier.hpp>
#include <uret/sim/hardware.hpp>
#include <uret/sim/trace.hpp>
#include <uret/slot_table.hpp>

#include <cstdint>
#include <cstdio>
#include <string_view>

namespace {

namespace sim = uret::sim;
using uret::cpu_id;

void print_write(void*, cpu_id cpu, uret::msr_index msr, std::uint64_t value) noexcept {
  const std::string_view n = uret::msr_name(msr);
  std::printf("      WRMSR cpu %u %-12.*s <- %#llx\n", cpu.value, static_cast<int>(n.size()),
              n.data(), static_cast<unsigned long long>(value));
}

const char* name(sim::exit_outcome o) {
  switch (o) {
    case sim::exit_outcome::real: return "real TD exit (module reset its MSRs)";
    case sim::exit_outcome::early_fail: return "entry failed early (nothing touched)";
    case sim::exit_outcome::zero_step: return "zero-step exit (nothing touched)";
  }
  return "?";
}

}  // namespace

int main() {
  constexpr std::uint32_t cpus = 2;
  const cpu_id cpu{1};  // host TSC_AUX = 1
  const sim::setup machine = sim::make_setup(cpus);

  uret::mock_msr hw{cpus};
  sim::declare_msrs(hw, machine);  // the seven user-return MSRs with Linux's host values
  uret::notifier_chain<cpus> chain{cpus};
  uret::slot_table<uret::mock_msr, 16, cpus> table{hw, chain, cpus};
  for (uret::msr_index msr : sim::slot_msrs) {
    if (!table.add(msr)) return 1;  // kvm_add_user_return_msr(): probe, then take a slot
  }
  for (std::uint32_t c = 0; c < cpus; ++c) {
    if (!table.cpu_online(cpu_id{c})) return 1;  // kvm_user_return_msr_cpu_online()
  }
  hw.set_logging(false);
  hw.set_write_hook(&print_write, nullptr);

  // What the TD's successive KVM_RUN rounds end in, and whether the exit goes to user space.
  struct round {
    sim::exit_outcome outcome;
    bool to_user_space;
  };
  constexpr round rounds[] = {
      {sim::exit_outcome::real, false},     {sim::exit_outcome::real, false},
      {sim::exit_outcome::real, true},      {sim::exit_outcome::early_fail, false},
      {sim::exit_outcome::zero_step, true}, {sim::exit_outcome::early_fail, true},
  };

  std::printf("TD vCPU on CPU %u: the run loop\n", cpu.value);
  for (const round& r : rounds) {
    std::printf("  enter the TD ... %s\n", name(r.outcome));
    sim::tdx_module_exit(hw, cpu, r.outcome);  // what the TDX module did (KVM cannot tell)
    for (unsigned s = 0; s < sim::msr_count; ++s) {
      if (!sim::has(sim::tdx_clobbered, s)) continue;
      if (!table.may_clobber(cpu, s, sim::tdx_post_exit(s))) return 1;
    }
    if (r.to_user_space) {
      std::printf("    exit to the VMM: return to user mode restores what may be wrong\n");
      if (!chain.fire(cpu)) return 1;  // kvm_on_user_return()
    }
  }

  // A VMX vCPU whose guest TSC_AUX equals the post-exit value (0) runs next, after the TD's
  // last entry failed early: its write must not be skipped.
  std::printf("VMX vCPU on CPU %u after a failed TD entry: load guest TSC_AUX 0\n", cpu.value);
  const unsigned tsc_aux = *table.find(uret::msrs::tsc_aux);
  if (!table.may_clobber(cpu, tsc_aux, 0)) return 1;  // the TD's last exit, as in the loop
  if (!table.set(cpu, tsc_aux, 0)) return 1;
  std::printf("    hardware TSC_AUX = %llu (the guest needs 0)\n",
              static_cast<unsigned long long>(*hw.peek(cpu, uret::msrs::tsc_aux)));
  std::printf("  return to user mode\n");
  if (!chain.fire(cpu)) return 1;
  std::printf("    hardware TSC_AUX = %llu (host)\n",
              static_cast<unsigned long long>(*hw.peek(cpu, uret::msrs::tsc_aux)));
  std::printf("WRMSRs on CPU %u: %llu\n", cpu.value,
              static_cast<unsigned long long>(hw.stats(cpu).writes));
  return 0;
}
