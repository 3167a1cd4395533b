// SPDX-License-Identifier: MIT
// Tests of uret/version.hpp.
#include <uret/version.hpp>

#include <catch2/catch.hpp>

#include <string>

TEST_CASE("version macros, constants and string agree", "[version]") {
  STATIC_REQUIRE(URET_VERSION ==
                 URET_VERSION_MAJOR * 10000 + URET_VERSION_MINOR * 100 + URET_VERSION_PATCH);
  const std::string expected = std::to_string(uret::version_major) + "." +
                               std::to_string(uret::version_minor) + "." +
                               std::to_string(uret::version_patch);
  CHECK(expected == uret::version_string);
}
