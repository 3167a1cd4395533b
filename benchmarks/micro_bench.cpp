// SPDX-License-Identifier: MIT
// benchmarks/micro_bench.cpp - wall-clock micro-benchmarks of the slot table's hot paths
// (checked operations), each beside the same operation in the plain-C reference of the
// kernel's functions (benchmarks/reference/), both over the register file of regfile.h.
// Instruction counts, which do not depend on the machine's load, come from
// benchmarks/reference/callgrind.sh; these timings are for orders of magnitude on the machine
// at hand.
//
//   uret-micro-bench [--benchmark_filter=REGEX] [--benchmark_repetitions=N] ...
//
// Each benchmark is instantiated for `uret_impl` and `c_impl`. Operations that need a prepared
// state (a restore needs dirty slots) include the cheapest preparation in the timed loop, and
// their names say so; subtract the preparation's own benchmark to isolate the operation.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <string>

#include "harness.hpp"

namespace {

using namespace uret_ref;

constexpr std::uint64_t k_post_exit = 0;  // what the TDX module leaves in STAR/LSTAR/TSC_AUX
constexpr unsigned k_max_notifiers = 16;
std::uint64_t g_fired = 0;  // what the benchmarks' extra notifiers count

struct uret_impl {
  static int set(unsigned cpu, unsigned slot, std::uint64_t v) {
    return static_cast<int>(g_table.set(uret::cpu_id{cpu}, slot, v).error());
  }
  static int update_cache(unsigned cpu, unsigned slot, std::uint64_t v) {
    return static_cast<int>(g_table.update_cache(uret::cpu_id{cpu}, slot, v).error());
  }
  // may_clobber(): for C, update_cache(), the call it replaces after a TD exit
  static int after_td_exit(unsigned cpu, unsigned slot, std::uint64_t v) {
    return static_cast<int>(g_table.may_clobber(uret::cpu_id{cpu}, slot, v).error());
  }
  static int on_user_return(unsigned cpu) {
    return static_cast<int>(g_table.on_user_return(uret::cpu_id{cpu}).error());
  }
  static int fire(unsigned cpu) {
    return static_cast<int>(g_chain.fire(uret::cpu_id{cpu}).error());
  }

  static inline uret::user_return_notifier nodes[k_max_notifiers];
  static void add_notifiers(unsigned cpu, unsigned n) {
    for (unsigned i = 0; i < n; ++i) {
      nodes[i].on_user_return = [](uret::user_return_notifier&, uret::cpu_id) noexcept {
        ++g_fired;
      };
      static_cast<void>(g_chain.register_notifier(uret::cpu_id{cpu}, nodes[i]));
    }
  }
  static void remove_notifiers(unsigned /*cpu*/, unsigned n) {
    for (unsigned i = 0; i < n; ++i) static_cast<void>(g_chain.unregister(nodes[i]));
  }
};

struct c_impl {
  static int set(unsigned cpu, unsigned slot, std::uint64_t v) {
    return ref_set_user_return_msr(cpu, slot, v, k_all);
  }
  static int update_cache(unsigned cpu, unsigned slot, std::uint64_t v) {
    ref_user_return_msr_update_cache(cpu, slot, v);
    return 0;
  }
  static int after_td_exit(unsigned cpu, unsigned slot, std::uint64_t v) {
    return update_cache(cpu, slot, v);
  }
  static int on_user_return(unsigned cpu) {
    ref_on_user_return(cpu);
    return 0;
  }
  static int fire(unsigned cpu) {
    ref_fire_user_return_notifiers(cpu);
    return 0;
  }

  static inline ref_urn nodes[k_max_notifiers];
  static void add_notifiers(unsigned cpu, unsigned n) {
    for (unsigned i = 0; i < n; ++i) {
      nodes[i].on_user_return = [](ref_urn*, unsigned) { ++g_fired; };
      ref_urn_register(cpu, &nodes[i]);
    }
  }
  static void remove_notifiers(unsigned cpu, unsigned n) {
    for (unsigned i = 0; i < n; ++i) ref_urn_unregister(cpu, &nodes[i]);
  }
};

// Every benchmark starts and ends with CPU 0 clean (host values loaded, nothing registered).
template <class I>
void clean() {
  static_cast<void>(I::on_user_return(0));
}

template <class I>
void BM_set_hit(benchmark::State& state) {
  for (unsigned s = 0; s < 4; ++s) I::set(0, s, guest_value(s));
  unsigned i = 0;
  for (auto _ : state) {
    const unsigned s = i++ & 3;
    benchmark::DoNotOptimize(I::set(0, s, guest_value(s)));
  }
  clean<I>();
}

template <class I>
void BM_set_miss(benchmark::State& state) {
  for (unsigned s = 0; s < 4; ++s) I::set(0, s, guest_value(s));
  unsigned i = 0;
  for (auto _ : state) {
    const unsigned s = i & 3;
    const std::uint64_t v = (i++ & 4) == 0 ? guest_value2(s) : guest_value(s);
    benchmark::DoNotOptimize(I::set(0, s, v));
  }
  clean<I>();
}

template <class I>
void BM_update_cache(benchmark::State& state) {
  for (unsigned s = 0; s < 4; ++s) I::set(0, s, guest_value(s));
  unsigned i = 0;
  for (auto _ : state) {
    const unsigned s = i & 3;
    const std::uint64_t v = (i++ & 4) == 0 ? guest_value2(s) : guest_value(s);
    benchmark::DoNotOptimize(I::update_cache(0, s, v));
  }
  clean<I>();
}

// uret: may_clobber() when the cache already holds the post-exit value (stays known).
template <class I>
void BM_may_clobber_cached(benchmark::State& state) {
  for (unsigned s = 0; s < 4; ++s) I::set(0, s, k_post_exit);
  unsigned i = 0;
  for (auto _ : state) benchmark::DoNotOptimize(I::after_td_exit(0, i++ & 3, k_post_exit));
  clean<I>();
}

// uret: a set() that writes a guest value, then may_clobber() (the slot becomes unknown).
template <class I>
void BM_set_then_may_clobber(benchmark::State& state) {
  unsigned i = 0;
  for (auto _ : state) {
    const unsigned s = i++ & 3;
    benchmark::DoNotOptimize(I::set(0, s, guest_value(s)));
    benchmark::DoNotOptimize(I::after_td_exit(0, s, k_post_exit));
  }
  clean<I>();
}

// k update_cache() calls (no write) to dirty k of 16 slots, then the restore (k writes).
template <class I>
void BM_dirty_then_restore(benchmark::State& state) {
  const auto k = static_cast<unsigned>(state.range(0));
  for (auto _ : state) {
    for (unsigned s = 0; s < k; ++s) I::update_cache(0, s, guest_value(s));
    benchmark::DoNotOptimize(I::on_user_return(0));
  }
  state.counters["dirty"] = static_cast<double>(k);
}

// fire() on a CPU with n notifiers that each bump a counter and stay registered.
template <class I>
void BM_fire(benchmark::State& state) {
  const auto n = static_cast<unsigned>(state.range(0));
  I::add_notifiers(1, n);
  for (auto _ : state) benchmark::DoNotOptimize(I::fire(1));
  I::remove_notifiers(1, n);
}

// A guest value loaded, then the return to user mode through the chain (restore of 1 slot).
template <class I>
void BM_set_then_fire(benchmark::State& state) {
  for (auto _ : state) {
    benchmark::DoNotOptimize(I::set(0, 0, guest_value(0)));
    benchmark::DoNotOptimize(I::fire(0));
  }
}

#define URET_BOTH(bm)                \
  BENCHMARK_TEMPLATE(bm, uret_impl); \
  BENCHMARK_TEMPLATE(bm, c_impl)

URET_BOTH(BM_set_hit);
URET_BOTH(BM_set_miss);
URET_BOTH(BM_update_cache);
URET_BOTH(BM_may_clobber_cached);
URET_BOTH(BM_set_then_may_clobber);
BENCHMARK_TEMPLATE(BM_dirty_then_restore, uret_impl)->Arg(1)->Arg(4)->Arg(16);
BENCHMARK_TEMPLATE(BM_dirty_then_restore, c_impl)->Arg(1)->Arg(4)->Arg(16);
BENCHMARK_TEMPLATE(BM_fire, uret_impl)->Arg(1)->Arg(4)->Arg(16);
BENCHMARK_TEMPLATE(BM_fire, c_impl)->Arg(1)->Arg(4)->Arg(16);
URET_BOTH(BM_set_then_fire);

}  // namespace

int main(int argc, char** argv) {
  setup_both();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::AddCustomContext("slot_table<mock_msr, 16, 64>::per_cpu_bytes",
                              std::to_string(decltype(g_table)::per_cpu_bytes()));
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
