// SPDX-License-Identifier: MIT
// Compile-only: the core under -fno-exceptions -fno-rtti -Werror (see tests/CMakeLists.txt).
#include <uret/uret.hpp>

#ifdef FMT_VERSION
#error "uret/uret.hpp must not include fmt"
#endif

int uret_no_exceptions_probe();
int uret_no_exceptions_probe() {
  uret::mock_msr hw{1};
  hw.declare(uret::msrs::tsc_aux, 0);
  uret::notifier_chain<1> chain{1};
  uret::slot_table<uret::mock_msr, 16, 1> table{hw, chain, 1};
  const uret::result<unsigned> slot = table.add(uret::msrs::tsc_aux);
  if (!slot) return 1;
  if (!table.cpu_online(uret::cpu_id{0})) return 2;
  if (!table.set(uret::cpu_id{0}, *slot, 1)) return 3;
  return chain.fire(uret::cpu_id{0}).has_value() ? 0 : 4;
}
