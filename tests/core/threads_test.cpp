// SPDX-License-Identifier: MIT
// One thread per CPU, each hammering set / update_cache / invalidate / fire on its own CPU of
// a shared table, chain and mock. Run under ThreadSanitizer in CI (preset tsan): any sharing
// between CPUs' state would be a data race there; here it would show as a wrong count.
#include <uret/backends/mock_msr.hpp>
#include <uret/slot_table.hpp>

#include <catch2/catch.hpp>

#include <array>
#include <random>
#include <thread>
#include <vector>

TEST_CASE("threads that each own a CPU never interfere", "[slot_table][threads]") {
  constexpr unsigned ncpus = 4;
  constexpr int iterations = 20000;
  uret::mock_msr hw{ncpus};
  const std::array<uret::msr_index, 3> msrs = {uret::msrs::lstar, uret::msrs::syscall_mask,
                                               uret::msrs::tsc_aux};
  for (auto m : msrs) hw.declare(m, 0);
  hw.set_logging(false);
  for (unsigned c = 0; c < ncpus; ++c) {
    for (auto m : msrs) REQUIRE(hw.poke(uret::cpu_id{c}, m, 0x1000 * (c + 1)));
  }
  uret::notifier_chain<ncpus> chain{ncpus};
  uret::slot_table<uret::mock_msr, 16, ncpus> table{hw, chain, ncpus};
  for (auto m : msrs) REQUIRE(table.add(m).has_value());

  std::array<std::uint64_t, ncpus> mismatches{};
  std::vector<std::thread> threads;
  for (unsigned c = 0; c < ncpus; ++c) {
    threads.emplace_back([&, c] {
      const uret::cpu_id cpu{c};
      std::mt19937 rng{c + 1};
      std::uint64_t bad = 0;
      if (!table.cpu_online(cpu)) ++bad;
      for (int i = 0; i < iterations; ++i) {
        const auto slot = static_cast<unsigned>(rng() % 3);
        const std::uint64_t guest = 0x10 + (rng() % 4);
        switch (rng() % 4) {
          case 0:
            if (!table.set(cpu, slot, guest)) ++bad;
            if (*hw.peek(cpu, msrs[slot]) != guest) ++bad;
            break;
          case 1:
            hw.poke(cpu, msrs[slot], guest);  // firmware wrote it
            if (!table.update_cache(cpu, slot, guest)) ++bad;
            break;
          case 2:
            if (!table.invalidate(cpu, slot)) ++bad;
            break;
          default:
            if (!chain.fire(cpu)) ++bad;
            for (unsigned s = 0; s < 3; ++s) {
              if (*hw.peek(cpu, msrs[s]) != 0x1000 * (c + 1)) ++bad;  // host values back
            }
            if (table.registered(cpu)) ++bad;
        }
      }
      if (!chain.fire(cpu)) ++bad;
      mismatches[c] = bad;
    });
  }
  for (auto& t : threads) t.join();
  for (unsigned c = 0; c < ncpus; ++c) {
    CAPTURE(c);
    CHECK(mismatches[c] == 0);
    CHECK(table.stats(uret::cpu_id{c}).writes == hw.stats(uret::cpu_id{c}).writes);
    CHECK_FALSE(chain.pending(uret::cpu_id{c}));
  }
}
