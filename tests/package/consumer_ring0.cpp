// SPDX-License-Identifier: MIT
// A consumer of uret::ring0: native_msr is a backend, and a slot table over it is a type a
// ring-0 program can declare. (RDMSR/WRMSR fault at CPL 3; tests/ring0 runs them at CPL 0.)
#include <uret/backends/native_msr.hpp>
#include <uret/slot_table.hpp>

#include <cstdio>

static_assert(uret::msr_backend<uret::native_msr<>>);
static_assert(sizeof(uret::slot_table<uret::native_msr<>, 16, 4>) > 0);

int main() {
  std::printf("consumer: native_msr is a backend\n");
  return 0;
}
