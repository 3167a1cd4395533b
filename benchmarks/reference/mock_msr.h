/* SPDX-License-Identifier: MIT */
/* benchmarks/reference/mock_msr.h - an in-memory MSR file in C, doing per access the same work
 * as uret::mock_msr (include/uret/backends/mock_msr.hpp) with its write log off:
 *   - check the CPU number against the CPU count;
 *   - find the MSR by a linear search of the declared MSRs;
 *   - a write checks the reserved-bit mask of the MSR;
 *   - scan the CPU's list of pending one-shot faults (empty in the benchmarks);
 *   - store or load the register, bump a counter;
 *   - a write tests the log flag and the write-hook pointer.
 * This is the reference's stand-in for RDMSR/WRMSR, so that the instruction counts of the C
 * reference and of uret differ only by the code around the MSR access, not by the access.
 * Like uret::mock_msr::write as g++ -O2 compiles it, the accesses are out-of-line calls (in
 * mock_msr.c); the driver's `mock_write` operation shows the two costs side by side.
 *
 * The log, when on, is used only by the equivalence check of the driver.
 */
#ifndef URET_REF_MOCK_MSR_H
#define URET_REF_MOCK_MSR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CMOCK_MAX_MSRS 32
#define CMOCK_MAX_PENDING 8

struct cmock_write_record {
  uint32_t msr;
  uint64_t value;
};

struct cmock_cpu {
  uint64_t* regs; /* CMOCK_MAX_MSRS values, indexed like cmock.decls (a vector in uret) */
  uint32_t fail_writes[CMOCK_MAX_PENDING];
  size_t nr_fail_writes;
  uint32_t fail_reads[CMOCK_MAX_PENDING];
  size_t nr_fail_reads;
  uint64_t reads, writes, faults;
  struct cmock_write_record* log; /* grows as needed */
  size_t log_len, log_capacity;
} __attribute__((aligned(64)));

struct cmock_decl {
  uint32_t msr;
  uint64_t reserved;
};

typedef void (*cmock_write_hook)(void* context, unsigned cpu, uint32_t msr, uint64_t value);

struct cmock {
  struct cmock_decl* decls; /* CMOCK_MAX_MSRS entries (a vector in uret) */
  size_t nr_decls;
  struct cmock_cpu* cpus;
  size_t nr_cpus;
  bool logging;
  cmock_write_hook hook; /* the simulator's interrupt hook in uret::mock_msr; NULL here */
  void* hook_context;
};

#define CMOCK_EFAULT 1 /* the MSR faulted (#GP) */
#define CMOCK_ENOCPU 2 /* no such CPU */

#ifdef __cplusplus
extern "C" {
#endif

/* RDMSR on cpu: 0 and *value, or an error. */
int cmock_read(struct cmock* m, unsigned cpu, uint32_t msr, uint64_t* value);
/* WRMSR on cpu: 0, or an error with nothing changed. */
int cmock_write(struct cmock* m, unsigned cpu, uint32_t msr, uint64_t value);
/* Allocate a register file for CPUs 0 .. nr_cpus-1; logging off. Returns 0 or -1. */
int cmock_init(struct cmock* m, size_t nr_cpus);
void cmock_destroy(struct cmock* m);
/* Declare msr on every CPU with value; writes setting a bit of reserved fault. */
int cmock_declare(struct cmock* m, uint32_t msr, uint64_t value, uint64_t reserved);
/* The next write of msr on cpu faults. */
void cmock_fail_next_write(struct cmock* m, unsigned cpu, uint32_t msr);
/* Turn the write log on (emptied) or off. */
void cmock_set_logging(struct cmock* m, bool on);
/* Change a register as firmware would: no fault, count or log; false if it does not exist. */
bool cmock_poke(struct cmock* m, unsigned cpu, uint32_t msr, uint64_t value);
/* Append a record to c's log (aborts when out of memory, as push_back would terminate). */
void cmock_log(struct cmock_cpu* c, uint32_t msr, uint64_t value);
/* The register without counting; false if the CPU or MSR does not exist. */
bool cmock_peek(const struct cmock* m, unsigned cpu, uint32_t msr, uint64_t* value);

#ifdef __cplusplus
}
#endif

#endif /* URET_REF_MOCK_MSR_H */
