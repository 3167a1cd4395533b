# SPDX-License-Identifier: MIT
# tests/core/readme_snippet.cmake - extracts the C++ block of README.md's "Use in hypervisor code"
# section and compiles it as written (hosted, no exceptions, no RTTI). Fails on any compiler
# warning too: the block must not ignore a [[nodiscard]] result.
#
#   cmake -DREADME=README.md -DCXX=g++ -DINCLUDE=include -DOUT=dir -P tests/core/readme_snippet.cmake
foreach(v README CXX INCLUDE OUT)
  if(NOT DEFINED ${v})
    message(FATAL_ERROR "readme_snippet.cmake: -D${v}=... missing")
  endif()
endforeach()
file(READ "${README}" text)
string(FIND "${text}" "## Use in hypervisor code" section)
if(section EQUAL -1)
  message(FATAL_ERROR "README.md has no 'Use in hypervisor code' section")
endif()
string(SUBSTRING "${text}" ${section} -1 rest)
string(FIND "${rest}" "```cpp\n" open)
if(open EQUAL -1)
  message(FATAL_ERROR "the section has no ```cpp block")
endif()
math(EXPR begin "${open} + 7")
string(SUBSTRING "${rest}" ${begin} -1 rest)
string(FIND "${rest}" "```" close)
if(close EQUAL -1)
  message(FATAL_ERROR "the ```cpp block is not closed")
endif()
string(SUBSTRING "${rest}" 0 ${close} snippet)
file(MAKE_DIRECTORY "${OUT}")
file(WRITE "${OUT}/readme_snippet.cpp" "${snippet}")
execute_process(
  COMMAND "${CXX}" -std=c++20 -Wall -Wextra -fno-exceptions -fno-rtti -I "${INCLUDE}" -c
          "${OUT}/readme_snippet.cpp" -o "${OUT}/readme_snippet.o"
  RESULT_VARIABLE rc
  OUTPUT_VARIABLE out
  ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "README snippet does not compile:\n${out}${err}")
endif()
if(err MATCHES "warning")
  message(FATAL_ERROR "README snippet compiles with warnings:\n${err}")
endif()
message(STATUS "README snippet (${OUT}/readme_snippet.cpp) compiles without warnings")
