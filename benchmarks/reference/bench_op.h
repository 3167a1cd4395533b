/* SPDX-License-Identifier: MIT */
/* benchmarks/reference/bench_op.h - one operation of the driver's sequence, shared by the C
 * reference and the uret side so that both receive the same arguments from memory. */
#ifndef URET_REF_BENCH_OP_H
#define URET_REF_BENCH_OP_H

#include <stdint.h>

struct bench_op {
  unsigned cpu;
  unsigned slot;
  uint64_t value;
  uint64_t mask;
};

#endif /* URET_REF_BENCH_OP_H */
