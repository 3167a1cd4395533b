// SPDX-License-Identifier: MIT
// uret/sim/import/detail/text.hpp - building report text by appends, for the import summary
// and the ground-truth block.
#pragma once

#include <cstddef>
#include <initializer_list>
#include <string>
#include <string_view>

namespace uret::sim::detail {

/// Appends `parts` to `out`. (Building text by appends only: `"literal" + std::string&&` trips
/// GCC 12's -Wrestrict false positive in optimised builds.)
inline void cat(std::string& out, std::initializer_list<std::string_view> parts) {
  for (std::string_view p : parts) out.append(p.data(), p.size());
}

/// `parts` joined.
[[nodiscard]] inline std::string cat(std::initializer_list<std::string_view> parts) {
  std::string out;
  cat(out, parts);
  return out;
}

/// `n` in decimal.
[[nodiscard]] inline std::string dec(std::size_t n) { return std::to_string(n); }

/// `s` padded with blanks to `width`, on the left when `right`.
[[nodiscard]] inline std::string pad(std::string_view s, std::size_t width, bool right) {
  std::string out;
  if (right && s.size() < width) out.append(width - s.size(), ' ');
  out.append(s.data(), s.size());
  if (!right && s.size() < width) out.append(width - s.size(), ' ');
  return out;
}

/// "+p/-m".
[[nodiscard]] inline std::string plus_minus(std::size_t p, std::size_t m) {
  return cat({"+", dec(p), "/-", dec(m)});
}

}  // namespace uret::sim::detail
