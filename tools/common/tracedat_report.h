/* SPDX-License-Identifier: MIT */
/* tools/common/tracedat_report.h - the C entry point of tracedat_report.c (libtracecmd). */
#ifndef URET_TOOLS_TRACEDAT_REPORT_H
#define URET_TOOLS_TRACEDAT_REPORT_H
#include <stddef.h>
#ifdef __cplusplus
extern "C" {
#endif
/* The records of the trace.dat at `path` as `trace-cmd report` text in *text (malloc'd, *size
 * bytes; the caller frees it). 0 done, -1 not a trace.dat libtracecmd opens, -2 read failed. */
int uret_tracedat_report(const char* path, char** text, size_t* size);
#ifdef __cplusplus
}
#endif
#endif
