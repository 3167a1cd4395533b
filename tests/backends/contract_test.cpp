// SPDX-License-Identifier: MIT
// The backend contract (tests/backends/contract/backend_contract.hpp) run against the mock backend.
// Other backends run the same contract in their own folders: dev_cpu_msr on a fake tree and in
// the QEMU guest, native_msr in the ring-0 test kernel.
#include <uret/backends/mock_msr.hpp>

#include <catch2/catch.hpp>

#include "contract/backend_contract.hpp"

namespace {
struct mock_fixture {
  using backend_type = uret::mock_msr;
  uret::mock_msr hw{3};
  mock_fixture() {
    hw.declare(uret::msrs::tsc_aux, 0, 0xffffffff00000000);
    hw.declare(uret::msr_index{0x6E1}, 0, 0xffffffff00000000);  // IA32_PKRS
  }
  backend_type& backend() { return hw; }
  std::uint32_t cpus() const { return 3; }
  uret::msr_index scratch_msr() const { return uret::msrs::tsc_aux; }
  std::uint64_t scratch_value(uret::cpu_id c) const { return 0x5a5 + c.value * 0x1000; }
  uret::msr_index faulting_msr() const { return uret::msr_index{0x6E1}; }
  std::uint64_t faulting_value() const { return 0xffffffff00000000; }
  bool has_cpu_bound() const { return true; }
};

void report(void*, const char* what, bool ok) {
  INFO(what);
  CHECK(ok);
}
}  // namespace

TEST_CASE("backend contract: mock_msr", "[contract]") {
  mock_fixture f;
  CHECK(uret_test::run_backend_contract(f, &report, nullptr) == 0);
}
