/* SPDX-License-Identifier: MIT */
/* tools/common/tracedat_report.c - the libtracecmd side of tracedat.cpp, in C because
 * trace-cmd's headers (tracefs.h) are not valid C++. Prints every record of a trace.dat in
 * `trace-cmd report`'s line layout
 *     <comm>-<pid> [<cpu>] <seconds>.<microseconds>: <event>: <fields>
 * in timestamp order across CPUs (tracecmd_iterate_events), after the "cpus=N" header line,
 * with "CPU:N [n EVENTS DROPPED]" where the ring buffer lost events. The text goes to the
 * caller's sink a bounded piece at a time (see tracedat_report.h), so memory does not grow with
 * the trace. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <trace-cmd.h>

#include "tracedat_report.h"

struct printer {
  struct tep_handle* tep;
  struct trace_seq seq;
  uret_tracedat_sink sink;
  void* context;
  char* piece; /* piece_bytes bytes, of which `used` wait for the sink */
  size_t piece_bytes;
  size_t used;
  int stopped; /* the sink asked to stop */
};

/* Hands the buffered bytes to the sink. 0, or -1 when the sink stopped the report. */
static int flush_piece(struct printer* p) {
  if (p->used > 0 && !p->stopped && p->sink(p->context, p->piece, p->used) != 0) p->stopped = 1;
  p->used = 0;
  return p->stopped ? -1 : 0;
}

/* Appends `size` bytes to the piece buffer, handing each full piece to the sink: pieces are cut
 * at exactly piece_bytes, wherever the lines fall, since the importer joins split lines. */
static int put_text(struct printer* p, const char* text, size_t size) {
  while (size > 0) {
    size_t n = p->piece_bytes - p->used;
    if (n > size) n = size;
    memcpy(p->piece + p->used, text, n);
    p->used += n;
    text += n;
    size -= n;
    if (p->used == p->piece_bytes && flush_piece(p) != 0) return -1;
  }
  return 0;
}

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
  /* A negative return stops tracecmd_iterate_events; the caller tells the sink's stop from a
   * read error by p->stopped. */
  return put_text(p, p->seq.buffer, p->seq.len);
}

int uret_tracedat_report(const char* path, size_t piece_bytes, uret_tracedat_sink sink,
                         void* context) {
  struct printer p;
  struct tracecmd_input* handle;
  char header[32];
  int n;
  int rc;
  memset(&p, 0, sizeof p);
  p.sink = sink;
  p.context = context;
  p.piece_bytes = piece_bytes > 0 ? piece_bytes : 1;
  tracecmd_set_loglevel(TEP_LOG_NONE);
  handle = tracecmd_open(path, 0);
  if (handle == NULL) return -1;
  p.piece = malloc(p.piece_bytes);
  if (p.piece == NULL) {
    tracecmd_close(handle);
    return -2;
  }
  p.tep = tracecmd_get_tep(handle);
  trace_seq_init(&p.seq);
  n = snprintf(header, sizeof header, "cpus=%d\n", tep_get_cpus(p.tep));
  rc = put_text(&p, header, (size_t)n);
  if (rc == 0) rc = tracecmd_iterate_events(handle, NULL, 0, print_record, &p);
  /* The last, partial piece: only after a complete read, so that a failed one hands over no
   * more text than it had to. */
  if (rc >= 0 && !p.stopped) flush_piece(&p);
  trace_seq_destroy(&p.seq);
  tracecmd_close(handle);
  free(p.piece);
  if (p.stopped) return -3;
  return rc < 0 ? -2 : 0;
}
