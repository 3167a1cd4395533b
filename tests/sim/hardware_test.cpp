// SPDX-License-Identifier: MIT
// Tests of uret/sim/hardware.hpp: the TDX module, SEV-ES #VMEXIT and CPU bring-up models.
#include <uret/sim/hardware.hpp>

#include <catch2/catch.hpp>

namespace sim = uret::sim;
using uret::cpu_id;

TEST_CASE("the TDX module resets its MSRs only on a real exit", "[sim/hardware]") {
  const sim::setup s = sim::make_setup(2);
  sim::msr_values hw = s.host[1];
  sim::tdx_module_exit(hw, sim::exit_outcome::early_fail);
  REQUIRE(hw == s.host[1]);
  sim::tdx_module_exit(hw, sim::exit_outcome::zero_step);
  REQUIRE(hw == s.host[1]);
  sim::tdx_module_exit(hw, sim::exit_outcome::real);
  for (unsigned i = 0; i < sim::msr_count; ++i) {
    const bool clobbered = sim::has(sim::tdx_clobbered, i);
    REQUIRE(hw[i] == (clobbered ? sim::tdx_post_exit(i) : s.host[1][i]));
  }
}

TEST_CASE("the mock forms change registers without counting a write", "[sim/hardware]") {
  const sim::setup s = sim::make_setup(2);
  uret::mock_msr hw{2};
  sim::declare_msrs(hw, s);
  REQUIRE(hw.peek(cpu_id{1}, uret::msrs::tsc_aux) == 1);
  sim::tdx_module_exit(hw, cpu_id{1}, sim::exit_outcome::real);
  REQUIRE(hw.peek(cpu_id{1}, uret::msrs::syscall_mask) == 0x20200);
  REQUIRE(hw.peek(cpu_id{1}, uret::msrs::efer) == s.host[1][sim::slots::efer]);
  sim::sev_es_vmrun(hw, cpu_id{0}, 9);
  REQUIRE(hw.peek(cpu_id{0}, uret::msrs::tsc_aux) == 9);
  sim::sev_es_vmexit(hw, cpu_id{0}, 4);
  REQUIRE(hw.peek(cpu_id{0}, uret::msrs::tsc_aux) == 4);
  sim::cpu_bringup(hw, cpu_id{1}, s.host[1]);
  REQUIRE(hw.peek(cpu_id{1}, uret::msrs::syscall_mask) == s.host[1][sim::slots::syscall_mask]);
  REQUIRE(hw.stats(cpu_id{0}).writes == 0);
  REQUIRE(hw.stats(cpu_id{1}).writes == 0);
}
