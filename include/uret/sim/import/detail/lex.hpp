// SPDX-License-Identifier: MIT
// uret/sim/import/detail/lex.hpp - the lexical pieces of the trace grammar
// (uret/sim/import/detail/parse.hpp): blanks and digits, trimming, prefix tests, decimal and
// hexadecimal numbers, and a numeric field found by its key. Pure functions over
// std::string_view: no allocation, no exceptions. Every line of a trace goes through these
// several times, so the blank runs (the padded task and timestamp columns) are skipped eight
// bytes at a time and the numbers are read by plain loops.
#pragma once

#include <bit>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <system_error>
#include <type_traits>

namespace uret::sim::detail {
constexpr bool is_blank(char c) noexcept {
  return c == ' ' || (c >= '\t' && c <= '\r');  // \t \n \v \f \r
}
constexpr bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }
constexpr bool is_lower(char c) noexcept { return c >= 'a' && c <= 'z'; }

/// `s` from `i` on, and its first `n` bytes: std::string_view::substr() without its range check
/// (which GCC keeps out of line, a call per use), for positions known to be inside `s`.
constexpr std::string_view from(std::string_view s, std::size_t i) noexcept {
  return {s.data() + i, s.size() - i};
}
constexpr std::string_view first(std::string_view s, std::size_t n) noexcept {
  return {s.data(), n};
}

/// Eight bytes of `p` as one little-endian word (the spaces of a word are then its zero bytes
/// after an exclusive or with eight spaces, and the first non-space is the lowest set byte).
inline std::uint64_t load8(const char* p) noexcept {
  std::uint64_t w;
  std::memcpy(&w, p, sizeof w);
  if constexpr (std::endian::native == std::endian::big) w = __builtin_bswap64(w);
  return w;
}
inline constexpr std::uint64_t eight_spaces = 0x2020202020202020ULL;

[[gnu::always_inline]] constexpr std::string_view trim_left(std::string_view s) noexcept {
  std::size_t i = 0;
  if (!std::is_constant_evaluated()) {
    // Runs of spaces a word at a time; the loop below takes any other blank and the tail.
    while (s.size() - i >= 8) {
      const std::uint64_t x = load8(s.data() + i) ^ eight_spaces;
      if (x != 0) {
        i += static_cast<std::size_t>(std::countr_zero(x)) / 8;
        break;
      }
      i += 8;
    }
  }
  while (i < s.size() && is_blank(s[i])) ++i;
  return from(s, i);
}
[[gnu::always_inline]] constexpr std::string_view trim_right(std::string_view s) noexcept {
  std::size_t n = s.size();
  if (!std::is_constant_evaluated()) {
    while (n >= 8) {  // as in trim_left(), from the end
      const std::uint64_t x = load8(s.data() + n - 8) ^ eight_spaces;
      if (x != 0) {
        n -= static_cast<std::size_t>(std::countl_zero(x)) / 8;
        break;
      }
      n -= 8;
    }
  }
  while (n > 0 && is_blank(s[n - 1])) --n;
  return first(s, n);
}
/// The length of the leading run of non-blank bytes of `s` (a token), a word at a time: a
/// byte below 0x21 (blanks are among them) flags its word, the lowest flagged byte exactly, and
/// the loop below decides whether it is a blank.
[[gnu::always_inline]] constexpr std::size_t token_length(std::string_view s) noexcept {
  std::size_t i = 0;
  if (!std::is_constant_evaluated()) {
    while (s.size() - i >= 8) {
      const std::uint64_t w = load8(s.data() + i);
      const std::uint64_t low = (w - 0x2121212121212121ULL) & ~w & 0x8080808080808080ULL;
      if (low != 0) {
        i += static_cast<std::size_t>(std::countr_zero(low)) / 8;
        break;
      }
      i += 8;
    }
  }
  while (i < s.size() && !is_blank(s[i])) ++i;
  return i;
}
[[gnu::always_inline]] constexpr std::string_view trim(std::string_view s) noexcept {
  return trim_left(trim_right(s));
}

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

/// `s` (not empty) is digits of `base` whose value fits in 64 bits: for numbers too long for the
/// plain loops below; out of line, so that those stay small enough to inline.
[[gnu::noinline]] inline bool parse_long(std::string_view s, std::uint64_t& out,
                                         int base) noexcept {
  const auto* end = s.data() + s.size();
  auto [p, ec] = std::from_chars(s.data(), end, out, base);
  return ec == std::errc{} && p == end;
}

/// `s` is one or more decimal digits; the value is stored in `out`.
[[gnu::always_inline]] inline bool parse_dec(std::string_view s, std::uint64_t& out) noexcept {
  if (s.empty()) return false;
  if (s.size() > 19) return parse_long(s, out, 10);
  std::uint64_t v = 0;  // 19 digits always fit
  for (char c : s) {
    if (!is_digit(c)) return false;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  out = v;
  return true;
}

/// The value of the hexadecimal digit `c`, or 16 when `c` is none.
constexpr unsigned hex_digit(char c) noexcept {
  if (is_digit(c)) return static_cast<unsigned>(c - '0');
  if (c >= 'a' && c <= 'f') return static_cast<unsigned>(c - 'a' + 10);
  if (c >= 'A' && c <= 'F') return static_cast<unsigned>(c - 'A' + 10);
  return 16;
}

/// `s` is hexadecimal digits with an optional 0x prefix; the value is stored in `out`.
inline bool parse_hex(std::string_view s, std::uint64_t& out) noexcept {
  if (starts_with(s, "0x") || starts_with(s, "0X")) s.remove_prefix(2);
  if (s.empty()) return false;
  if (s.size() > 16) return parse_long(s, out, 16);
  std::uint64_t v = 0;  // 16 digits always fit
  for (char c : s) {
    const unsigned d = hex_digit(c);
    if (d > 15) return false;
    v = v << 4 | d;
  }
  out = v;
  return true;
}

/// Where `key` (not empty) first occurs in `s`, as std::string_view::find() says (for the
/// short keys of the payload grammars: no strlen, memchr and memcmp calls per candidate).
constexpr std::size_t find_key(std::string_view s, std::string_view key) noexcept {
  if (key.size() > s.size()) return std::string_view::npos;
  const std::size_t last = s.size() - key.size();
  for (std::size_t at = 0; at <= last; ++at) {
    if (s[at] == key[0] && is({s.data() + at, key.size()}, key)) return at;
  }
  return std::string_view::npos;
}

/// Where `key` (not empty) last occurs in `s`, as std::string_view::rfind() says, without its
/// call to memcmp at every position: the first byte is compared first.
constexpr std::size_t rfind_key(std::string_view s, std::string_view key) noexcept {
  if (key.size() > s.size()) return std::string_view::npos;
  for (std::size_t at = s.size() - key.size() + 1; at-- > 0;) {
    if (s[at] == key[0] && is({s.data() + at, key.size()}, key)) return at;
  }
  return std::string_view::npos;
}

/// The leading run of decimal digits of `s` (possibly empty).
[[gnu::always_inline]] constexpr std::string_view leading_digits(std::string_view s) noexcept {
  std::size_t i = 0;
  while (i < s.size() && is_digit(s[i])) ++i;
  return first(s, i);
}

/// The decimal number that follows `key` in `s` ("dest_cpu=" in "... dest_cpu=3"), searching
/// from the right so that a task name containing the key cannot shadow the real field.
inline bool field_after(std::string_view s, std::string_view key, std::uint64_t& out) noexcept {
  auto at = rfind_key(s, key);
  if (at == std::string_view::npos) return false;
  return parse_dec(leading_digits(s.substr(at + key.size())), out);
}

}  // namespace uret::sim::detail
