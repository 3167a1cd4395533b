# SPDX-License-Identifier: MIT
# tools/bench/check_claims.cmake - assert the benchmark's done-when claims on uret-bench's JSON.
#
#   cmake -DBENCH=path/to/uret-bench [-DOUT=rows.json] [-DARGS="--events;N"] -P check_claims.cmake
#   cmake -DJSON=rows.json -P check_claims.cmake      (check a JSON file written before)
#
# With BENCH, runs the workloads and strategies the claims are about (default events and seed,
# no timing; each strategy's row is the same as in a full run) and checks the JSON it writes. Claims (docs/benchmarks.md):
#   tdx-clobber: tdx-may-clobber issues exactly the oracle's WRMSRs, with no violation;
#   tdx-flaky:   tdx-may-clobber within 5 % of the oracle, no violation, and at most 0.55x the
#                WRMSRs of tdx-set-before-entry; tdx-update-after-run has violations;
#   exit-storm:  eager issues at least 100x the WRMSRs of user-return.
cmake_minimum_required(VERSION 3.25)

if(DEFINED BENCH)
  if(NOT DEFINED OUT)
    set(OUT ${CMAKE_CURRENT_BINARY_DIR}/claims.json)
  endif()
  execute_process(
    COMMAND ${BENCH} --workload exit-storm,tdx-clobber,tdx-flaky
            --strategy eager,user-return,tdx-update-after-run,tdx-set-before-entry,tdx-may-clobber
            --no-timing --quiet --json ${OUT} ${ARGS}
    RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "uret-bench failed: ${rc}")
  endif()
  set(JSON ${OUT})
endif()
if(NOT DEFINED JSON)
  message(FATAL_ERROR "give -DBENCH=<uret-bench> or -DJSON=<file>")
endif()

file(READ ${JSON} rows)
string(JSON n LENGTH "${rows}")
math(EXPR last "${n} - 1")
foreach(i RANGE ${last})
  string(JSON w GET "${rows}" ${i} workload)
  string(JSON s GET "${rows}" ${i} strategy)
  foreach(field wrmsr oracle_wrmsr violations events)
    string(JSON v GET "${rows}" ${i} ${field})
    set("${w}/${s}/${field}" ${v})
  endforeach()
endforeach()

set(failed 0)
# check(<ok> <text>): print and count.
macro(check ok text)
  if(${ok})
    message(STATUS "yes  ${text}")
  else()
    message(STATUS "NO   ${text}")
    math(EXPR failed "${failed} + 1")
  endif()
endmacro()
macro(need key)
  if(NOT DEFINED "${key}")
    message(FATAL_ERROR "${JSON} has no row for ${key}")
  endif()
endmacro()

# tdx-clobber: may-clobber == oracle, no violation.
need(tdx-clobber/tdx-may-clobber/wrmsr)
set(w ${tdx-clobber/tdx-may-clobber/wrmsr})
set(o ${tdx-clobber/tdx-may-clobber/oracle_wrmsr})
set(v ${tdx-clobber/tdx-may-clobber/violations})
set(ok FALSE)
if(w EQUAL o AND v EQUAL 0)
  set(ok TRUE)
endif()
check(ok "tdx-clobber: tdx-may-clobber ${w} WRMSRs, oracle ${o}, ${v} violations")

# tdx-flaky: may-clobber within 5 % of the oracle (w * 100 <= o * 105), no violation.
need(tdx-flaky/tdx-may-clobber/wrmsr)
set(w ${tdx-flaky/tdx-may-clobber/wrmsr})
set(o ${tdx-flaky/tdx-may-clobber/oracle_wrmsr})
set(v ${tdx-flaky/tdx-may-clobber/violations})
math(EXPR lhs "${w} * 100")
math(EXPR rhs "${o} * 105")
set(ok FALSE)
if(NOT lhs GREATER rhs AND v EQUAL 0)
  set(ok TRUE)
endif()
check(ok "tdx-flaky: tdx-may-clobber ${w} WRMSRs within 5 % of oracle ${o}, ${v} violations")

# tdx-flaky: may-clobber <= 0.55 x set-before-entry (w * 100 <= b * 55).
need(tdx-flaky/tdx-set-before-entry/wrmsr)
set(b ${tdx-flaky/tdx-set-before-entry/wrmsr})
math(EXPR lhs "${w} * 100")
math(EXPR rhs "${b} * 55")
set(ok FALSE)
if(NOT lhs GREATER rhs)
  set(ok TRUE)
endif()
check(ok "tdx-flaky: tdx-may-clobber ${w} <= 0.55 x tdx-set-before-entry ${b}")

# tdx-flaky: update-after-run is caught.
need(tdx-flaky/tdx-update-after-run/violations)
set(v ${tdx-flaky/tdx-update-after-run/violations})
set(ok FALSE)
if(v GREATER 0)
  set(ok TRUE)
endif()
check(ok "tdx-flaky: tdx-update-after-run has ${v} violations (must be > 0)")

# exit-storm: eager >= 100 x user-return.
need(exit-storm/eager/wrmsr)
need(exit-storm/user-return/wrmsr)
set(e ${exit-storm/eager/wrmsr})
set(u ${exit-storm/user-return/wrmsr})
math(EXPR rhs "${u} * 100")
set(ok FALSE)
if(NOT e LESS rhs)
  set(ok TRUE)
endif()
check(ok "exit-storm: eager ${e} >= 100 x user-return ${u}")

if(failed GREATER 0)
  message(FATAL_ERROR "${failed} claim(s) do not hold on ${JSON}")
endif()
message(STATUS "all claims hold on ${JSON}")
