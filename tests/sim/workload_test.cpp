// SPDX-License-Identifier: MIT
// Tests of uret/sim/workload.hpp: the named workloads, reproducibility, validity.
#include <uret/sim/workload.hpp>

#include <uret/sim/simulator.hpp>

#include <catch2/catch.hpp>

#include <string>
#include <vector>

namespace sim = uret::sim;

TEST_CASE("the benchmark's workloads exist by name", "[sim/workload]") {
  for (const char* name : {"exit-storm", "user-exit-storm", "idle-bounce", "timeshare",
                           "same-values", "tdx-clobber", "tdx-flaky", "mixed", "stress"}) {
    INFO(name);
    const sim::workload_params* p = sim::find_workload(name);
    REQUIRE(p != nullptr);
    REQUIRE(p->name == name);
    REQUIRE(p->cpus == 8);
  }
  REQUIRE(sim::find_workload("nope") == nullptr);
  REQUIRE(sim::workloads().size() == 9);
}

TEST_CASE("the same seed gives the same trace, another seed another", "[sim/workload]") {
  const sim::workload_params& p = *sim::find_workload("stress");
  const sim::trace a = sim::generate(p, 42, 20000);
  const sim::trace b = sim::generate(p, 42, 20000);
  const sim::trace c = sim::generate(p, 43, 20000);
  REQUIRE(a.events == b.events);
  REQUIRE(a.events != c.events);
  REQUIRE(a.setup.tasks.size() == b.setup.tasks.size());
  for (std::size_t i = 0; i < a.setup.tasks.size(); ++i)
    REQUIRE(a.setup.tasks[i].guest == b.setup.tasks[i].guest);
}

TEST_CASE("streaming equals generate()", "[sim/workload]") {
  const sim::workload_params& p = *sim::find_workload("mixed");
  const sim::trace t = sim::generate(p, 7, 5000);
  sim::generator g{p, 7};
  for (const sim::event& e : t.events) REQUIRE(g.next() == e);
}

TEST_CASE("generated events are always possible", "[sim/workload]") {
  for (const sim::named_workload& w : sim::workloads()) {
    INFO(w.params.name);
    sim::workload_params p = w.params;
    p.cpus = 3;
    const sim::trace t = sim::generate(p, 1, 50000);
    sim::run_options o;
    o.check = false;
    REQUIRE(sim::run(t, sim::strategy::user_return, o).ignored == 0);
  }
}

TEST_CASE("workloads contain what their names promise", "[sim/workload]") {
  const auto count = [](const sim::trace& t, sim::event_kind k) {
    std::size_t n = 0;
    for (const sim::event& e : t.events) n += e.kind == k ? 1 : 0;
    return n;
  };
  const sim::trace storm = sim::generate(*sim::find_workload("exit-storm"), 1, 200000);
  const std::size_t exits = count(storm, sim::event_kind::exit);
  const std::size_t users = count(storm, sim::event_kind::user);
  REQUIRE(users > 0);
  REQUIRE(exits / users > 500);  // ~1000 kernel-handled exits per return to user
  const sim::trace ues = sim::generate(*sim::find_workload("user-exit-storm"), 1, 30000);
  REQUIRE(count(ues, sim::event_kind::user) + 10 >= count(ues, sim::event_kind::exit));
  const sim::trace flaky = sim::generate(*sim::find_workload("tdx-flaky"), 1, 200000);
  std::size_t early = 0;
  for (const sim::event& e : flaky.events) {
    early += e.kind == sim::event_kind::exit &&
             e.arg == static_cast<std::uint8_t>(sim::exit_outcome::early_fail);
  }
  const double share =
      static_cast<double>(early) / static_cast<double>(count(flaky, sim::event_kind::exit));
  REQUIRE(share > 0.005);
  REQUIRE(share < 0.02);
  const sim::trace stress = sim::generate(*sim::find_workload("stress"), 1, 200000);
  for (auto k : {sim::event_kind::migrate, sim::event_kind::offline, sim::event_kind::online,
                 sim::event_kind::disable, sim::event_kind::unknown, sim::event_kind::fault}) {
    INFO(sim::to_string(k));
    REQUIRE(count(stress, k) > 0);
  }
}

TEST_CASE("vCPU kinds follow the weights, and check keeps the strategy's kinds", "[sim/workload]") {
  const sim::trace mixed = sim::generate(*sim::find_workload("mixed"), 1, 10);
  std::size_t vmx = 0;
  std::size_t tdx = 0;
  for (const sim::task& t : mixed.setup.tasks) {
    vmx += t.kind == sim::task_kind::vmx;
    tdx += t.kind == sim::task_kind::tdx;
  }
  REQUIRE(vmx == 8);
  REQUIRE(tdx == 8);
  REQUIRE(sim::stress_workload(sim::strategy::user_return, 4).tdx == 0);
  REQUIRE(sim::stress_workload(sim::strategy::tdx_may_clobber, 4).tdx > 0);
  REQUIRE(sim::stress_workload(sim::strategy::eager, 4).cpus == 4);
}

TEST_CASE("guest value policies", "[sim/workload]") {
  const sim::trace same = sim::generate(*sim::find_workload("same-values"), 1, 10);
  for (const sim::task& t : same.setup.tasks) {
    if (sim::is_vcpu(t.kind)) REQUIRE(t.guest == same.setup.host[t.cpu]);
  }
  const sim::trace ts = sim::generate(*sim::find_workload("timeshare"), 1, 10);
  REQUIRE(ts.setup.tasks[0].guest == ts.setup.tasks[1].guest);
  REQUIRE(ts.setup.tasks[0].cpu == ts.setup.tasks[1].cpu);
}
