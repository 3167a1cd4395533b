// SPDX-License-Identifier: MIT
// uret/sim/import.hpp - uret::import, the trace importer, in one include: import a real KVM
// host's trace (ftrace text, `trace-cmd report`, `perf script`) as a simulator trace and its
// replay text, and compare what KVM really wrote with what a strategy writes.
//
//     import/imported_trace.hpp  import_options, imported_trace and where each event came from
//     import/import.hpp          import_trace(), format_import_summary()
//     import/items.hpp           visit_items(), run(): the events where the import kept them
//     import/comparison.hpp      ground_truth_comparer: traced against predicted writes
//     import/ground_truth.hpp    compare_ground_truth(), check_ground_truth()
//     import/detail/             the line grammars and the importer's two passes
#pragma once

#include "uret/sim/import/comparison.hpp"
#include "uret/sim/import/ground_truth.hpp"
#include "uret/sim/import/import.hpp"
#include "uret/sim/import/imported_trace.hpp"
#include "uret/sim/import/items.hpp"
