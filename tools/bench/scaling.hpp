// tools/bench/scaling.hpp - throughput at 1 and 2 threads, each thread owning its CPUs:
//  - the simulator: each thread runs its own machine (its own trace, CPUs, slot table), the
//    threads share nothing but read-only code and data;
//  - the slot table itself: one slot_table over one mock_msr and one notifier chain, thread k
//    driving only CPUs k, k+threads, ... (set() of a guest value, then the return to user mode),
//    which shows whether per-CPU records share cache lines.
// Each figure is the best of a few repetitions (the machine may be shared).
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

#include "uret/backends/mock_msr.hpp"
#include "uret/notifier.hpp"
#include "uret/sim/simulator.hpp"
#include "uret/sim/workload.hpp"
#include "uret/slot_table.hpp"

namespace uret_bench {

/// Start `threads` threads together, run body(k) in each, return the wall-clock seconds from
/// the common start to the last finish.
template <class Body>
double timed_threads(unsigned threads, const Body& body) {
  std::atomic<unsigned> ready{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> pool;
  pool.reserve(threads);
  for (unsigned k = 0; k < threads; ++k) {
    pool.emplace_back([&, k] {
      ready.fetch_add(1);
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
      body(k);
    });
  }
  while (ready.load() != threads) std::this_thread::yield();
  const auto start = std::chrono::steady_clock::now();
  go.store(true, std::memory_order_release);
  for (auto& t : pool) t.join();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

/// Simulator events per second with `threads` independent machines of `p.cpus` CPUs each,
/// checker and oracle off (or on, with `checked`); best of `reps`.
inline double sim_events_per_second(const uret::sim::workload_params& p, std::uint64_t events,
                                    std::uint64_t seed, unsigned threads, bool checked,
                                    unsigned reps) {
  std::vector<uret::sim::trace> traces;
  for (unsigned k = 0; k < threads; ++k) traces.push_back(uret::sim::generate(p, seed + k, events));
  uret::sim::run_options o;
  o.check = checked;
  o.oracle = checked;
  double best = 0;
  for (unsigned r = 0; r < reps; ++r) {
    std::vector<std::uint64_t> done(threads, 0);
    const double s = timed_threads(threads, [&](unsigned k) {
      done[k] = uret::sim::run(traces[k], uret::sim::strategy::tdx_may_clobber, o).events;
    });
    std::uint64_t total = 0;
    for (const std::uint64_t d : done) total += d;
    best = std::max(best, static_cast<double>(total) / s);
  }
  return best;
}

/// Slot-table operations per second (a set() that writes plus a fire() that restores: two
/// operations, two WRMSRs) with `threads` threads sharing one table, each on its own CPUs.
inline double table_ops_per_second(unsigned threads, std::uint64_t rounds, unsigned reps) {
  constexpr unsigned cpus = 8;
  using table_t = uret::slot_table<uret::mock_msr, 16, 64>;
  double best = 0;
  for (unsigned r = 0; r < reps; ++r) {
    uret::mock_msr hw{cpus};
    hw.declare(uret::msrs::tsc_aux, 0);
    hw.declare(uret::msrs::lstar, 0xffffffff82000080);
    hw.set_logging(false);
    uret::notifier_chain<64> chain{cpus};
    table_t table{hw, chain, cpus};
    const unsigned tsc_aux = table.add(uret::msrs::tsc_aux).value_or(0);
    static_cast<void>(table.add(uret::msrs::lstar));
    for (unsigned c = 0; c < cpus; ++c) static_cast<void>(table.cpu_online(uret::cpu_id{c}));
    const double s = timed_threads(threads, [&](unsigned k) {
      for (std::uint64_t i = 0; i < rounds; ++i) {
        for (unsigned c = k; c < cpus; c += threads) {
          static_cast<void>(table.set(uret::cpu_id{c}, tsc_aux, 1000 + c));
          static_cast<void>(chain.fire(uret::cpu_id{c}));
        }
      }
    });
    best = std::max(best, static_cast<double>(2 * rounds * cpus) / s);
  }
  return best;
}

}  // namespace uret_bench
