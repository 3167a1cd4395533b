// SPDX-License-Identifier: MIT
// A consumer of uret::linux_kernel: its backend and its notifier policy satisfy the core's
// concepts, and a slot table over both is a type a kernel module can declare. Nothing is called:
// the shim's functions exist only inside a module (tests/linux-module runs them in a kernel).
#include <uret/backends/linux_kernel_msr.hpp>
#include <uret/linux_kernel/notifier.hpp>
#include <uret/slot_table.hpp>

#include <cstdio>

static_assert(uret::msr_backend<uret::linux_kernel_msr>);
static_assert(uret::notifier_policy<uret::linux_kernel_notifiers>);
static_assert(
    sizeof(uret::slot_table<uret::linux_kernel_msr, 16, 64, uret::linux_kernel_notifiers>) > 0);

int main() {
  std::printf("consumer: linux_kernel backend and notifier policy\n");
  return 0;
}
