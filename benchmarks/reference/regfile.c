/* benchmarks/reference/regfile.c - the write log of regfile.h (verify mode only). */
#include "regfile.h"

#include <stdio.h>

void regfile_append(struct regfile_log* log, unsigned cpu, uint32_t msr, uint64_t value) {
  if (log->len == log->capacity) {
    const size_t capacity = log->capacity == 0 ? 1024 : 2 * log->capacity;
    struct regfile_record* r = realloc(log->records, capacity * sizeof(*r));
    if (r == NULL) {
      fputs("regfile: out of memory\n", stderr);
      abort();
    }
    log->records = r;
    log->capacity = capacity;
  }
  log->records[log->len++] = (struct regfile_record){cpu, msr, value};
}
