// SPDX-License-Identifier: MIT
// Tests of uret/sim/checker.hpp: counting, reports, and the checks on a user's own table.
#include <uret/sim/checker.hpp>

#include <uret/notifier.hpp>
#include <uret/slot_table.hpp>

#include <catch2/catch.hpp>

namespace sim = uret::sim;
using uret::cpu_id;

TEST_CASE("invariants have names and parse back", "[sim/checker]") {
  for (std::size_t i = 0; i < sim::invariant_count; ++i) {
    const auto inv = static_cast<sim::invariant>(i);
    REQUIRE(sim::parse_invariant(sim::to_string(inv)) == inv);
    REQUIRE_FALSE(sim::describe(inv).empty());
  }
  REQUIRE(sim::parse_invariant("i3") == sim::invariant::i3);
  REQUIRE_FALSE(sim::parse_invariant("I9").has_value());
}

TEST_CASE("a state invariant counts once per incident", "[sim/checker]") {
  sim::checker chk{2};
  chk.begin_event(10, sim::ev::exit(1));
  chk.expect_state(sim::invariant::i2, 1, 4, false, 1, 0);
  chk.begin_event(11, sim::ev::enter(1));
  chk.expect_state(sim::invariant::i2, 1, 4, false, 1, 0);  // still wrong: same incident
  chk.expect_state(sim::invariant::i2, 1, 5, false, 7, 8);  // another slot
  chk.begin_event(12, sim::ev::user(1));
  chk.expect_state(sim::invariant::i2, 1, 4, true, 0, 0);  // healed
  chk.begin_event(13, sim::ev::enter(1));
  chk.expect_state(sim::invariant::i2, 1, 4, false, 1, 0);  // a new incident
  REQUIRE(chk.count() == 3);
  REQUIRE(chk.by_invariant()[static_cast<std::size_t>(sim::invariant::i2)] == 3);
  REQUIRE(chk.first()[static_cast<std::size_t>(sim::invariant::i2)] == 10);
  REQUIRE(chk.first()[static_cast<std::size_t>(sim::invariant::i3)] == sim::no_event);
  REQUIRE(chk.reports().size() == 2);  // max_reports
  REQUIRE(chk.reports()[0].index == 10);
  REQUIRE(chk.reports()[1].slot == 5);
}

TEST_CASE("an event invariant counts every failure", "[sim/checker]") {
  sim::checker chk;
  chk.expect(sim::invariant::i3, 0, 1, false, 5, 6);
  chk.expect(sim::invariant::i3, 0, 1, false, 5, 6);
  chk.expect(sim::invariant::i3, 0, 1, true, 5, 5);
  REQUIRE(chk.count() == 2);
}

TEST_CASE("describe names the event, the invariant, the CPU, the MSR and both values",
          "[sim/checker]") {
  sim::violation v;
  v.index = 12;
  v.ev = sim::ev::enter(3);
  v.inv = sim::invariant::guest_entry;
  v.cpu = 3;
  v.slot = sim::slots::tsc_aux;
  v.expected = 0;
  v.actual = 3;
  REQUIRE(sim::describe(v) ==
          "event 12 (enter 3): G on CPU 3, TSC_AUX: guest needs 0x0, hardware 0x3");
  v.inv = sim::invariant::i3;
  v.slot = sim::no_slot;
  REQUIRE(sim::describe(v).find("still registered") != std::string::npos);
}

TEST_CASE("check_cache and check_user_return work on a user's own table", "[sim/checker]") {
  uret::mock_msr hw{1};
  hw.declare(uret::msrs::lstar, 0x1000);
  uret::notifier_chain<1> chain{1};
  uret::slot_table<uret::mock_msr, 4, 1> table{hw, chain, 1};
  const unsigned lstar = *table.add(uret::msrs::lstar);
  REQUIRE(table.cpu_online(cpu_id{0}));
  sim::checker chk;
  sim::check_cache(chk, table, hw, 0, false);
  REQUIRE(chk.count() == 0);

  REQUIRE(table.set(cpu_id{0}, lstar, 0x2000));
  REQUIRE(hw.poke(cpu_id{0}, uret::msrs::lstar, 0x3000));  // firmware the table was not told of
  sim::check_cache(chk, table, hw, 0, true);               // guest mode: I2 does not apply
  REQUIRE(chk.count() == 0);
  sim::check_cache(chk, table, hw, 0, false);
  REQUIRE(chk.count() == 1);
  REQUIRE(chk.reports()[0].inv == sim::invariant::i2);
  REQUIRE(chk.reports()[0].expected == 0x3000);
  REQUIRE(chk.reports()[0].actual == 0x2000);

  sim::msr_values host{};
  host[0] = 0x1000;
  sim::check_user_return(chk, table, hw, 0, host);  // nothing fired: hardware and flag wrong
  REQUIRE(chk.by_invariant()[static_cast<std::size_t>(sim::invariant::i3)] == 2);
  REQUIRE(chain.fire(cpu_id{0}));
  sim::check_user_return(chk, table, hw, 0, host);
  REQUIRE(chk.by_invariant()[static_cast<std::size_t>(sim::invariant::i3)] == 2);
}
