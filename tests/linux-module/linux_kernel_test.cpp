// SPDX-License-Identifier: MIT
// Tests of uret/backends/linux_kernel_msr.hpp and uret/linux_kernel/notifier.hpp on the host:
// the C++ side of the Linux module support against a user-space stand-in for the C shim (a
// "kernel" with per-CPU MSRs, per-CPU notifier lists, an executing CPU and a preemption flag).
// The real shim runs in the linux-module guest test.
#include <uret/linux_kernel/shim.h>
#include <uret/backends/linux_kernel_msr.hpp>
#include <uret/linux_kernel/notifier.hpp>
#include <uret/slot_table.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <map>
#include <utility>
#include <vector>

using uret::cpu_id;
using uret::errc;

namespace {
// The stand-in kernel.
struct fake_kernel {
  unsigned cpu = 0;                                                  // smp_processor_id()
  bool preemptible = false;                                          // preemptible()
  std::map<std::pair<unsigned, unsigned>, unsigned long long> msrs;  // (cpu, msr) -> value
  std::vector<uret_linux_node*> lists[4];                            // per-CPU notifier lists
  unsigned writes = 0;
};
fake_kernel k;

constexpr unsigned tsc_aux = 0xC0000103;
constexpr unsigned faulting = 0x6E1;

void reset() {
  k = fake_kernel{};
  for (unsigned c = 0; c < 4; ++c) k.msrs[{c, tsc_aux}] = c;
}

// fire_user_return_notifiers() on `cpu`: each node present when reached.
void fire(unsigned cpu) {
  const std::vector<uret_linux_node*> snapshot = k.lists[cpu];
  const unsigned saved = k.cpu;
  k.cpu = cpu;
  for (uret_linux_node* n : snapshot) {
    if (std::find(k.lists[cpu].begin(), k.lists[cpu].end(), n) != k.lists[cpu].end()) {
      n->fire(n, cpu);
    }
  }
  k.cpu = saved;
}
}  // namespace

extern "C" {
int uret_linux_rdmsr(unsigned int msr, unsigned long long* value) {
  if (msr == faulting) return -5;
  *value = k.msrs[{k.cpu, msr}];
  return 0;
}
int uret_linux_wrmsr(unsigned int msr, unsigned long long value) {
  if (msr == faulting) return -5;
  k.msrs[{k.cpu, msr}] = value;
  ++k.writes;
  return 0;
}
unsigned int uret_linux_this_cpu(void) { return k.cpu; }
int uret_linux_preemptible(void) { return k.preemptible ? 1 : 0; }
int uret_linux_register(struct uret_linux_node* node, unsigned int cpu) {
  if (node->fire == nullptr || k.preemptible || cpu != k.cpu) return -22;
  if (node->cpu >= 0) return -16;
  k.lists[cpu].insert(k.lists[cpu].begin(), node);
  node->cpu = static_cast<int>(cpu);
  return 0;
}
int uret_linux_unregister(struct uret_linux_node* node) {
  if (node->cpu < 0) return -2;
  auto& list = k.lists[node->cpu];
  list.erase(std::find(list.begin(), list.end(), node));
  node->cpu = -1;
  return 0;
}
}

TEST_CASE("linux_kernel_msr: the executing CPU only, faults as msr_fault", "[linux_kernel_msr]") {
  reset();
  uret::linux_kernel_msr msr;
  k.cpu = 1;
  SECTION("read and write on the executing CPU") {
    CHECK(msr.read(cpu_id{1}, uret::msrs::tsc_aux).value() == 1);
    REQUIRE(msr.write(cpu_id{1}, uret::msrs::tsc_aux, 0x5a5));
    CHECK(k.msrs[{1, tsc_aux}] == 0x5a5);
  }
  SECTION("another CPU is refused before any access") {
    CHECK(msr.read(cpu_id{0}, uret::msrs::tsc_aux).error() == errc::no_such_cpu);
    CHECK(msr.write(cpu_id{0}, uret::msrs::tsc_aux, 7).error() == errc::no_such_cpu);
    CHECK(k.writes == 0);
  }
  SECTION("a preemptible caller is refused") {
    k.preemptible = true;
    CHECK(msr.read(cpu_id{1}, uret::msrs::tsc_aux).error() == errc::no_such_cpu);
    CHECK(msr.write(cpu_id{1}, uret::msrs::tsc_aux, 7).error() == errc::no_such_cpu);
    CHECK(k.msrs[{1, tsc_aux}] == 1);
  }
  SECTION("a fault (-EIO from the safe accessors) is msr_fault") {
    CHECK(msr.read(cpu_id{1}, uret::msr_index{faulting}).error() == errc::msr_fault);
    CHECK(msr.write(cpu_id{1}, uret::msr_index{faulting}, 1).error() == errc::msr_fault);
  }
}

TEST_CASE("linux_kernel_notifiers: register on the executing CPU, unregister, fire",
          "[linux_kernel_notifier]") {
  reset();
  uret::linux_kernel_notifiers chain{4};
  uret::linux_kernel_notifier node;
  int calls = 0;
  node.context = &calls;
  node.on_user_return = [](uret::linux_kernel_notifier& n, cpu_id cpu) noexcept {
    ++*static_cast<int*>(n.context);
    CHECK(cpu == cpu_id{2});
  };
  k.cpu = 2;
  CHECK(!node.registered());
  SECTION("register, fire, unregister") {
    REQUIRE(chain.register_notifier(cpu_id{2}, node));
    CHECK(node.registered());
    CHECK(node.cpu() == cpu_id{2});
    CHECK(chain.register_notifier(cpu_id{2}, node).error() == errc::already_registered);
    fire(2);
    CHECK(calls == 1);
    REQUIRE(chain.unregister(node));
    CHECK(!node.registered());
    fire(2);
    CHECK(calls == 1);
    CHECK(chain.unregister(node).error() == errc::not_registered);
  }
  SECTION("refused: another CPU, preemptible, no callback, out of range") {
    CHECK(chain.register_notifier(cpu_id{1}, node).error() == errc::invalid_argument);
    k.preemptible = true;
    CHECK(chain.register_notifier(cpu_id{2}, node).error() == errc::invalid_argument);
    k.preemptible = false;
    CHECK(chain.register_notifier(cpu_id{4}, node).error() == errc::cpu_out_of_range);
    uret::linux_kernel_notifier bare;
    CHECK(chain.register_notifier(cpu_id{2}, bare).error() == errc::invalid_argument);
    CHECK(!node.registered());
    CHECK(k.lists[2].empty());
  }
}

TEST_CASE("slot_table over linux_kernel_msr and linux_kernel_notifiers",
          "[linux_kernel_notifier]") {
  reset();
  uret::linux_kernel_msr msr;
  uret::linux_kernel_notifiers chain{4};
  uret::slot_table<uret::linux_kernel_msr, 4, 4, uret::linux_kernel_notifiers> table{msr, chain, 4};
  k.cpu = 0;
  const unsigned slot = table.add(uret::msrs::tsc_aux, cpu_id{0}).value();
  for (unsigned c = 0; c < 4; ++c) {
    k.cpu = c;
    REQUIRE(table.cpu_online(cpu_id{c}));
  }
  k.cpu = 3;
  const unsigned before = k.writes;
  REQUIRE(table.set(cpu_id{3}, slot, 0x5a5));
  CHECK(k.msrs[{3, tsc_aux}] == 0x5a5);
  CHECK(table.registered(cpu_id{3}));
  CHECK(k.lists[3].size() == 1);
  SECTION("the kernel's return to user mode restores the host value") {
    fire(3);
    CHECK(k.msrs[{3, tsc_aux}] == 3);
    CHECK(!table.registered(cpu_id{3}));
    CHECK(k.lists[3].empty());
    CHECK(k.writes - before == 2);
    fire(3);
    CHECK(k.writes - before == 2);
  }
  SECTION("set from another CPU is refused, nothing changes") {
    k.cpu = 2;
    CHECK(table.set(cpu_id{3}, slot, 0x777).error() == errc::no_such_cpu);
    CHECK(table.current(cpu_id{3}, slot).value() == 0x5a5);
  }
  SECTION("drop restores and unregisters") {
    REQUIRE(table.drop(cpu_id{3}));
    CHECK(k.msrs[{3, tsc_aux}] == 3);
    CHECK(k.lists[3].empty());
    CHECK(!table.online(cpu_id{3}));
  }
}
