// SPDX-License-Identifier: MIT
// Tests of uret/sim/trace.hpp: the simulated slots, masks, TDX post-exit values, defaults.
#include <uret/sim/trace.hpp>

#include <catch2/catch.hpp>

#include <cstdint>
#include <optional>

namespace sim = uret::sim;

TEST_CASE("slots follow KVM's VMX order and map back to their MSRs", "[sim/trace]") {
  REQUIRE(sim::slot_msrs[sim::slots::syscall_mask] == uret::msrs::syscall_mask);
  REQUIRE(sim::slot_msrs[sim::slots::tsx_ctrl] == uret::msrs::tsx_ctrl);
  for (unsigned s = 0; s < sim::msr_count; ++s) REQUIRE(sim::slot_of(sim::slot_msrs[s]) == s);
  REQUIRE_FALSE(sim::slot_of(uret::msrs::kernel_gs_base).has_value());
}

TEST_CASE("the TDX module's MSRs and post-exit values come from tdx_reset_msrs", "[sim/trace]") {
  using namespace sim::slots;
  REQUIRE(sim::tdx_clobbered ==
          ((1U << syscall_mask) | (1U << lstar) | (1U << tsc_aux) | (1U << star)));
  REQUIRE(sim::tdx_post_exit(syscall_mask) == 0x20200);
  REQUIRE(sim::tdx_post_exit(lstar) == 0);
  REQUIRE(sim::tdx_post_exit(efer) == 0);
  REQUIRE(sim::tdx_post_exit(99) == 0);
}

TEST_CASE("TDX post-exit values: SYSCALL_MASK 0x20200, the other reset MSRs 0", "[sim/trace]") {
  const auto post_exit = [](uret::msr_index m) -> std::optional<std::uint64_t> {
    for (const auto& r : sim::tdx_reset_msrs) {
      if (r.index == m) return r.post_exit;
    }
    return std::nullopt;
  };
  CHECK(post_exit(uret::msrs::syscall_mask) == std::optional<std::uint64_t>{0x20200U});
  for (auto m :
       {uret::msrs::star, uret::msrs::lstar, uret::msrs::tsc_aux, uret::msrs::kernel_gs_base}) {
    CHECK(post_exit(m) == std::optional<std::uint64_t>{0U});
  }
  for (auto m : {uret::msrs::efer, uret::msrs::tsx_ctrl, uret::msrs::cstar}) {
    CHECK_FALSE(post_exit(m).has_value());
  }
}

TEST_CASE("host values are Linux's, and CPU 0's TSC_AUX equals the post-exit value",
          "[sim/trace]") {
  REQUIRE(sim::host_default(0, sim::slots::tsc_aux) == sim::tdx_post_exit(sim::slots::tsc_aux));
  REQUIRE(sim::host_default(5, sim::slots::tsc_aux) == 5);
  REQUIRE(sim::host_default(3, sim::slots::syscall_mask) == 0x257fd5);
  const sim::setup s = sim::make_setup(3);
  REQUIRE(s.host.size() == 3);
  REQUIRE(s.host[2][sim::slots::tsc_aux] == 2);
  REQUIRE(sim::make_setup(0).cpus == 1);
  REQUIRE(sim::make_setup(1000).cpus == sim::max_cpus);
}

TEST_CASE("masks keep the host's bits outside them", "[sim/trace]") {
  using namespace sim::slots;
  REQUIRE(sim::value_mask(lstar) == ~std::uint64_t{0});
  REQUIRE(sim::merged(0x001, sim::value_mask(efer), 0xd01) == 0x501);
  REQUIRE(sim::merged(0x0, sim::value_mask(tsx_ctrl), 0x3) == 0x2);
}

TEST_CASE("vCPU kinds load what their hypervisor code loads", "[sim/trace]") {
  REQUIRE(sim::loads(sim::task_kind::vmx) == sim::all_slots);
  REQUIRE(sim::loads(sim::task_kind::svm) == (1U << sim::slots::tsc_aux));
  REQUIRE(sim::loads(sim::task_kind::sev_es) == 0);
  REQUIRE(sim::loads(sim::task_kind::tdx) == 0);
  REQUIRE(sim::is_vcpu(sim::task_kind::sev_es));
  REQUIRE_FALSE(sim::is_vcpu(sim::task_kind::user));
  for (auto k :
       {sim::task_kind::vmx, sim::task_kind::svm, sim::task_kind::sev_es, sim::task_kind::tdx,
        sim::task_kind::user, sim::task_kind::kernel, sim::task_kind::idle}) {
    REQUIRE(sim::parse_task_kind(sim::to_string(k)) == k);
  }
  REQUIRE_FALSE(sim::parse_task_kind("kvm").has_value());
}

TEST_CASE("add_task gives vCPUs the Linux-guest defaults by vCPU order", "[sim/trace]") {
  sim::setup s = sim::make_setup(2);
  const auto a = sim::add_task(s, "a", sim::task_kind::vmx, 1);
  const auto u = sim::add_task(s, "u", sim::task_kind::user, 0);
  const auto b = sim::add_task(s, "b", sim::task_kind::tdx, 7);  // CPU out of range: 0
  REQUIRE(s.tasks[a].guest[sim::slots::tsc_aux] == 0);
  REQUIRE(s.tasks[b].guest[sim::slots::tsc_aux] == 1);
  REQUIRE(s.tasks[b].cpu == 0);
  REQUIRE(s.tasks[u].guest[sim::slots::lstar] == 0);
  REQUIRE(s.tasks[a].guest[sim::slots::lstar] != s.host[0][sim::slots::lstar]);
  REQUIRE(s.tasks[a].guest[sim::slots::star] == s.host[0][sim::slots::star]);
}

TEST_CASE("events are eight bytes and name themselves", "[sim/trace]") {
  STATIC_REQUIRE(sizeof(sim::event) == 8);
  REQUIRE(sim::to_string(sim::event_kind::switch_to) == "switch");
  REQUIRE(sim::to_string(sim::exit_outcome::early_fail) == "early-fail");
  REQUIRE(sim::to_string(sim::disable_when::mid_restore) == "mid-restore");
  const sim::event e = sim::ev::exit(3, sim::exit_outcome::zero_step);
  REQUIRE(e.cpu == 3);
  REQUIRE(static_cast<sim::exit_outcome>(e.arg) == sim::exit_outcome::zero_step);
}
