// SPDX-License-Identifier: MIT
// The slot table against a line-by-line model of the kernel's functions: for random call
// sequences that KVM accepts, both must issue the same backend writes in the same order, and
// agree on curr and registration after every call.
#include <uret/backends/mock_msr.hpp>
#include <uret/slot_table.hpp>

#include <catch2/catch.hpp>

#include <array>
#include <cstdint>
#include <random>
#include <vector>

namespace {
using uret::cpu_id;
constexpr unsigned ncpus = 3;
constexpr std::array<uret::msr_index, 5> msr_list = {uret::msrs::star, uret::msrs::lstar,
                                                     uret::msrs::syscall_mask, uret::msrs::tsc_aux,
                                                     uret::msrs::efer};

// The kernel's state and functions (arch/x86/kvm/x86.c), restated over a mock backend:
// struct kvm_user_return_msrs { registered; values[] { host, curr } }.
struct kernel_model {
  struct values {
    std::uint64_t host = 0, curr = 0;
  };
  struct per_cpu {
    bool registered = false;
    std::array<values, msr_list.size()> v{};
  };
  uret::mock_msr& hw;
  std::array<per_cpu, ncpus> cpus{};

  // kvm_user_return_msr_cpu_online()
  void cpu_online(unsigned c) {
    for (std::size_t i = 0; i < msr_list.size(); ++i) {
      const std::uint64_t val = *hw.read(cpu_id{c}, msr_list[i]);
      cpus[c].v[i] = {val, val};
    }
  }
  // kvm_set_user_return_msr()
  int set(unsigned c, unsigned slot, std::uint64_t value, std::uint64_t mask) {
    auto& v = cpus[c].v[slot];
    value = (value & mask) | (v.host & ~mask);
    if (value == v.curr) return 0;
    if (!hw.write(cpu_id{c}, msr_list[slot], value)) return 1;
    v.curr = value;
    cpus[c].registered = true;
    return 0;
  }
  // kvm_user_return_msr_update_cache()
  void update_cache(unsigned c, unsigned slot, std::uint64_t value) {
    cpus[c].v[slot].curr = value;
    cpus[c].registered = true;
  }
  // kvm_on_user_return(), reached through fire_user_return_notifiers() when registered
  void on_user_return(unsigned c) {
    cpus[c].registered = false;
    for (std::size_t i = 0; i < msr_list.size(); ++i) {
      auto& v = cpus[c].v[i];
      if (v.host != v.curr) {
        REQUIRE(hw.write(cpu_id{c}, msr_list[i], v.host).has_value());
        v.curr = v.host;
      }
    }
  }
  void fire(unsigned c) {
    if (cpus[c].registered) on_user_return(c);
  }
  // drop_user_return_notifiers()
  void drop(unsigned c) {
    if (cpus[c].registered) on_user_return(c);
  }
};

void declare_all(uret::mock_msr& hw, std::mt19937_64& rng) {
  for (auto m : msr_list) hw.declare(m, 0);
  for (unsigned c = 0; c < ncpus; ++c) {
    for (auto m : msr_list) REQUIRE(hw.poke(cpu_id{c}, m, rng() % 4 == 0 ? 0 : rng()));
  }
}
}  // namespace

TEST_CASE("slot_table issues exactly the kernel's writes on KVM-accepted sequences",
          "[slot_table][kvm]") {
  for (std::uint64_t seed = 1; seed <= 40; ++seed) {
    CAPTURE(seed);
    std::mt19937_64 rng{seed};
    uret::mock_msr hw_lib{ncpus}, hw_ref{ncpus};
    std::mt19937_64 rng_decl{seed * 7919};
    declare_all(hw_lib, rng_decl);
    rng_decl.seed(seed * 7919);
    declare_all(hw_ref, rng_decl);

    uret::notifier_chain<ncpus> chain{ncpus};
    uret::slot_table<uret::mock_msr, 16, ncpus> table{hw_lib, chain, ncpus};
    for (auto m : msr_list) REQUIRE(table.add(m).has_value());
    kernel_model ref{hw_ref};
    for (auto m : msr_list) {  // kvm_probe_user_return_msr() on CPU 0
      const std::uint64_t v = *hw_ref.read(cpu_id{0}, m);
      REQUIRE(hw_ref.write(cpu_id{0}, m, v).has_value());
    }
    std::array<bool, ncpus> online{};
    for (unsigned c = 0; c < ncpus; ++c) {
      REQUIRE(table.cpu_online(cpu_id{c}).has_value());
      ref.cpu_online(c);
      online[c] = true;
    }
    // A small value pool makes equal values (skipped writes) frequent.
    std::array<std::uint64_t, 6> pool{};
    for (auto& p : pool) p = rng();
    pool[0] = 0;

    for (int step = 0; step < 3000; ++step) {
      const unsigned c = static_cast<unsigned>(rng() % ncpus);
      const unsigned slot = static_cast<unsigned>(rng() % msr_list.size());
      const cpu_id cpu{c};
      const unsigned op = static_cast<unsigned>(rng() % 100);
      if (!online[c]) {
        if (op < 30 && !ref.cpus[c].registered) {
          REQUIRE(table.cpu_online(cpu).has_value());
          ref.cpu_online(c);
          online[c] = true;
        }
        continue;
      }
      if (op < 55) {
        std::uint64_t value = pool[rng() % pool.size()];
        if (rng() % 8 == 0) value = *table.host(cpu, slot);
        const std::uint64_t mask = rng() % 4 == 0 ? rng() : ~std::uint64_t{0};
        const std::uint64_t merged = (value & mask) | (*table.host(cpu, slot) & ~mask);
        if (rng() % 16 == 0 && merged != *table.current(cpu, slot)) {
          // the WRMSR faults in both worlds (only where a write will happen, so the one-shot
          // fault is consumed by this set and not by a later restore)
          hw_lib.fail_next_write(cpu, msr_list[slot]);
          hw_ref.fail_next_write(cpu, msr_list[slot]);
        }
        const uret::result<void> r = table.set(cpu, slot, value, mask);
        const int kr = ref.set(c, slot, value, mask);
        CHECK(r.has_value() == (kr == 0));
      } else if (op < 65) {
        const std::uint64_t value = pool[rng() % pool.size()];
        REQUIRE(table.update_cache(cpu, slot, value).has_value());
        ref.update_cache(c, slot, value);
        // update_cache may make the cache disagree with hardware in both worlds; put the
        // hardware where the cache says so later writes stay comparable (firmware did it).
        REQUIRE(hw_lib.poke(cpu, msr_list[slot], value));
        REQUIRE(hw_ref.poke(cpu, msr_list[slot], value));
      } else if (op < 90) {
        REQUIRE(chain.fire(cpu).has_value());
        ref.fire(c);
      } else if (op < 95) {
        REQUIRE(table.drop(cpu).has_value());
        ref.drop(c);
        online[c] = false;
      } else {
        // cpu_online again, as at the next virtualization enable, only when KVM allows it.
        if (!ref.cpus[c].registered) {
          REQUIRE(table.cpu_online(cpu).has_value());
          ref.cpu_online(c);
        }
      }
      CHECK(table.registered(cpu) == ref.cpus[c].registered);
      if (online[c]) {
        CHECK(*table.current(cpu, slot) == ref.cpus[c].v[slot].curr);
        CHECK(*table.host(cpu, slot) == ref.cpus[c].v[slot].host);
      }
    }
    for (unsigned c = 0; c < ncpus; ++c) {
      CHECK(hw_lib.stats(cpu_id{c}).writes == hw_ref.stats(cpu_id{c}).writes);
      CHECK(table.stats(cpu_id{c}).writes == hw_lib.stats(cpu_id{c}).writes);
    }
  }
}

TEST_CASE("slot_table and the kernel model produce identical write logs", "[slot_table][kvm]") {
  for (std::uint64_t seed = 100; seed < 130; ++seed) {
    CAPTURE(seed);
    std::mt19937_64 rng{seed};
    uret::mock_msr hw_lib{ncpus}, hw_ref{ncpus};
    std::mt19937_64 rd{seed};
    declare_all(hw_lib, rd);
    rd.seed(seed);
    declare_all(hw_ref, rd);
    uret::notifier_chain<ncpus> chain{ncpus};
    uret::slot_table<uret::mock_msr, 16, ncpus> table{hw_lib, chain, ncpus};
    kernel_model ref{hw_ref};
    for (auto m : msr_list) {
      REQUIRE(table.add(m).has_value());
      REQUIRE(hw_ref.write(cpu_id{0}, m, *hw_ref.read(cpu_id{0}, m)).has_value());
    }
    for (unsigned c = 0; c < ncpus; ++c) {
      REQUIRE(table.cpu_online(cpu_id{c}).has_value());
      ref.cpu_online(c);
    }
    for (int step = 0; step < 2000; ++step) {
      const unsigned c = static_cast<unsigned>(rng() % ncpus);
      const unsigned slot = static_cast<unsigned>(rng() % msr_list.size());
      const std::uint64_t value = rng() % 3 == 0 ? 0 : (rng() % 5);
      switch (rng() % 3) {
        case 0:
        case 1: {
          const std::uint64_t mask = rng() % 3 == 0 ? 0xff : ~std::uint64_t{0};
          REQUIRE(table.set(cpu_id{c}, slot, value, mask).has_value());
          REQUIRE(ref.set(c, slot, value, mask) == 0);
          break;
        }
        default: REQUIRE(chain.fire(cpu_id{c}).has_value()); ref.fire(c);
      }
    }
    for (unsigned c = 0; c < ncpus; ++c) {
      const auto a = hw_lib.log(cpu_id{c});
      const auto b = hw_ref.log(cpu_id{c});
      REQUIRE(a.size() == b.size());
      for (std::size_t i = 0; i < a.size(); ++i) {
        CAPTURE(c, i);
        CHECK(a[i] == b[i]);
      }
    }
  }
}
