// SPDX-License-Identifier: MIT
// Tests of uret/sim/shrink.hpp.
#include <uret/sim/shrink.hpp>

#include <uret/sim/workload.hpp>

#include <catch2/catch.hpp>

namespace sim = uret::sim;

TEST_CASE("a failing run shrinks to a handful of events that still fail", "[sim/shrink]") {
  const sim::trace t =
      sim::generate(sim::stress_workload(sim::strategy::tdx_update_after_run, 8), 1, 20000);
  const sim::run_result r = sim::run(t, sim::strategy::tdx_update_after_run);
  REQUIRE(r.violations > 0);
  const sim::invariant inv = r.reports.front().inv;
  const sim::trace small = sim::shrink(t, sim::strategy::tdx_update_after_run, inv);
  REQUIRE(small.events.size() <= 6);
  REQUIRE(small.setup.tasks.size() <= 2);
  const sim::run_result again = sim::run(small, sim::strategy::tdx_update_after_run);
  REQUIRE(again.by_invariant[static_cast<std::size_t>(inv)] > 0);
  REQUIRE(sim::run(small, sim::strategy::tdx_may_clobber).violations == 0);
}

TEST_CASE("a trace that does not fail comes back unchanged", "[sim/shrink]") {
  const sim::trace t = sim::generate(*sim::find_workload("tdx-flaky"), 1, 500);
  const sim::trace same = sim::shrink(t, sim::strategy::tdx_may_clobber, sim::invariant::i2);
  REQUIRE(same.events == t.events);
}
