// SPDX-License-Identifier: MIT
// The simulator allocates nothing per event: the generator and the simulator run with the
// checker and the oracle while every operator new is counted.
#include <uret/sim/simulator.hpp>
#include <uret/sim/workload.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <cstdlib>
#include <new>
#include <vector>

namespace {
std::atomic<std::size_t> allocations{0};
}  // namespace

// Replacement operators (every form the program uses) pairing malloc with free; GCC cannot tell
// they are a matched pair.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

void* operator new(std::size_t n) {
  ++allocations;
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) { return operator new(n); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  ++allocations;
  return std::malloc(n == 0 ? 1 : n);
}
void* operator new[](std::size_t n, const std::nothrow_t& t) noexcept { return operator new(n, t); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }

namespace sim = uret::sim;

TEST_CASE("no allocation per event", "[sim/simulator]") {
  for (sim::strategy s : sim::all_strategies) {
    INFO(sim::to_string(s));
    sim::generator gen{sim::stress_workload(s, 8), 3};
    sim::simulator machine{gen.setup(), s};
    std::vector<sim::event> buf(4096);
    gen.fill(buf);  // first use of everything
    machine.run(buf);
    const std::size_t before = allocations.load();
    for (int i = 0; i < 50; ++i) {
      gen.fill(buf);
      machine.run(buf);
    }
    REQUIRE(allocations.load() == before);
  }
}
