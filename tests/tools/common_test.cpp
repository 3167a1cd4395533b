// SPDX-License-Identifier: MIT
// tools/common: the JSON escaping, the strict number parser and the file helpers uret-sim and
// uret-bench share.
#include <catch2/catch.hpp>

#include <cstdio>
#include <string>

#include "common/file_io.hpp"
#include "common/number.hpp"
#include "common/text_out.hpp"

TEST_CASE("json_string escapes quotes, backslashes and every control character", "[tools]") {
  CHECK(uret_tools::json_string("plain") == "\"plain\"");
  CHECK(uret_tools::json_string("a\"b\\c") == "\"a\\\"b\\\\c\"");
  CHECK(uret_tools::json_string("\n\r\t\b\f") == "\"\\n\\r\\t\\b\\f\"");
  CHECK(uret_tools::json_string(std::string("\x01\x1f\x7f", 3)) == "\"\\u0001\\u001f\\u007f\"");
  CHECK(uret_tools::json_string(std::string(1, '\0')) == "\"\\u0000\"");
}

TEST_CASE("parse_whole takes 1000000, 1e6 and 0x10, and nothing else", "[tools]") {
  CHECK(uret_tools::parse_whole("1000000") == 1000000U);
  CHECK(uret_tools::parse_whole("1e6") == 1000000U);
  CHECK(uret_tools::parse_whole("2.5e3") == 2500U);
  CHECK(uret_tools::parse_whole("0x10") == 16U);
  CHECK(uret_tools::parse_whole("18446744073709551615") == ~std::uint64_t{0});
  for (const char* bad : {"", "-1", "+1", " 1", "1 ", "1.5", "1e-1", "0x", "0xg", "abc", "inf",
                          "nan", "18446744073709551616", "1e30", "010x"}) {
    INFO(bad);
    CHECK_FALSE(uret_tools::parse_whole(bad).has_value());
  }
}

TEST_CASE("parse_nonnegative takes finite numbers from 0 up", "[tools]") {
  CHECK(uret_tools::parse_nonnegative("0") == 0.0);
  CHECK(uret_tools::parse_nonnegative("12.5") == 12.5);
  for (const char* bad : {"", "-1", "+1", "1x", "nan", "inf", " 1"}) {
    INFO(bad);
    CHECK_FALSE(uret_tools::parse_nonnegative(bad).has_value());
  }
}

TEST_CASE("write_file and read_file round-trip; missing files are reported", "[tools]") {
  const std::string path = "uret_tools_common_test.txt";
  const std::string text("line 1\nline 2\0with a NUL\n", 24);
  REQUIRE(uret_tools::write_file(path, text));
  CHECK(uret_tools::read_file(path) == text);
  std::remove(path.c_str());
  CHECK_FALSE(uret_tools::read_file("no/such/dir/file.txt").has_value());
  CHECK_FALSE(uret_tools::write_file("no/such/dir/file.txt", text));
}
