# SPDX-License-Identifier: MIT
# cmake -DSIM=<uret-sim> -DDAT=<trace.dat> -DREPORT=<its trace-cmd report> -DOUT=<dir>
#       [-DTRACE_CMD=<trace-cmd>] -P tracedat_equal.cmake
# With libtracecmd (uret-sim --version says so): `uret-sim import` of the trace.dat and of its
# report give the same replay and the same counts (the file name aside). Without: the trace.dat
# is refused with exit status 2 and the `trace-cmd report` command to run. With TRACE_CMD, this
# machine's `trace-cmd report` of the trace.dat (plugin payloads) must import the same way too.
file(MAKE_DIRECTORY ${OUT})
execute_process(COMMAND ${SIM} --version OUTPUT_VARIABLE version)
set(files DAT REPORT)
if(TRACE_CMD)
  execute_process(COMMAND ${TRACE_CMD} report -i ${DAT} OUTPUT_FILE ${OUT}/tracedat-host.report
                  RESULT_VARIABLE rc ERROR_QUIET)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${TRACE_CMD} report -i ${DAT} failed: ${rc}")
  endif()
  set(HOST ${OUT}/tracedat-host.report)
  list(APPEND files HOST)
endif()
foreach(f ${files})
  execute_process(COMMAND ${SIM} import ${${f}} -o ${OUT}/tracedat-${f}.replay
                  RESULT_VARIABLE rc_${f} ERROR_VARIABLE err_${f})
endforeach()
if(NOT version MATCHES "read through libtracecmd")
  if(NOT rc_DAT EQUAL 2 OR NOT err_DAT MATCHES "trace-cmd report -i ${DAT} > trace.txt")
    message(FATAL_ERROR "without libtracecmd: exit ${rc_DAT}, ${err_DAT}")
  endif()
  message(STATUS "built without libtracecmd: trace.dat refused with the trace-cmd report command")
  return()
endif()
if(NOT rc_DAT EQUAL 0 OR NOT rc_REPORT EQUAL 0 OR (TRACE_CMD AND NOT rc_HOST EQUAL 0))
  message(FATAL_ERROR "exit ${rc_DAT} (trace.dat) / ${rc_REPORT} (report)\n${err_DAT}${err_REPORT}")
endif()
foreach(f ${files})
  file(STRINGS ${OUT}/tracedat-${f}.replay lines_${f})
  list(REMOVE_AT lines_${f} 0)  # "# imported by uret-sim import from <file>"
  string(REGEX REPLACE "^[^\n]*: ([0-9]+ lines)" "\\1" summary_${f} "${err_${f}}")
endforeach()
if(NOT lines_DAT STREQUAL lines_REPORT)
  message(FATAL_ERROR "the replays differ (${OUT}/tracedat-DAT.replay, ${OUT}/tracedat-REPORT.replay)")
endif()
if(NOT summary_DAT STREQUAL summary_REPORT)
  message(FATAL_ERROR "the summaries differ:\n${summary_DAT}\n${summary_REPORT}")
endif()
if(TRACE_CMD AND (NOT lines_DAT STREQUAL lines_HOST OR NOT summary_DAT STREQUAL summary_HOST))
  message(FATAL_ERROR "this machine's trace-cmd report imports differently:\n${summary_HOST}")
endif()
list(LENGTH lines_DAT n)
if(n LESS 100 OR NOT summary_DAT MATCHES "[1-9][0-9]+ expect-wrmsr")
  message(FATAL_ERROR "suspiciously little imported (${n} replay lines): ${summary_DAT}")
endif()
message(STATUS "identical (${files}): ${n} replay lines, ${summary_DAT}")
