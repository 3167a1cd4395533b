// SPDX-License-Identifier: MIT
// tools/common/number.hpp - the one number parser of the command lines: strict, whole input or
// nothing. Whole numbers as 1000000, 1e6 or 0x10; no sign, no blanks, no fraction, no
// overflow.
#pragma once

#include <charconv>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

namespace uret_tools {

/// `v` as a whole number (decimal, 0x hex, or a decimal mantissa with an exponent that makes
/// it whole: 1e6, 2.5e3), or nullopt.
inline std::optional<std::uint64_t> parse_whole(std::string_view v) {
  if (v.empty() || v.front() == '+' || v.front() == '-' || v.front() == ' ') return std::nullopt;
  std::uint64_t n = 0;
  if (v.size() > 2 && v[0] == '0' && (v[1] == 'x' || v[1] == 'X')) {
    const auto r = std::from_chars(v.data() + 2, v.data() + v.size(), n, 16);
    if (r.ec != std::errc{} || r.ptr != v.data() + v.size() || v.size() == 2) return std::nullopt;
    return n;
  }
  const auto r = std::from_chars(v.data(), v.data() + v.size(), n, 10);
  if (r.ec == std::errc{} && r.ptr == v.data() + v.size()) return n;
  const std::string s(v);
  char* end = nullptr;
  const double d = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size() || !(d >= 0) || !(d < 1.8e19)) return std::nullopt;
  n = static_cast<std::uint64_t>(d);
  if (d != static_cast<double>(n)) return std::nullopt;
  return n;
}

/// `v` as a finite non-negative number (12, 0.5, 1e-3), or nullopt.
inline std::optional<double> parse_nonnegative(std::string_view v) {
  if (v.empty() || v.front() == '+' || v.front() == '-' || v.front() == ' ') return std::nullopt;
  const std::string s(v);
  char* end = nullptr;
  const double d = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size() || !(d >= 0) || !(d < 1e300)) return std::nullopt;
  return d;
}

}  // namespace uret_tools
