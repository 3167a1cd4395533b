// SPDX-License-Identifier: MIT
// uret/sim/import/detail/lex.hpp - the lexical pieces of the trace grammar
// (uret/sim/import/detail/parse.hpp): blanks and digits, trimming, prefix tests, decimal and
// hexadecimal numbers, and a numeric field found by its key. Pure functions over
// std::string_view: no allocation, no exceptions.
#pragma once

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <system_error>

namespace uret::sim::detail {
constexpr bool is_blank(char c) noexcept {
  return c == ' ' || (c >= '\t' && c <= '\r');  // \t \n \v \f \r
}
constexpr bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }
constexpr bool is_lower(char c) noexcept { return c >= 'a' && c <= 'z'; }

constexpr std::string_view trim_left(std::string_view s) noexcept {
  std::size_t i = 0;
  while (i < s.size() && is_blank(s[i])) ++i;
  return s.substr(i);
}
constexpr std::string_view trim_right(std::string_view s) noexcept {
  std::size_t n = s.size();
  while (n > 0 && is_blank(s[n - 1])) --n;
  return s.substr(0, n);
}
constexpr std::string_view trim(std::string_view s) noexcept { return trim_left(trim_right(s)); }

/// `s` is `p` (short names: no call to memcmp).
constexpr bool is(std::string_view s, std::string_view p) noexcept {
  if (s.size() != p.size()) return false;
  for (std::size_t i = 0; i < p.size(); ++i) {
    if (s[i] != p[i]) return false;
  }
  return true;
}

constexpr bool starts_with(std::string_view s, std::string_view p) noexcept {
  if (s.size() < p.size()) return false;
  for (std::size_t i = 0; i < p.size(); ++i) {  // short prefixes: no call to memcmp
    if (s[i] != p[i]) return false;
  }
  return true;
}

/// `s` is one or more decimal digits; the value is stored in `out`.
inline bool parse_dec(std::string_view s, std::uint64_t& out) noexcept {
  if (s.empty()) return false;
  const auto* end = s.data() + s.size();
  auto [p, ec] = std::from_chars(s.data(), end, out, 10);
  return ec == std::errc{} && p == end;
}

/// `s` is hexadecimal digits with an optional 0x prefix; the value is stored in `out`.
inline bool parse_hex(std::string_view s, std::uint64_t& out) noexcept {
  if (starts_with(s, "0x") || starts_with(s, "0X")) s.remove_prefix(2);
  if (s.empty()) return false;
  const auto* end = s.data() + s.size();
  auto [p, ec] = std::from_chars(s.data(), end, out, 16);
  return ec == std::errc{} && p == end;
}

/// The leading run of decimal digits of `s` (possibly empty).
constexpr std::string_view leading_digits(std::string_view s) noexcept {
  std::size_t i = 0;
  while (i < s.size() && is_digit(s[i])) ++i;
  return s.substr(0, i);
}

/// The decimal number that follows `key` in `s` ("dest_cpu=" in "... dest_cpu=3"), searching
/// from the right so that a task name containing the key cannot shadow the real field.
inline bool field_after(std::string_view s, std::string_view key, std::uint64_t& out) noexcept {
  auto at = s.rfind(key);
  if (at == std::string_view::npos) return false;
  return parse_dec(leading_digits(s.substr(at + key.size())), out);
}

}  // namespace uret::sim::detail
