// SPDX-License-Identifier: MIT
// A consumer of uret::linux: the /dev/cpu/N/msr backend, pointed at a tree that does not exist,
// must report the failure rather than a value.
#include <uret/backends/dev_cpu_msr.hpp>

#include <cstdio>

static_assert(uret::msr_backend<uret::dev_cpu_msr>);

int main() {
  uret::dev_cpu_msr hw{uret::dev_cpu_msr::access::read_only, "/nonexistent/uret-consumer", 1};
  const auto v = hw.read(uret::cpu_id{0}, uret::msrs::tsc_aux);
  if (v) return 1;
  std::printf("consumer: dev_cpu_msr refused a missing tree: %s\n",
              hw.message(uret::cpu_id{0}).c_str());
  return 0;
}
