// SPDX-License-Identifier: MIT
// Tests of uret/msr_backend.hpp: what satisfies the concept and what does not.
#include <uret/backends/mock_msr.hpp>
#include <uret/msr_backend.hpp>

#include <catch2/catch.hpp>

namespace {
struct good_backend {
  uret::result<std::uint64_t> read(uret::cpu_id, uret::msr_index) noexcept { return 0; }
  uret::result<void> write(uret::cpu_id, uret::msr_index, std::uint64_t) noexcept { return {}; }
};
struct throwing_backend {  // read may throw: rejected
  uret::result<std::uint64_t> read(uret::cpu_id, uret::msr_index) { return 0; }
  uret::result<void> write(uret::cpu_id, uret::msr_index, std::uint64_t) noexcept { return {}; }
};
struct raw_value_backend {  // failure not reportable as a value: rejected
  std::uint64_t read(uret::cpu_id, uret::msr_index) noexcept { return 0; }
  uret::result<void> write(uret::cpu_id, uret::msr_index, std::uint64_t) noexcept { return {}; }
};
struct read_only_backend {  // no write: rejected
  uret::result<std::uint64_t> read(uret::cpu_id, uret::msr_index) noexcept { return 0; }
};
struct untyped_backend {  // takes raw integers: rejected (strong types are the contract)
  uret::result<std::uint64_t> read(unsigned, unsigned) noexcept { return 0; }
  uret::result<void> write(unsigned, unsigned, std::uint64_t) noexcept { return {}; }
};
}  // namespace

TEST_CASE("msr_backend accepts noexcept read/write that fail by value", "[msr_backend]") {
  STATIC_REQUIRE(uret::msr_backend<good_backend>);
  STATIC_REQUIRE(uret::msr_backend<uret::mock_msr>);
}

TEST_CASE("msr_backend rejects throwing, value-less, partial and untyped backends",
          "[msr_backend]") {
  STATIC_REQUIRE_FALSE(uret::msr_backend<throwing_backend>);
  STATIC_REQUIRE_FALSE(uret::msr_backend<raw_value_backend>);
  STATIC_REQUIRE_FALSE(uret::msr_backend<read_only_backend>);
  STATIC_REQUIRE_FALSE(uret::msr_backend<untyped_backend>);
}
