// SPDX-License-Identifier: MIT
// Tests of uret/uret.hpp: the umbrella gives the whole core and nothing of fmt.
#include <uret/uret.hpp>

#include <catch2/catch.hpp>

#ifdef FMT_VERSION
#error "uret/uret.hpp must not include fmt"
#endif

TEST_CASE("the umbrella header provides the core", "[uret]") {
  uret::mock_msr hw{1};
  hw.declare(uret::msrs::lstar, 0x1000);
  uret::notifier_chain<1> chain{1};
  uret::slot_table<uret::mock_msr, 16, 1> table{hw, chain, 1};
  REQUIRE(table.add(uret::msrs::lstar).has_value());
  REQUIRE(table.cpu_online(uret::cpu_id{0}).has_value());
  CHECK(*table.host(uret::cpu_id{0}, 0) == 0x1000);
  CHECK(uret::version_major >= 0);
}
