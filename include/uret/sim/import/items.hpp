// SPDX-License-Identifier: MIT
// uret/sim/import/items.hpp - an imported trace's events and traced writes read in trace order,
// wherever the import kept them (in memory, or in a streaming import's temporary file), and a
// strategy's run over them: what lets `uret-sim import --check` and `uret-bench --trace` work
// on a trace of any length in memory that does not grow with it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "uret/detail/assert.hpp"
#include "uret/msr.hpp"
#include "uret/sim/import/imported_trace.hpp"
#include "uret/sim/run_result.hpp"
#include "uret/sim/simulator.hpp"
#include "uret/sim/strategy.hpp"
#include "uret/sim/trace.hpp"

namespace uret::sim {

/// True when `imp` holds its events (in memory or in a temporary file) so that visit_items(),
/// run() and check_ground_truth() can read them; false after a replay-only streaming import.
[[nodiscard]] inline bool has_items(const imported_trace& imp) noexcept {
  return imp.items != nullptr || !imp.trace.events.empty() || !imp.trace.expected.empty() ||
         imp.stats.events == 0;
}

/// Calls, in trace order, `on_event(index, const event&, const event_source&)` for each event
/// and `on_write(index, const expected_wrmsr&, line)` for each traced write (msr:write_msr),
/// a write before the event it precedes (its `before_event`). False when a streaming import's
/// temporary file could not be read back whole (imported_trace::io_failed is not changed; the
/// visit saw a prefix).
///
///     uret::sim::visit_items(imp, [](std::size_t i, const event& e, const event_source& src) {},
///                            [](std::size_t x, const expected_wrmsr& w, std::size_t line) {});
template <class OnEvent, class OnWrite>
bool visit_items(const imported_trace& imp, OnEvent&& on_event, OnWrite&& on_write) {
  if (imp.items != nullptr) {
    std::size_t events = 0, writes = 0;
    return imp.items->for_each([&](const detail::stored_item& it) {
      if (it.write != 0) {
        const expected_wrmsr w{events, it.ev.cpu, msr_index{it.msr}, it.value};
        on_write(writes++, w, static_cast<std::size_t>(it.line));
      } else {
        const event_source src{static_cast<std::size_t>(it.line),
                               static_cast<event_origin>(it.origin), it.reason};
        on_event(events++, it.ev, src);
      }
    });
  }
  const auto& events = imp.trace.events;
  const auto& expected = imp.trace.expected;
  std::size_t x = 0;
  auto writes_before = [&](std::size_t i) {
    for (; x < expected.size() && expected[x].before_event <= i; ++x) {
      on_write(x, expected[x], x < imp.expected_lines.size() ? imp.expected_lines[x] : 0);
    }
  };
  for (std::size_t i = 0; i < events.size(); ++i) {
    writes_before(i);
    on_event(i, events[i], i < imp.sources.size() ? imp.sources[i] : event_source{});
  }
  writes_before(static_cast<std::size_t>(-1));
  return true;
}

/// Runs the imported trace under `s`, reading its events where the import kept them. With
/// run_options::record_writes, `on_writes(std::span<const write_record>, index, const event&,
/// const event_source&)` sees each event's writes right after it, and the result keeps none (its
/// `writes` stays empty), so memory stays flat. `ok`, when given, is set false when the events
/// could not be read back whole. `imp` must hold its events (has_items(), else URET_ASSERT).
template <class OnWrites>
[[nodiscard]] run_result run_with_writes(const imported_trace& imp, strategy s,
                                         const run_options& options, OnWrites&& on_writes,
                                         bool* ok = nullptr) {
  URET_ASSERT(has_items(imp), "run(imported_trace): the import did not keep its events");
  auto sim = std::make_unique<simulator>(imp.trace.setup, s, options);
  const bool read = visit_items(
      imp,
      [&](std::size_t i, const event& e, const event_source& src) {
        sim->step(e);
        if (!options.record_writes) return;
        on_writes(sim->writes(), i, e, src);
        sim->clear_writes();
      },
      [](std::size_t, const expected_wrmsr&, std::size_t) {});
  if (ok != nullptr) *ok = read;
  return sim->result();
}

/// Runs the imported trace under `s` (as run_with_writes(), without looking at its writes).
[[nodiscard]] inline run_result run(const imported_trace& imp, strategy s,
                                    const run_options& options = {}, bool* ok = nullptr) {
  run_options o = options;
  o.record_writes = false;
  return run_with_writes(
      imp, s, o,
      [](std::span<const write_record>, std::size_t, const event&, const event_source&) {}, ok);
}

}  // namespace uret::sim
