// SPDX-License-Identifier: MIT
// Tests of uret/sim/sched.hpp: which events are possible, and what they change.
#include <uret/sim/sched.hpp>

#include <catch2/catch.hpp>

namespace sim = uret::sim;
namespace ev = uret::sim::ev;

namespace {
sim::setup two_cpus() {
  sim::setup s = sim::make_setup(2);
  sim::add_task(s, "vm", sim::task_kind::vmx, 0);     // 0
  sim::add_task(s, "vmm", sim::task_kind::user, 0);   // 1
  sim::add_task(s, "kw", sim::task_kind::kernel, 1);  // 2
  return s;
}
}  // namespace

TEST_CASE("a fresh machine runs idle everywhere", "[sim/sched]") {
  const sim::setup s = two_cpus();
  const sim::sched_state st{s};
  REQUIRE(st.running(0) == sim::idle_task);
  REQUIRE(st.up(1));
  REQUIRE_FALSE(st.in_guest(0));
  REQUIRE(st.home(2) == 1);
  REQUIRE_FALSE(st.is_running(0));
}

TEST_CASE("the vCPU run cycle", "[sim/sched]") {
  const sim::setup s = two_cpus();
  sim::sched_state st{s};
  REQUIRE_FALSE(st.apply(ev::enter(0)).valid);  // idle cannot enter a guest
  REQUIRE_FALSE(st.apply(ev::user(0)).valid);   // idle never returns to user mode
  REQUIRE(st.apply(ev::switch_to(0, 0)).valid);
  REQUIRE_FALSE(st.apply(ev::switch_to(0, 0)).valid);  // already running
  REQUIRE_FALSE(st.apply(ev::switch_to(0, 2)).valid);  // lives on CPU 1
  REQUIRE(st.apply(ev::enter(0)).valid);
  REQUIRE(st.in_guest(0));
  REQUIRE_FALSE(st.apply(ev::switch_to(0, 1)).valid);  // not while in guest mode
  REQUIRE_FALSE(st.apply(ev::user(0)).valid);
  REQUIRE_FALSE(st.apply(ev::disable(0)).valid);
  const sim::sched_step x = st.apply(ev::exit(0));
  REQUIRE(x.valid);
  REQUIRE(x.task == 0);
  REQUIRE(st.apply(ev::user(0)).valid);
  const sim::sched_step sw = st.apply(ev::switch_to(0, sim::idle_task));
  REQUIRE(sw.task == 0);
  REQUIRE(st.running(0) == sim::idle_task);
}

TEST_CASE("migration moves only tasks that are not running", "[sim/sched]") {
  const sim::setup s = two_cpus();
  sim::sched_state st{s};
  REQUIRE(st.apply(ev::switch_to(0, 0)).valid);
  REQUIRE_FALSE(st.apply(ev::migrate(0, 1)).valid);
  REQUIRE(st.apply(ev::migrate(1, 1)).valid);
  REQUIRE(st.home(1) == 1);
  REQUIRE_FALSE(st.apply(ev::migrate(1, 1)).valid);  // already there
  REQUIRE_FALSE(st.apply(ev::migrate(9, 1)).valid);  // no such task
  REQUIRE_FALSE(st.apply(ev::migrate(1, 5)).valid);  // no such CPU
  REQUIRE(st.apply(ev::switch_to(1, 1)).valid);
}

TEST_CASE("hotplug: a CPU that is down takes no events until it comes back", "[sim/sched]") {
  const sim::setup s = two_cpus();
  sim::sched_state st{s};
  REQUIRE(st.apply(ev::switch_to(1, 2)).valid);
  REQUIRE(st.apply(ev::offline(1)).valid);
  REQUIRE_FALSE(st.up(1));
  REQUIRE(st.running(1) == sim::idle_task);
  REQUIRE_FALSE(st.apply(ev::switch_to(1, 2)).valid);
  REQUIRE_FALSE(st.apply(ev::fault(1, 0)).valid);
  REQUIRE_FALSE(st.apply(ev::migrate(0, 1)).valid);  // not onto a CPU that is down
  const sim::sched_step on = st.apply(ev::online(1));
  REQUIRE(on.valid);
  REQUIRE(on.came_up);
  const sim::sched_step again = st.apply(ev::online(1));  // virtualization enable only
  REQUIRE(again.valid);
  REQUIRE_FALSE(again.came_up);
}

TEST_CASE("unknown in guest mode is an implicit exit", "[sim/sched]") {
  const sim::setup s = two_cpus();
  sim::sched_state st{s};
  REQUIRE(st.apply(ev::switch_to(0, 0)).valid);
  REQUIRE(st.apply(ev::enter(0)).valid);
  const sim::sched_step u = st.apply(ev::unknown(0));
  REQUIRE(u.valid);
  REQUIRE(u.forced_exit);
  REQUIRE_FALSE(st.in_guest(0));
  REQUIRE_FALSE(st.apply(ev::exit(0)).valid);
}

TEST_CASE("events for CPUs out of range are impossible", "[sim/sched]") {
  const sim::setup s = two_cpus();
  sim::sched_state st{s};
  REQUIRE_FALSE(st.possible(ev::user(2)));
  REQUIRE_FALSE(st.possible(ev::online(64)));
  REQUIRE_FALSE(st.possible(ev::fault(0, sim::msr_count)));
}
