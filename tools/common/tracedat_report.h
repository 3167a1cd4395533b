/* SPDX-License-Identifier: MIT */
/* tools/common/tracedat_report.h - the C entry point of tracedat_report.c (libtracecmd). */
#ifndef URET_TOOLS_TRACEDAT_REPORT_H
#define URET_TOOLS_TRACEDAT_REPORT_H
#include <stddef.h>
#ifdef __cplusplus
extern "C" {
#endif
/* Receives the next `size` bytes (size > 0) of the report text; `text` is only valid during the
 * call. Returns 0 to go on, anything else to stop the report. Must not throw or longjmp: it is
 * called from C code (and from inside libtracecmd's record iteration). */
typedef int (*uret_tracedat_sink)(void* context, const char* text, size_t size);

/* Hands the records of the trace.dat at `path`, as `trace-cmd report` text, to `sink` in order,
 * in pieces of at most `piece_bytes` (at least 1; every piece but the last has exactly that
 * many bytes, so a line may be split between two pieces). Only one piece buffer and one record's
 * text are held at a time, never the whole text. 0 done, -1 not a trace.dat libtracecmd opens,
 * -2 reading the records failed (some pieces may have been delivered), -3 the sink stopped it. */
int uret_tracedat_report(const char* path, size_t piece_bytes, uret_tracedat_sink sink,
                         void* context);
#ifdef __cplusplus
}
#endif
#endif
