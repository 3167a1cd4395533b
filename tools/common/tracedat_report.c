/* SPDX-License-Identifier: MIT */
/* tools/common/tracedat_report.c - the libtracecmd side of tracedat.cpp, in C because
 * trace-cmd's headers (tracefs.h) are not valid C++. Prints every record of a trace.dat in
 * `trace-cmd report`'s line layout
 *     <comm>-<pid> [<cpu>] <seconds>.<microseconds>: <event>: <fields>
 * in timestamp order across CPUs (tracecmd_iterate_events), after the "cpus=N" header line,
 * with "CPU:N [n EVENTS DROPPED]" where the ring buffer lost events. */
#include <stdio.h>
#include <stdlib.h>
#include <trace-cmd.h>

#include "tracedat_report.h"

struct printer {
  struct tep_handle* tep;
  struct trace_seq seq;
  FILE* out;
};

static int print_record(struct tracecmd_input* handle, struct tep_record* record, int cpu,
                        void* data) {
  struct printer* p = data;
  (void)handle;
  (void)cpu;
  trace_seq_reset(&p->seq);
  /* Where the ring buffer overflowed before this record: trace-cmd report's marker, which the
   * importer turns into a gap on the CPU. */
  if (record->missed_events > 0)
    trace_seq_printf(&p->seq, "CPU:%d [%lld EVENTS DROPPED]\n", record->cpu, record->missed_events);
  else if (record->missed_events < 0)
    trace_seq_printf(&p->seq, "CPU:%d [EVENTS DROPPED]\n", record->cpu);
  /* trace-cmd 3.1's report: comm right-aligned in 16, pid left-aligned in 5, CPU in 3 digits,
   * the time in seconds with microseconds. */
  tep_print_event(p->tep, &p->seq, record, "%16s-%-5d [%03d] %6.1000d: %s: %s\n", TEP_PRINT_COMM,
                  TEP_PRINT_PID, TEP_PRINT_CPU, TEP_PRINT_TIME, TEP_PRINT_NAME, TEP_PRINT_INFO);
  trace_seq_terminate(&p->seq);
  return fwrite(p->seq.buffer, 1, p->seq.len, p->out) == p->seq.len ? 0 : -1;
}

int uret_tracedat_report(const char* path, char** text, size_t* size) {
  struct printer p;
  struct tracecmd_input* handle;
  int rc;
  *text = NULL;
  *size = 0;
  tracecmd_set_loglevel(TEP_LOG_NONE);
  handle = tracecmd_open(path, 0);
  if (handle == NULL) return -1;
  p.out = open_memstream(text, size);
  if (p.out == NULL) {
    tracecmd_close(handle);
    return -2;
  }
  p.tep = tracecmd_get_tep(handle);
  trace_seq_init(&p.seq);
  fprintf(p.out, "cpus=%d\n", tep_get_cpus(p.tep));
  rc = tracecmd_iterate_events(handle, NULL, 0, print_record, &p);
  trace_seq_destroy(&p.seq);
  tracecmd_close(handle);
  if (fclose(p.out) != 0 || rc < 0) {
    free(*text);
    *text = NULL;
    return -2;
  }
  return 0;
}
