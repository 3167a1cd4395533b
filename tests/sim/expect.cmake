# SPDX-License-Identifier: MIT
# cmake -DCMD=<program> -DARGS=<a|b|c> -DSTATUS=<exit status> [-DREGEX=<regex>] -P expect.cmake
# Runs the program and fails unless it exits with STATUS and its output matches REGEX.
string(REPLACE "|" ";" args "${ARGS}")
execute_process(COMMAND ${CMD} ${args} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc STREQUAL STATUS)
  message(FATAL_ERROR "exit status ${rc}, expected ${STATUS}\n--- stdout\n${out}--- stderr\n${err}")
endif()
if(DEFINED REGEX AND NOT REGEX STREQUAL "" AND NOT "${out}${err}" MATCHES "${REGEX}")
  message(FATAL_ERROR "output does not match '${REGEX}'\n--- stdout\n${out}--- stderr\n${err}")
endif()
