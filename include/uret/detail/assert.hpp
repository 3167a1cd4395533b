// SPDX-License-Identifier: MIT
// uret/detail/assert.hpp - URET_ASSERT, the library's one precondition check.
//
// The library reports bad input as error values; URET_ASSERT guards only what cannot be
// reported that way (reading the value of a result that holds an error, a notifier policy
// calling back on the wrong CPU). Define URET_ASSERT before including any uret header to
// route it into your kernel's BUG()/panic or a test framework. The default traps, which needs
// nothing from the environment (freestanding-safe); in a hosted build it first prints the
// failed condition, its message and where it failed to stderr.
#pragma once

#ifndef URET_ASSERT
#if defined(__STDC_HOSTED__) && __STDC_HOSTED__ == 1
#include <cstdio>

namespace uret::detail {
[[noreturn, gnu::cold, gnu::noinline]] inline void assert_failed(const char* cond, const char* msg,
                                                                 const char* file,
                                                                 int line) noexcept {
  std::fprintf(stderr, "%s:%d: uret assertion failed: %s (%s)\n", file, line, msg, cond);
  std::fflush(stderr);
  __builtin_trap();
}
}  // namespace uret::detail

#define URET_ASSERT(cond, msg) \
  ((cond) ? static_cast<void>(0) : ::uret::detail::assert_failed(#cond, msg, __FILE__, __LINE__))
#else
#define URET_ASSERT(cond, msg) ((cond) ? static_cast<void>(0) : __builtin_trap())
#endif
#endif
