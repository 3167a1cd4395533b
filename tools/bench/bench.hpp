// SPDX-License-Identifier: MIT
// tools/bench/bench.hpp - run every strategy of the simulator over one trace and turn the
// results into table rows. The trace may come from a workload generator or from anywhere else
// (an imported kernel trace, whose events may wait in a temporary file): run_all_strategies()
// only needs a way to run one strategy over it.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "report.hpp"
#include "uret/sim/simulator.hpp"
#include "uret/sim/strategy.hpp"
#include "uret/sim/trace.hpp"

namespace uret_bench {

/// The cost model and what to measure.
struct bench_options {
  double wrmsr_cycles = 100;  ///< cycles per WRMSR (docs/benchmarks.md, "Cost model")
  double rdmsr_cycles = 50;   ///< cycles per RDMSR
  bool timing = true;         ///< a second run without checker and oracle, for ns/event
};

/// Called before each strategy runs: (strategy, index among this trace's runs, runs).
using progress_fn = std::function<void(std::string_view strategy, std::size_t i, std::size_t n)>;

/// Runs one strategy over the trace being priced with the given options.
using run_fn =
    std::function<uret::sim::run_result(uret::sim::strategy, const uret::sim::run_options&)>;

/// Run `strategies` with `run` (over a trace of `events` events on `cpus` CPUs) and return one
/// row each, labelled `workload` and `seed`. Counts come from a run with the invariant checker
/// and the oracle; ns/event from a second run with both off (the library and the machine model
/// alone, plus reading the events back when they wait in a file), unless options.timing is
/// false.
inline std::vector<row> run_all_strategies(const run_fn& run, std::uint32_t cpus,
                                           std::uint64_t events, std::string_view workload,
                                           std::uint64_t seed,
                                           std::span<const uret::sim::strategy> strategies,
                                           const bench_options& options,
                                           const progress_fn& progress = {}) {
  std::vector<row> rows;
  rows.reserve(strategies.size());
  std::size_t i = 0;
  for (const uret::sim::strategy s : strategies) {
    if (progress) progress(uret::sim::to_string(s), i, strategies.size());
    ++i;
    const uret::sim::run_result r = run(s, uret::sim::run_options{});
    row out;
    out.workload = std::string(workload);
    out.strategy = std::string(uret::sim::to_string(s));
    out.seed = seed;
    out.cpus = cpus;
    out.events = r.events;
    out.wrmsr = r.wrmsr;
    out.rdmsr = r.rdmsr;
    out.oracle_wrmsr = r.oracle_wrmsr;
    out.violations = r.violations;
    if (!r.reports.empty()) out.first_violation = uret::sim::describe(r.reports.front());
    out.model_cycles = r.model_cycles(options.wrmsr_cycles, options.rdmsr_cycles);
    if (options.timing && events != 0) {
      uret::sim::run_options fast;
      fast.check = false;
      fast.oracle = false;
      const auto start = std::chrono::steady_clock::now();
      const uret::sim::run_result timed = run(s, fast);
      const std::chrono::duration<double, std::nano> took =
          std::chrono::steady_clock::now() - start;
      out.ns_per_event = took.count() / static_cast<double>(timed.events);
    }
    rows.push_back(std::move(out));
  }
  return rows;
}

/// Run `strategies` over `t` (in memory; see above).
inline std::vector<row> run_all_strategies(const uret::sim::trace& t, std::string_view workload,
                                           std::uint64_t seed,
                                           std::span<const uret::sim::strategy> strategies,
                                           const bench_options& options,
                                           const progress_fn& progress = {}) {
  const run_fn run = [&t](uret::sim::strategy s, const uret::sim::run_options& o) {
    return uret::sim::run(t, s, o);
  };
  return run_all_strategies(run, t.setup.cpus, t.events.size(), workload, seed, strategies, options,
                            progress);
}

}  // namespace uret_bench
