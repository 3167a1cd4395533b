// SPDX-License-Identifier: MIT
// uret/detail/assert.hpp - URET_ASSERT, the library's one precondition check.
//
// The library reports bad input as error values; URET_ASSERT guards only what cannot be
// reported that way (reading the value of a result that holds an error). Define URET_ASSERT
// before including any uret header to route it into your kernel's BUG()/panic or a test
// framework. The default traps, which needs nothing from the environment (freestanding-safe).
#pragma once

#ifndef URET_ASSERT
#define URET_ASSERT(cond, msg) ((cond) ? static_cast<void>(0) : __builtin_trap())
#endif
