# SPDX-License-Identifier: MIT
# uret_set_warnings(<target>): the project's warning set for its own targets (tests, tools,
# examples). Warnings become errors only when uret is the top-level project and URET_WERROR is on
# (the presets and CI turn it on; a user's default build never fails on a new compiler warning).
function(uret_set_warnings target)
  if(CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
    target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow -Wconversion
                                             -Wsign-conversion -Wold-style-cast)
    if(PROJECT_IS_TOP_LEVEL AND URET_WERROR)
      target_compile_options(${target} PRIVATE -Werror)
    endif()
  endif()
endfunction()
option(URET_WERROR "Treat warnings as errors in uret's own targets (presets, CI)" OFF)
