/* SPDX-License-Identifier: MIT */
/* benchmarks/reference/regfile.h - the hardware stand-in both sides of the comparison run on:
 * an in-memory register file behind static inline functions, compiled into the C reference
 * (user_return.c, as C) and into uret's backend (harness.hpp, as C++) from this one source,
 * so that an MSR access costs both sides the same instructions and the comparison measures
 * the tables alone.
 *
 * Per CPU, a value for each declared MSR; an undeclared MSR, a reserved bit, or a fault armed
 * with regfile_fail_next_write() faults a write (changing nothing). Successful writes are
 * counted, and appended to a log when one is attached (the verify mode; never when measuring).
 * Nothing here calls a function.
 */
#ifndef URET_REF_REGFILE_H
#define URET_REF_REGFILE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define REGFILE_MAX_MSRS 32
#define REGFILE_MAX_CPUS 8
#define REGFILE_HASH 64
#define REGFILE_EFAULT 1 /* the MSR faulted (#GP) */
#define REGFILE_ENOCPU 2 /* no such CPU */

struct regfile_record {
  unsigned cpu;
  uint32_t msr;
  uint64_t value;
};

struct regfile_log {
  struct regfile_record* records; /* capacity entries, allocated by the user of the log */
  size_t len, capacity;
  bool overflow;
};

struct regfile_cpu {
  uint64_t regs[REGFILE_MAX_MSRS];
  uint64_t writes;
  uint64_t faults;
  uint32_t fail_msr; /* the MSR whose next write faults, when fail_armed */
  bool fail_armed;
} __attribute__((aligned(64)));

struct regfile {
  struct regfile_cpu cpus[REGFILE_MAX_CPUS];
  uint32_t msrs[REGFILE_MAX_MSRS];
  uint64_t reserved[REGFILE_MAX_MSRS];
  int index[REGFILE_HASH]; /* hash of the MSR -> register, open addressing; -1 empty */
  int nr_msrs;
  unsigned nr_cpus;
  struct regfile_log* log; /* NULL unless verifying */
};

static inline unsigned regfile_hash(uint32_t msr) {
  return (msr * 0x9E3779B1U) >> 26; /* Fibonacci hashing to 6 bits */
}

/* The register of msr, or -1 when it was never declared. */
static inline int regfile_find(const struct regfile* f, uint32_t msr) {
  for (unsigned h = regfile_hash(msr);; h = (h + 1) % REGFILE_HASH) {
    const int i = f->index[h];
    if (i < 0 || f->msrs[i] == msr) return i;
  }
}

static inline void regfile_init(struct regfile* f, unsigned nr_cpus) {
  memset(f, 0, sizeof(*f));
  for (unsigned h = 0; h < REGFILE_HASH; ++h) f->index[h] = -1;
  f->nr_cpus = nr_cpus < REGFILE_MAX_CPUS ? nr_cpus : REGFILE_MAX_CPUS;
}

/* Declare msr on every CPU with value; writes setting a bit of reserved fault. */
static inline int regfile_declare(struct regfile* f, uint32_t msr, uint64_t value,
                                  uint64_t reserved) {
  if (f->nr_msrs == REGFILE_MAX_MSRS || regfile_find(f, msr) >= 0) return -1;
  unsigned h = regfile_hash(msr);
  while (f->index[h] >= 0) h = (h + 1) % REGFILE_HASH;
  const int i = f->nr_msrs++;
  f->index[h] = i;
  f->msrs[i] = msr;
  f->reserved[i] = reserved;
  for (unsigned c = 0; c < REGFILE_MAX_CPUS; ++c) f->cpus[c].regs[i] = value;
  return 0;
}

/* RDMSR: 0 and *value, or an error. */
static inline int regfile_read(const struct regfile* f, unsigned cpu, uint32_t msr,
                               uint64_t* value) {
  if (cpu >= f->nr_cpus) return REGFILE_ENOCPU;
  const int i = regfile_find(f, msr);
  if (i < 0) return REGFILE_EFAULT;
  *value = f->cpus[cpu].regs[i];
  return 0;
}

/* Append to the log inline, with no call: a call would shape the register allocation of the
 * code that writes, on both sides, more than the writing itself. A full log records the
 * overflow, which the verify mode reports. */
static inline void regfile_append(struct regfile_log* log, unsigned cpu, uint32_t msr,
                                  uint64_t value) {
  if (log->len == log->capacity) {
    log->overflow = true;
    return;
  }
  struct regfile_record* r = &log->records[log->len++];
  r->cpu = cpu;
  r->msr = msr;
  r->value = value;
}

/* WRMSR: 0, or an error with nothing changed. */
static inline int regfile_write(struct regfile* f, unsigned cpu, uint32_t msr, uint64_t value) {
  if (cpu >= f->nr_cpus) return REGFILE_ENOCPU;
  struct regfile_cpu* c = &f->cpus[cpu];
  const int i = regfile_find(f, msr);
  if (i < 0 || (value & f->reserved[i]) != 0 || (c->fail_armed && c->fail_msr == msr)) {
    c->fail_armed = false;
    ++c->faults;
    return REGFILE_EFAULT;
  }
  c->regs[i] = value;
  ++c->writes;
  if (f->log != NULL) regfile_append(f->log, cpu, msr, value);
  return 0;
}

/* The next write of msr on cpu faults. */
static inline void regfile_fail_next_write(struct regfile* f, unsigned cpu, uint32_t msr) {
  f->cpus[cpu].fail_msr = msr;
  f->cpus[cpu].fail_armed = true;
}

/* Change a register as firmware would (no fault, count or log); false if it does not exist. */
static inline bool regfile_poke(struct regfile* f, unsigned cpu, uint32_t msr, uint64_t value) {
  const int i = regfile_find(f, msr);
  if (cpu >= f->nr_cpus || i < 0) return false;
  f->cpus[cpu].regs[i] = value;
  return true;
}

#endif /* URET_REF_REGFILE_H */
