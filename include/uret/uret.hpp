// SPDX-License-Identifier: MIT
// uret/uret.hpp - the core of the library: vocabulary, backend concept, notifier chain, slot
// table and the mock backend. Needs only the standard library (no fmt); compiles with
// -fno-exceptions -fno-rtti, and freestanding (without the mock). The fmt formatters are in
// uret/format.hpp; the Linux and ring-0 backends in uret/backends/.
#pragma once

#include "uret/msr.hpp"
#include "uret/msr_backend.hpp"
#include "uret/notifier.hpp"
#include "uret/slot_table.hpp"
#include "uret/version.hpp"

// The mock needs the hosted library (<vector>, <optional>, <span>); freestanding builds
// (-ffreestanding, ring 0) get the core without it.
#if __STDC_HOSTED__
#include "uret/backends/mock_msr.hpp"
#endif
