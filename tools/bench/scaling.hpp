// SPDX-License-Identifier: MIT
// tools/bench/scaling.hpp - throughput at 1 and 2 threads, each thread owning its CPUs:
//  - the simulator: each thread runs its own machine (its own trace, CPUs, slot table), the
//    threads share nothing but read-only code and data;
//  - the slot table itself: one slot_table over one mock_msr and one notifier chain, thread k
//    driving only CPUs k, k+threads, ... (set() of a guest value, then the return to user mode),
//    which shows whether per-CPU records share cache lines.
// Each figure is the best of a few repetitions (the machine may be shared), per wall-clock
// second and per CPU-second the threads were given.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <ctime>
#include <thread>
#include <vector>

#include "uret/backends/mock_msr.hpp"
#include "uret/notifier.hpp"
#include "uret/sim/sim.hpp"
#include "uret/slot_table.hpp"

namespace uret_bench {

/// Wall-clock seconds of a threaded run, and the CPU seconds its threads got.
struct timing {
  double wall = 0;
  double cpu = 0;  ///< sum over the threads of their CPU time
};

inline double thread_cpu_seconds() noexcept {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

/// Start `threads` threads together and run body(k) in each; wall time from the common start
/// to the last finish.
template <class Body>
timing timed_threads(unsigned threads, const Body& body) {
  std::atomic<unsigned> ready{0};
  std::atomic<bool> go{false};
  std::vector<double> cpu(threads, 0.0);
  std::vector<std::thread> pool;
  pool.reserve(threads);
  for (unsigned k = 0; k < threads; ++k) {
    pool.emplace_back([&, k] {
      ready.fetch_add(1);
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
      const double c0 = thread_cpu_seconds();
      body(k);
      cpu[k] = thread_cpu_seconds() - c0;
    });
  }
  while (ready.load() != threads) std::this_thread::yield();
  const auto start = std::chrono::steady_clock::now();
  go.store(true, std::memory_order_release);
  for (auto& t : pool) t.join();
  timing out;
  out.wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  for (const double c : cpu) out.cpu += c;
  return out;
}

/// A throughput at some thread count: per wall-clock second (what the machine delivered) and
/// per CPU-second a thread actually got (what the code does when it runs; equal at 1 and 2
/// threads when nothing is shared, however loaded the machine is).
struct throughput {
  double per_wall_second = 0;
  double per_cpu_second = 0;
};

/// Simulator events per second with `threads` independent machines of `p.cpus` CPUs each,
/// checker and oracle off (or on, with `checked`); best of `reps`.
inline throughput sim_events_per_second(const uret::sim::workload_params& p, std::uint64_t events,
                                        std::uint64_t seed, unsigned threads, bool checked,
                                        unsigned reps) {
  std::vector<uret::sim::trace> traces;
  for (unsigned k = 0; k < threads; ++k) traces.push_back(uret::sim::generate(p, seed + k, events));
  uret::sim::run_options o;
  o.check = checked;
  o.oracle = checked;
  throughput best;
  for (unsigned r = 0; r < reps; ++r) {
    std::vector<std::uint64_t> done(threads, 0);
    const timing t = timed_threads(threads, [&](unsigned k) {
      done[k] = uret::sim::run(traces[k], uret::sim::strategy::tdx_may_clobber, o).events;
    });
    std::uint64_t total = 0;
    for (const std::uint64_t d : done) total += d;
    best.per_wall_second = std::max(best.per_wall_second, static_cast<double>(total) / t.wall);
    best.per_cpu_second = std::max(best.per_cpu_second, static_cast<double>(total) / t.cpu);
  }
  return best;
}

/// Slot-table operations per second (a set() that writes plus a fire() that restores: two
/// operations, two WRMSRs) with `threads` threads sharing one table, each on its own CPUs.
inline throughput table_ops_per_second(unsigned threads, std::uint64_t rounds, unsigned reps) {
  constexpr unsigned cpus = 8;
  using table_t = uret::slot_table<uret::mock_msr, 16, 64>;
  throughput best;
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
    const timing t = timed_threads(threads, [&](unsigned k) {
      for (std::uint64_t i = 0; i < rounds; ++i) {
        for (unsigned c = k; c < cpus; c += threads) {
          static_cast<void>(table.set(uret::cpu_id{c}, tsc_aux, 1000 + c));
          static_cast<void>(chain.fire(uret::cpu_id{c}));
        }
      }
    });
    const auto ops = static_cast<double>(2 * rounds * cpus);
    best.per_wall_second = std::max(best.per_wall_second, ops / t.wall);
    best.per_cpu_second = std::max(best.per_cpu_second, ops / t.cpu);
  }
  return best;
}

}  // namespace uret_bench
