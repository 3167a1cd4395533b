// SPDX-License-Identifier: MIT
// Tests of uret/msr.hpp: strong types, the well-known MSRs, error codes, result<T>.
#include <uret/msr.hpp>

#include <catch2/catch.hpp>

#include <set>
#include <string>

TEST_CASE("msr_index and cpu_id are distinct strong types", "[msr]") {
  STATIC_REQUIRE(!std::is_convertible_v<std::uint32_t, uret::msr_index>);
  STATIC_REQUIRE(!std::is_convertible_v<std::uint32_t, uret::cpu_id>);
  STATIC_REQUIRE(!std::is_convertible_v<uret::cpu_id, uret::msr_index>);
  STATIC_REQUIRE(uret::msr_index{5} == uret::msr_index{5});
  STATIC_REQUIRE(uret::cpu_id{1} < uret::cpu_id{2});
}

TEST_CASE("well-known user-return MSRs carry their architectural indices", "[msr]") {
  CHECK(uret::msrs::efer.value == 0xC0000080U);
  CHECK(uret::msrs::star.value == 0xC0000081U);
  CHECK(uret::msrs::lstar.value == 0xC0000082U);
  CHECK(uret::msrs::cstar.value == 0xC0000083U);
  CHECK(uret::msrs::syscall_mask.value == 0xC0000084U);
  CHECK(uret::msrs::kernel_gs_base.value == 0xC0000102U);
  CHECK(uret::msrs::tsc_aux.value == 0xC0000103U);
  CHECK(uret::msrs::tsx_ctrl.value == 0x122U);
  CHECK(uret::msr_name(uret::msrs::lstar) == "LSTAR");
  CHECK(uret::msr_name(uret::msr_index{0x6E1}).empty());
  CHECK(uret::find_well_known(uret::msr_index{0x10}) == nullptr);
}

TEST_CASE("the well-known MSRs are listed once each", "[msr]") {
  std::set<std::uint32_t> indices;
  for (const auto& w : uret::well_known_msrs) indices.insert(w.index.value);
  CHECK(indices.size() == std::size(uret::well_known_msrs));
}

TEST_CASE("every error code has its own description", "[msr]") {
  std::set<std::string> seen;
  for (int e = 1; e <= static_cast<int>(uret::errc::busy); ++e) {
    const std::string_view s = uret::to_string(static_cast<uret::errc>(e));
    CHECK_FALSE(s.empty());
    CHECK(s != "unknown error");
    seen.emplace(s);
  }
  CHECK(seen.size() == static_cast<std::size_t>(uret::errc::busy));
  CHECK(uret::to_string(static_cast<uret::errc>(200)) == "unknown error");
}

TEST_CASE("result<T> holds a value or an error", "[msr]") {
  constexpr uret::result<std::uint64_t> ok{42};
  STATIC_REQUIRE(ok.has_value());
  STATIC_REQUIRE(*ok == 42);
  constexpr uret::result<std::uint64_t> bad{uret::errc::msr_fault};
  STATIC_REQUIRE(!bad.has_value());
  STATIC_REQUIRE(bad.error() == uret::errc::msr_fault);
  STATIC_REQUIRE(bad.value_or(7) == 7);
  constexpr uret::result<void> done{};
  STATIC_REQUIRE(done.has_value());
  constexpr uret::result<void> failed{uret::errc::io_error};
  STATIC_REQUIRE(!failed);
  STATIC_REQUIRE(failed.error() == uret::errc::io_error);
}
