// SPDX-License-Identifier: MIT
// Tests of the agreements between the core's objects, so that no caller can break the contract:
// a table wider than its chain, failed registrations, nodes and their chain, handles, the
// restore-fault deviation from the kernel, counters, and the notifier policy concept.
#include <uret/backends/mock_msr.hpp>
#include <uret/notifier.hpp>
#include <uret/slot_table.hpp>

#include <catch2/catch.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <string>

using uret::cpu_id;
using uret::errc;
namespace msrs = uret::msrs;

namespace {
constexpr std::uint64_t host_lstar = 0xffffffff81e00080;

// A notifier policy over notifier_chain whose registrations can be made to fail, as a
// kernel's might (out of memory in a policy that allocates, a CPU it does not serve).
template <std::size_t MaxCpus>
struct flaky_chain {
  using node_type = uret::user_return_notifier;
  uret::notifier_chain<MaxCpus> inner;
  int fail_registrations = 0;
  int registrations = 0;

  explicit flaky_chain(std::size_t cpus) : inner(cpus) {}
  [[nodiscard]] std::size_t cpus() const noexcept { return inner.cpus(); }
  uret::result<void> register_notifier(cpu_id cpu, node_type& n) noexcept {
    if (fail_registrations > 0) {
      --fail_registrations;
      return errc::invalid_argument;
    }
    ++registrations;
    return inner.register_notifier(cpu, n);
  }
  uret::result<void> unregister(node_type& n) noexcept { return inner.unregister(n); }
};
static_assert(uret::notifier_policy<flaky_chain<4>>);
static_assert(uret::notifier_policy<uret::notifier_chain<>>);
struct not_a_policy {
  struct node_type {
    void* context;
  };
  std::size_t cpus() const noexcept { return 1; }
};
static_assert(!uret::notifier_policy<not_a_policy>);

struct flaky_machine {
  uret::mock_msr hw{2};
  flaky_chain<2> chain{2};
  uret::slot_table<uret::mock_msr, 4, 2, flaky_chain<2>> table{hw, chain, 2};
  unsigned lstar = 0;
  unsigned aux = 0;
  flaky_machine() {
    hw.declare(msrs::lstar, host_lstar);
    hw.declare(msrs::tsc_aux, 0);
    lstar = table.add(msrs::lstar).value();
    aux = table.add(msrs::tsc_aux).value();
    REQUIRE(table.cpu_online(cpu_id{0}).has_value());
    hw.clear_log();
  }
  std::uint64_t hw_lstar() const { return hw.peek(cpu_id{0}, msrs::lstar).value(); }
};
}  // namespace

TEST_CASE("core: a table wider than its chain refuses the CPUs the chain lacks", "[contract]") {
  uret::mock_msr hw{4};
  hw.declare(msrs::lstar, host_lstar);
  uret::notifier_chain<> chain{2};
  uret::slot_table<uret::mock_msr> table{hw, chain, 4};
  const unsigned slot = table.add(msrs::lstar).value();
  CHECK(table.cpu_online(cpu_id{1}).has_value());
  CHECK(table.cpu_online(cpu_id{3}).error() == errc::cpu_out_of_range);
  CHECK_FALSE(table.online(cpu_id{3}));
  CHECK(table.set(cpu_id{3}, slot, 0x99).error() == errc::cpu_offline);
  CHECK(table.cpu(cpu_id{3}).error() == errc::cpu_offline);
  CHECK(hw.peek(cpu_id{3}, msrs::lstar).value() == host_lstar);  // nothing written
  CHECK(hw.log(cpu_id{3}).empty());
}

TEST_CASE("core: a failed registration is reported by the call that needed it", "[contract]") {
  flaky_machine m;
  SECTION("set: the write is taken back, the cache and the hardware agree on host") {
    m.chain.fail_registrations = 1;
    CHECK(m.table.set(cpu_id{0}, m.lstar, 0x42).error() == errc::invalid_argument);
    CHECK(m.hw_lstar() == host_lstar);
    CHECK(m.table.current(cpu_id{0}, m.lstar).value() == host_lstar);
    CHECK_FALSE(m.table.registered(cpu_id{0}));
    CHECK(m.table.dirty_slots(cpu_id{0}) == 0);
    // and the next set works
    REQUIRE(m.table.set(cpu_id{0}, m.lstar, 0x42).has_value());
    CHECK(m.table.registered(cpu_id{0}));
    REQUIRE(m.chain.inner.fire(cpu_id{0}).has_value());
    CHECK(m.hw_lstar() == host_lstar);
  }
  SECTION("set through handles: the same") {
    m.chain.fail_registrations = 1;
    const auto cpu = m.table.cpu(cpu_id{0}).value();
    const auto slot = m.table.slot(m.lstar).value();
    CHECK(m.table.set(cpu, slot, 0x42).error() == errc::invalid_argument);
    CHECK(m.hw_lstar() == host_lstar);
    CHECK(m.table.current(cpu_id{0}, m.lstar).value() == host_lstar);
    CHECK_FALSE(m.table.registered(cpu_id{0}));
  }
  SECTION("update_cache, may_clobber, invalidate: refused before anything changes") {
    m.chain.fail_registrations = 3;
    CHECK(m.table.update_cache(cpu_id{0}, m.aux, 7).error() == errc::invalid_argument);
    CHECK(m.table.may_clobber(cpu_id{0}, m.aux, 7).error() == errc::invalid_argument);
    CHECK(m.table.invalidate(cpu_id{0}).error() == errc::invalid_argument);
    CHECK(m.table.current(cpu_id{0}, m.aux).value() == 0);
    CHECK(m.table.unknown_slots(cpu_id{0}) == 0);
    CHECK(m.table.dirty_slots(cpu_id{0}) == 0);
    CHECK_FALSE(m.table.registered(cpu_id{0}));
    CHECK(m.hw.log(cpu_id{0}).empty());
  }
}

TEST_CASE("core: a node knows its chain", "[contract]") {
  uret::notifier_chain<2> small{2};
  uret::notifier_chain<64> big{64};
  uret::user_return_notifier node;
  node.on_user_return = [](uret::user_return_notifier&, cpu_id) noexcept {};
  REQUIRE(big.register_notifier(cpu_id{40}, node).has_value());
  CHECK_FALSE(small.owns(node));
  CHECK(small.unregister(node).error() == errc::not_registered);  // was out of bounds
  CHECK(node.registered());
  CHECK(node.cpu() == cpu_id{40});
  CHECK(big.pending(cpu_id{40}));
  REQUIRE(big.unregister(node).has_value());
  CHECK_FALSE(node.registered());
}

TEST_CASE("core: a chain that dies first leaves no node pointing into it", "[contract]") {
  uret::user_return_notifier node;
  node.on_user_return = [](uret::user_return_notifier&, cpu_id) noexcept {};
  {
    uret::notifier_chain<4> chain{4};
    REQUIRE(chain.register_notifier(cpu_id{1}, node).has_value());
  }
  CHECK_FALSE(node.registered());
}

TEST_CASE("core: handles are obtained valid and stay safe", "[contract]") {
  flaky_machine m;
  CHECK(m.table.cpu(cpu_id{1}).error() == errc::cpu_offline);
  CHECK(m.table.cpu(cpu_id{2}).error() == errc::cpu_out_of_range);
  CHECK(m.table.slot(2).error() == errc::slot_not_added);
  CHECK(m.table.slot(4).error() == errc::slot_out_of_range);
  const auto cpu = m.table.cpu(cpu_id{0}).value();
  const auto lstar = m.table.slot(m.lstar).value();
  CHECK(cpu.id() == cpu_id{0});
  CHECK(lstar.index() == m.lstar);
  REQUIRE(m.table.set(cpu, lstar, 0x42).has_value());
  REQUIRE(m.table.set(cpu, lstar, 0x42).has_value());  // cached: no second write
  CHECK(m.hw.log(cpu_id{0}).size() == 1);
  REQUIRE(m.table.update_cache(cpu, lstar, 0x43).has_value());
  CHECK(m.table.current(cpu_id{0}, m.lstar).value() == 0x43);
  REQUIRE(m.table.may_clobber(cpu, lstar, 0).has_value());
  CHECK(m.table.unknown_slots(cpu_id{0}) == (1U << m.lstar));
  REQUIRE(m.table.on_user_return(cpu).has_value());
  CHECK(m.hw_lstar() == host_lstar);
  CHECK(m.table.unknown_slots(cpu_id{0}) == 0);
  SECTION("after drop(), every operation through a kept handle is refused, with no write") {
    REQUIRE(m.table.drop(cpu_id{0}).has_value());
    m.hw.clear_log();
    CHECK(m.table.set(cpu, lstar, host_lstar).error() == errc::cpu_offline);  // the cached value
    CHECK(m.table.set(cpu, lstar, 0x42).error() == errc::cpu_offline);
    CHECK(m.table.update_cache(cpu, lstar, 0x42).error() == errc::cpu_offline);
    CHECK(m.table.may_clobber(cpu, lstar, 0x42).error() == errc::cpu_offline);
    CHECK(m.hw.log(cpu_id{0}).empty());
    CHECK_FALSE(m.table.registered(cpu_id{0}));
    SECTION("and work again once the CPU is back online") {
      REQUIRE(m.table.cpu_online(cpu_id{0}).has_value());
      CHECK(m.table.set(cpu, lstar, 0x42).has_value());
      CHECK(m.hw_lstar() == 0x42);
    }
  }
}

// Deliberate deviation from the kernel: kvm_on_user_return() writes with an unchecked wrmsrq()
// and sets curr = host whether or not the write faulted, so a faulting restore is never
// retried and the cache then believes the host value the hardware does not hold. uret keeps
// the slot dirty (the cache still says what the hardware holds), registers the restore again,
// and writes on the next return to user mode.
TEST_CASE("core: a faulting restore write is retried on the next return", "[contract]") {
  flaky_machine m;
  REQUIRE(m.table.set(cpu_id{0}, m.lstar, 0x42).has_value());
  m.hw.clear_log();
  m.hw.fail_next_write(cpu_id{0}, msrs::lstar);
  REQUIRE(m.chain.inner.fire(cpu_id{0}).has_value());  // the restore faults
  CHECK(m.hw_lstar() == 0x42);
  CHECK(m.table.current(cpu_id{0}, m.lstar).value() == 0x42);  // the kernel would say host
  CHECK(m.table.dirty_slots(cpu_id{0}) == (1U << m.lstar));
  CHECK(m.table.registered(cpu_id{0}));
  CHECK(m.hw.log(cpu_id{0}).empty());
  REQUIRE(m.chain.inner.fire(cpu_id{0}).has_value());  // next return: retried
  CHECK(m.hw_lstar() == host_lstar);
  CHECK(m.table.current(cpu_id{0}, m.lstar).value() == host_lstar);
  CHECK_FALSE(m.table.registered(cpu_id{0}));
  CHECK(m.hw.log(cpu_id{0}).size() == 1);
}

TEST_CASE("core: counters can be turned off", "[contract]") {
  flaky_machine m;
  m.table.set_counting(false);
  const auto before = m.table.stats(cpu_id{0});
  REQUIRE(m.table.set(cpu_id{0}, m.lstar, 0x42).has_value());
  REQUIRE(m.table.set(cpu_id{0}, m.lstar, 0x42).has_value());
  REQUIRE(m.table.on_user_return(cpu_id{0}).has_value());
  CHECK(m.table.stats(cpu_id{0}).writes == before.writes);
  CHECK(m.table.stats(cpu_id{0}).skipped == before.skipped);
  m.table.set_counting(true);
  REQUIRE(m.table.set(cpu_id{0}, m.lstar, 0x42).has_value());
  REQUIRE(m.table.set(cpu_id{0}, m.lstar, 0x42).has_value());
  REQUIRE(m.table.on_user_return(cpu_id{0}).has_value());
  CHECK(m.table.stats(cpu_id{0}).writes == before.writes + 2);
  CHECK(m.table.stats(cpu_id{0}).skipped == before.skipped + 1);
}

TEST_CASE("core: a failed URET_ASSERT says what failed before it traps", "[contract]") {
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    dup2(fds[1], 2);
    std::signal(SIGILL, SIG_DFL);  // not the test framework's handler
    std::signal(SIGTRAP, SIG_DFL);
    const uret::result<int> r = errc::msr_fault;
    std::_Exit(r.value());  // traps
  }
  close(fds[1]);
  std::string out;
  char buf[256];
  for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) > 0;)
    out.append(buf, static_cast<std::size_t>(n));
  close(fds[0]);
  int status = 0;
  REQUIRE(waitpid(child, &status, 0) == child);
  CHECK(WIFSIGNALED(status));
  CHECK(out.find("uret assertion failed: uret::result::value() on an error") != std::string::npos);
  CHECK(out.find("has_value()") != std::string::npos);
  CHECK(out.find("msr.hpp") != std::string::npos);
}
