// SPDX-License-Identifier: MIT
/* benchmarks/reference/mock_msr.c - the C MSR file of mock_msr.h. */
#include "mock_msr.h"

#include <stdlib.h>
#include <string.h>

static long cmock_lookup(const struct cmock* m, uint32_t msr) {
  for (size_t i = 0; i < m->nr_decls; ++i) {
    if (m->decls[i].msr == msr) return (long)i;
  }
  return -1;
}

static bool cmock_take_injected(uint32_t* pending, size_t* nr, uint32_t msr) {
  for (size_t i = 0; i < *nr; ++i) {
    if (pending[i] == msr) {
      for (size_t j = i + 1; j < *nr; ++j) pending[j - 1] = pending[j];
      --*nr;
      return true;
    }
  }
  return false;
}

int cmock_read(struct cmock* m, unsigned cpu, uint32_t msr, uint64_t* value) {
  if (cpu >= m->nr_cpus) return CMOCK_ENOCPU;
  struct cmock_cpu* c = &m->cpus[cpu];
  const long i = cmock_lookup(m, msr);
  if (i < 0 || cmock_take_injected(c->fail_reads, &c->nr_fail_reads, msr)) {
    ++c->faults;
    return CMOCK_EFAULT;
  }
  ++c->reads;
  *value = c->regs[i];
  return 0;
}

int cmock_write(struct cmock* m, unsigned cpu, uint32_t msr, uint64_t value) {
  if (cpu >= m->nr_cpus) return CMOCK_ENOCPU;
  struct cmock_cpu* c = &m->cpus[cpu];
  const long i = cmock_lookup(m, msr);
  if (i < 0 || (value & m->decls[i].reserved) != 0 ||
      cmock_take_injected(c->fail_writes, &c->nr_fail_writes, msr)) {
    ++c->faults;
    return CMOCK_EFAULT;
  }
  c->regs[i] = value;
  ++c->writes;
  if (m->logging) cmock_log(c, msr, value);
  if (m->hook != NULL) m->hook(m->hook_context, cpu, msr, value);
  return 0;
}

int cmock_init(struct cmock* m, size_t nr_cpus) {
  memset(m, 0, sizeof(*m));
  m->decls = calloc(CMOCK_MAX_MSRS, sizeof(*m->decls));
  m->cpus = aligned_alloc(64, nr_cpus * sizeof(*m->cpus));
  if (m->decls == NULL || m->cpus == NULL) return -1;
  memset(m->cpus, 0, nr_cpus * sizeof(*m->cpus));
  m->nr_cpus = nr_cpus;
  for (size_t c = 0; c < nr_cpus; ++c) {
    m->cpus[c].regs = calloc(CMOCK_MAX_MSRS, sizeof(uint64_t));
    if (m->cpus[c].regs == NULL) return -1;
  }
  return 0;
}

void cmock_destroy(struct cmock* m) {
  for (size_t c = 0; c < m->nr_cpus; ++c) {
    free(m->cpus[c].regs);
    free(m->cpus[c].log);
  }
  free(m->cpus);
  free(m->decls);
  memset(m, 0, sizeof(*m));
}

int cmock_declare(struct cmock* m, uint32_t msr, uint64_t value, uint64_t reserved) {
  long i = cmock_lookup(m, msr);
  if (i < 0) {
    if (m->nr_decls == CMOCK_MAX_MSRS) return -1;
    i = (long)m->nr_decls++;
    m->decls[i].msr = msr;
  }
  m->decls[i].reserved = reserved;
  for (size_t c = 0; c < m->nr_cpus; ++c) m->cpus[c].regs[i] = value;
  return 0;
}

void cmock_fail_next_write(struct cmock* m, unsigned cpu, uint32_t msr) {
  if (cpu >= m->nr_cpus) return;
  struct cmock_cpu* c = &m->cpus[cpu];
  if (c->nr_fail_writes < CMOCK_MAX_PENDING) c->fail_writes[c->nr_fail_writes++] = msr;
}

void cmock_set_logging(struct cmock* m, bool on) {
  for (size_t c = 0; c < m->nr_cpus; ++c) m->cpus[c].log_len = 0;
  m->logging = on;
}

void cmock_log(struct cmock_cpu* c, uint32_t msr, uint64_t value) {
  if (c->log_len == c->log_capacity) {
    const size_t capacity = c->log_capacity == 0 ? 1024 : 2 * c->log_capacity;
    struct cmock_write_record* log = realloc(c->log, capacity * sizeof(*log));
    if (log == NULL) abort();
    c->log = log;
    c->log_capacity = capacity;
  }
  c->log[c->log_len].msr = msr;
  c->log[c->log_len].value = value;
  ++c->log_len;
}

bool cmock_poke(struct cmock* m, unsigned cpu, uint32_t msr, uint64_t value) {
  const long i = cmock_lookup(m, msr);
  if (cpu >= m->nr_cpus || i < 0) return false;
  m->cpus[cpu].regs[i] = value;
  return true;
}

bool cmock_peek(const struct cmock* m, unsigned cpu, uint32_t msr, uint64_t* value) {
  const long i = cmock_lookup(m, msr);
  if (cpu >= m->nr_cpus || i < 0) return false;
  *value = m->cpus[cpu].regs[i];
  return true;
}
