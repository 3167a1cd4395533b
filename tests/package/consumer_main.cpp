// SPDX-License-Identifier: MIT
// A program outside the project that uses the library as a consumer would.
#include <uret/uret.hpp>
#ifdef URET_CONSUMER_FORMAT
#include <uret/format.hpp>
#endif

#include <cstdio>

int main() {
  uret::mock_msr hw{1};
  hw.declare(uret::msrs::tsc_aux, 0);
  uret::notifier_chain<1> chain{1};
  uret::slot_table<uret::mock_msr, 16, 1> table{hw, chain, 1};
  const uret::result<unsigned> slot = table.add(uret::msrs::tsc_aux);
  if (!slot || !table.cpu_online(uret::cpu_id{0}) || !table.set(uret::cpu_id{0}, *slot, 7) ||
      !chain.fire(uret::cpu_id{0})) {
    return 1;
  }
  if (*hw.peek(uret::cpu_id{0}, uret::msrs::tsc_aux) != 0) return 2;
#ifdef URET_CONSUMER_FORMAT
  fmt::print("consumer: {} restored, uret {}\n", uret::msrs::tsc_aux, uret::version_string);
#else
  std::printf("consumer: TSC_AUX restored, uret %s\n", uret::version_string);
#endif
  return 0;
}
