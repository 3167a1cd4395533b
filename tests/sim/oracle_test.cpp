// SPDX-License-Identifier: MIT
// Tests of uret/sim/oracle.hpp: the fewest WRMSRs with perfect knowledge.
#include <uret/sim/oracle.hpp>

#include <catch2/catch.hpp>

namespace sim = uret::sim;
namespace ev = uret::sim::ev;

namespace {
std::uint64_t price(const sim::setup& s, std::initializer_list<sim::event> events) {
  sim::trace t;
  t.setup = s;
  t.events.assign(events);
  return sim::oracle_writes(t);
}
}  // namespace

TEST_CASE("VMX: write what differs before entry, and back before user mode", "[sim/oracle]") {
  sim::setup s = sim::make_setup(2);
  sim::add_task(s, "vm", sim::task_kind::vmx, 1);  // guest LSTAR and TSC_AUX (0) differ on CPU 1
  REQUIRE(price(s, {ev::switch_to(1, 0), ev::enter(1), ev::exit(1), ev::enter(1), ev::exit(1)}) ==
          2);
  REQUIRE(price(s, {ev::switch_to(1, 0), ev::enter(1), ev::exit(1), ev::user(1)}) == 4);
  REQUIRE(
      price(s, {ev::switch_to(1, 0), ev::enter(1), ev::exit(1), ev::switch_to(1, sim::idle_task),
                ev::switch_to(1, 0), ev::enter(1), ev::exit(1), ev::user(1)}) == 4);
}

TEST_CASE("guest values equal to host cost nothing", "[sim/oracle]") {
  sim::setup s = sim::make_setup(1);
  const auto vm = sim::add_task(s, "vm", sim::task_kind::vmx, 0);
  s.tasks[vm].guest = s.host[0];
  REQUIRE(price(s, {ev::switch_to(0, vm), ev::enter(0), ev::exit(0), ev::user(0)}) == 0);
}

TEST_CASE("TDX: a real exit resets for free, the restore pays where post-exit differs from host",
          "[sim/oracle]") {
  sim::setup s = sim::make_setup(2);
  sim::add_task(s, "td0", sim::task_kind::tdx, 0);
  sim::add_task(s, "td1", sim::task_kind::tdx, 1);
  // CPU 1: STAR, LSTAR, SYSCALL_MASK, TSC_AUX all differ from the post-exit values.
  REQUIRE(price(s, {ev::switch_to(1, 1), ev::enter(1), ev::exit(1), ev::user(1)}) == 4);
  // CPU 0: host TSC_AUX is 0, the post-exit value.
  REQUIRE(price(s, {ev::switch_to(0, 0), ev::enter(0), ev::exit(0), ev::user(0)}) == 3);
  // Early failure and zero-step: nothing changed, nothing to restore.
  REQUIRE(price(s, {ev::switch_to(1, 1), ev::enter(1), ev::exit(1, sim::exit_outcome::early_fail),
                    ev::enter(1), ev::exit(1, sim::exit_outcome::zero_step), ev::user(1)}) == 0);
}

TEST_CASE("SEV-ES: #VMEXIT restores the value from before the entry", "[sim/oracle]") {
  sim::setup s = sim::make_setup(1);
  sim::add_task(s, "es", sim::task_kind::sev_es, 0);
  s.tasks[0].guest[sim::slots::tsc_aux] = 42;
  REQUIRE(price(s, {ev::switch_to(0, 0), ev::enter(0), ev::exit(0), ev::user(0)}) == 0);
}

TEST_CASE("a CPU coming up has host values, ignored events cost nothing", "[sim/oracle]") {
  sim::setup s = sim::make_setup(2);
  sim::add_task(s, "vm", sim::task_kind::vmx, 1);
  REQUIRE(price(s, {ev::switch_to(1, 0), ev::enter(1), ev::exit(1),
                    ev::switch_to(1, sim::idle_task), ev::offline(1), ev::online(1), ev::user(1),
                    ev::enter(1), ev::disable(1), ev::unknown(1), ev::fault(1, 0)}) == 2);
}

TEST_CASE("the oracle fed step by step equals oracle_writes", "[sim/oracle]") {
  sim::setup s = sim::make_setup(1);
  sim::add_task(s, "vm", sim::task_kind::vmx, 0);
  const sim::event events[] = {ev::switch_to(0, 0), ev::enter(0), ev::exit(0), ev::user(0)};
  sim::sched_state sched{s};
  sim::oracle o{s};
  for (const sim::event& e : events) o.step(e, sched.apply(e));
  REQUIRE(o.writes() == 2);
  REQUIRE(o.hardware(0) == s.host[0]);
}
