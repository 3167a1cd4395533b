// SPDX-License-Identifier: MIT
// tests/sim/import/fixture.hpp - reads one of the importer's fixture files
// (tests/sim/import/fixtures/).
#pragma once

#include <catch2/catch.hpp>
#include <fstream>
#include <sstream>
#include <string>

namespace uret_import_test {

/// The whole text of fixtures/NAME, bytes as they are (CRLF kept); fails the test if missing.
inline std::string fixture(const std::string& name) {
  std::ifstream in(std::string(URET_IMPORT_FIXTURES) + "/" + name, std::ios::binary);
  REQUIRE(in);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace uret_import_test
