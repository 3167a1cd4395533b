// uret/uret.hpp - the core of the library: vocabulary, backend concept, notifier chain, slot
// table and the mock backend. Needs only the standard library (no fmt); compiles with
// -fno-exceptions -fno-rtti. The fmt formatters are in uret/format.hpp; the Linux and ring-0
// backends in uret/backends/.
#pragma once

#include "uret/backends/mock_msr.hpp"
#include "uret/msr.hpp"
#include "uret/msr_backend.hpp"
#include "uret/notifier.hpp"
#include "uret/slot_table.hpp"
#include "uret/version.hpp"
