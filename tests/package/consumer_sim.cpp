// SPDX-License-Identifier: MIT
// A consumer of uret::sim: a generated workload checked under the user-return and eager
// strategies, which must both keep every invariant (and write at all).
#include <uret/sim/sim.hpp>

#include <cstdio>

int main() {
  namespace sim = uret::sim;
  const auto* w = sim::find_workload("exit-storm");
  if (w == nullptr) return 1;
  const sim::trace t = sim::generate(*w, 7, 20'000);
  const sim::run_result lazy = sim::run(t, sim::strategy::user_return);
  const sim::run_result eager = sim::run(t, sim::strategy::eager);
  std::printf("consumer: violations %llu / %llu\n",
              static_cast<unsigned long long>(lazy.violations),
              static_cast<unsigned long long>(eager.violations));
  if (lazy.violations != 0 || eager.violations != 0 || lazy.wrmsr == 0 || eager.wrmsr == 0) {
    return 2;
  }
  std::printf("consumer: user-return %llu WRMSRs, eager %llu, no violations\n",
              static_cast<unsigned long long>(lazy.wrmsr),
              static_cast<unsigned long long>(eager.wrmsr));
  return 0;
}
