// SPDX-License-Identifier: MIT
// The core's failure paths, pinned from the specification (docs/design.md; arch/x86/kvm/x86.c
// kvm_user_return_msr_cpu_online(), kvm_on_user_return(), kvm_set_user_return_msr()):
//  - cpu_online reads every MSR before it changes anything: a read that faults leaves the
//    table exactly as it was;
//  - a restore in which several writes fail reports the first failure (lowest slot), restores
//    every slot that can be restored, and stays registered for the rest;
//  - a notifier node on a CPU other than 0 keeps its CPU (register, fire, unregister mid-fire).
#include <uret/backends/mock_msr.hpp>
#include <uret/notifier.hpp>
#include <uret/slot_table.hpp>

#include <array>
#include <cstdint>
#include <vector>

#include <catch2/catch.hpp>

using uret::cpu_id;
using uret::errc;
namespace msrs = uret::msrs;

namespace {

// A backend whose writes of chosen MSRs fail with a chosen error: lets a test tell which of two
// failures a restore reports.
struct picky_backend {
  uret::mock_msr hw{4};
  std::vector<std::pair<uret::msr_index, errc>> fail;  // one-shot write failures

  uret::result<std::uint64_t> read(cpu_id c, uret::msr_index m) noexcept { return hw.read(c, m); }
  uret::result<void> write(cpu_id c, uret::msr_index m, std::uint64_t v) noexcept {
    for (std::size_t i = 0; i < fail.size(); ++i) {
      if (fail[i].first == m) {
        const errc e = fail[i].second;
        fail.erase(fail.begin() + static_cast<std::ptrdiff_t>(i));
        return e;
      }
    }
    return hw.write(c, m, v);
  }
};
static_assert(uret::msr_backend<picky_backend>);

constexpr std::array<uret::msr_index, 3> three = {msrs::star, msrs::lstar, msrs::tsc_aux};

}  // namespace

TEST_CASE("cpu_online: a read that faults changes nothing, not even the slots read before it",
          "[slot_table][failure]") {
  uret::mock_msr hw{2};
  for (std::size_t i = 0; i < three.size(); ++i) hw.declare(three[i], 100 + i);
  uret::notifier_chain<4> chain{2};
  uret::slot_table<uret::mock_msr, 4, 4> table{hw, chain, 2};
  for (auto m : three) REQUIRE(table.add(m));

  SECTION("first enable fails: the CPU stays offline") {
    hw.fail_next_read(cpu_id{1}, msrs::tsc_aux);
    REQUIRE(table.cpu_online(cpu_id{1}).error() == errc::msr_fault);
    REQUIRE_FALSE(table.online(cpu_id{1}));
    REQUIRE(table.current(cpu_id{1}, 0).error() == errc::cpu_offline);
    REQUIRE(table.set(cpu_id{1}, 0, 5).error() == errc::cpu_offline);
    REQUIRE(hw.stats(cpu_id{1}).writes == 0);
    REQUIRE_FALSE(table.registered(cpu_id{1}));
  }
  SECTION("enable again on an online CPU, last read faults: the old host values stay") {
    REQUIRE(table.cpu_online(cpu_id{1}));
    for (std::size_t i = 0; i < three.size(); ++i) REQUIRE(hw.poke(cpu_id{1}, three[i], 200 + i));
    hw.fail_next_read(cpu_id{1}, msrs::tsc_aux);
    REQUIRE(table.cpu_online(cpu_id{1}).error() == errc::msr_fault);
    REQUIRE(table.online(cpu_id{1}));
    for (unsigned s = 0; s < 3; ++s) {
      REQUIRE(*table.host(cpu_id{1}, s) == 100 + s);
      REQUIRE(*table.current(cpu_id{1}, s) == 100 + s);
    }
    REQUIRE(table.dirty_slots(cpu_id{1}) == 0);
    // Then a read that succeeds takes every new value.
    REQUIRE(table.cpu_online(cpu_id{1}));
    for (unsigned s = 0; s < 3; ++s) REQUIRE(*table.host(cpu_id{1}, s) == 200 + s);
  }
  SECTION("enable after an invalidate: a faulting read keeps the slot unknown and dirty") {
    REQUIRE(table.cpu_online(cpu_id{1}));
    REQUIRE(table.invalidate(cpu_id{1}, 0));
    REQUIRE(chain.fire(cpu_id{1}));  // restores host into slot 0, nothing registered
    REQUIRE(table.set(cpu_id{1}, 2, 9));
    REQUIRE(chain.fire(cpu_id{1}));
    REQUIRE(table.invalidate(cpu_id{1}, 1));
    REQUIRE(table.registered(cpu_id{1}));
    // Registered: refused before any read.
    REQUIRE(table.cpu_online(cpu_id{1}).error() == errc::guest_value_loaded);
    REQUIRE(hw.stats(cpu_id{1}).reads == 3);
    REQUIRE(table.unknown_slots(cpu_id{1}) == 0b010);
    REQUIRE(table.dirty_slots(cpu_id{1}) == 0b010);
  }
}

TEST_CASE("restore: when two writes fail the first failure is reported, the rest is restored",
          "[slot_table][failure]") {
  picky_backend be;
  for (std::size_t i = 0; i < three.size(); ++i) be.hw.declare(three[i], 100 + i);
  uret::notifier_chain<4> chain{4};
  uret::slot_table<picky_backend, 4, 4> table{be, chain, 4};
  for (auto m : three) REQUIRE(table.add(m));
  const cpu_id c{2};
  REQUIRE(table.cpu_online(c));
  for (unsigned s = 0; s < 3; ++s) REQUIRE(table.set(c, s, 7 + s));
  REQUIRE(table.dirty_slots(c) == 0b111);
  be.fail.push_back({msrs::tsc_aux, errc::io_error});  // slot 2
  be.fail.push_back({msrs::star, errc::msr_fault});    // slot 0
  const uret::result<void> r = table.on_user_return(c);
  REQUIRE_FALSE(r);
  REQUIRE(r.error() == errc::msr_fault);  // slot 0's, the first written
  // Slot 1 restored; slots 0 and 2 keep their cached guest values (the hardware holds them).
  REQUIRE(table.dirty_slots(c) == 0b101);
  REQUIRE(*table.current(c, 0) == 7);
  REQUIRE(*table.current(c, 1) == 101);
  REQUIRE(*table.current(c, 2) == 9);
  REQUIRE(be.hw.peek(c, msrs::star) == 7);
  REQUIRE(be.hw.peek(c, msrs::lstar) == 101);
  REQUIRE(be.hw.peek(c, msrs::tsc_aux) == 9);
  REQUIRE(table.registered(c));
  REQUIRE(chain.pending(c));
  REQUIRE(table.stats(c).writes == 3 + 1);
  // The next return to user mode finishes the job.
  REQUIRE(chain.fire(c));
  REQUIRE(table.dirty_slots(c) == 0);
  REQUIRE_FALSE(table.registered(c));
  REQUIRE(be.hw.peek(c, msrs::star) == 100);
  REQUIRE(be.hw.peek(c, msrs::tsc_aux) == 102);

  SECTION("drop with a failing write: still online, still registered, the error returned") {
    REQUIRE(table.set(c, 1, 55));
    be.fail.push_back({msrs::lstar, errc::not_permitted});
    REQUIRE(table.drop(c).error() == errc::not_permitted);
    REQUIRE(table.online(c));
    REQUIRE(table.registered(c));
    REQUIRE(*table.current(c, 1) == 55);
    REQUIRE(table.drop(c));
    REQUIRE_FALSE(table.online(c));
    REQUIRE(be.hw.peek(c, msrs::lstar) == 101);
  }
  SECTION("a failed set changes nothing and registers nothing") {
    be.fail.push_back({msrs::lstar, errc::io_error});
    REQUIRE(table.set(c, 1, 55).error() == errc::io_error);
    REQUIRE(*table.current(c, 1) == 101);
    REQUIRE(table.dirty_slots(c) == 0);
    REQUIRE_FALSE(table.registered(c));
    REQUIRE_FALSE(chain.pending(c));
  }
}

namespace {
struct probe {
  uret::user_return_notifier node;
  std::vector<std::uint32_t>* calls = nullptr;
  uret::notifier_chain<8>* chain = nullptr;
  uret::user_return_notifier* victim = nullptr;
  std::uint32_t id = 0;
};
void probe_callback(uret::user_return_notifier& n, cpu_id cpu) noexcept {
  auto& p = *static_cast<probe*>(n.context);
  p.calls->push_back(p.id * 100 + cpu.value);
  if (p.victim != nullptr) static_cast<void>(p.chain->unregister(*p.victim));
}
}  // namespace

TEST_CASE("notifier: a node on a CPU other than 0 keeps its CPU", "[notifier][failure]") {
  uret::notifier_chain<8> chain{4};
  std::vector<std::uint32_t> calls;
  probe a;
  probe b;
  probe z;
  for (probe* p : {&a, &b, &z}) {
    p->node.on_user_return = &probe_callback;
    p->node.context = p;
    p->calls = &calls;
    p->chain = &chain;
  }
  a.id = 1;
  b.id = 2;
  z.id = 3;
  REQUIRE(chain.register_notifier(cpu_id{0}, z.node));
  REQUIRE(chain.register_notifier(cpu_id{3}, b.node));
  REQUIRE(chain.register_notifier(cpu_id{3}, a.node));  // list of CPU 3: a, b
  REQUIRE(a.node.cpu().value == 3);
  REQUIRE(b.node.cpu().value == 3);
  REQUIRE(z.node.cpu().value == 0);
  REQUIRE(chain.register_notifier(cpu_id{1}, a.node).error() == errc::already_registered);
  REQUIRE(a.node.cpu().value == 3);

  SECTION("a callback on CPU 3 unregisters the next node: it is not called") {
    a.victim = &b.node;
    REQUIRE(chain.fire(cpu_id{3}));
    REQUIRE(calls == std::vector<std::uint32_t>{103});
    REQUIRE_FALSE(b.node.registered());
    REQUIRE(a.node.registered());
    REQUIRE(chain.pending(cpu_id{3}));
    REQUIRE(chain.pending(cpu_id{0}));  // CPU 0's list untouched
    REQUIRE(chain.fire(cpu_id{0}));
    REQUIRE(calls == std::vector<std::uint32_t>{103, 300});
  }
  SECTION("unregistering from CPU 3 empties CPU 3, not CPU 0") {
    REQUIRE(chain.unregister(a.node));
    REQUIRE(chain.unregister(b.node));
    REQUIRE_FALSE(chain.pending(cpu_id{3}));
    REQUIRE(chain.pending(cpu_id{0}));
    REQUIRE(chain.fire(cpu_id{3}));
    REQUIRE(calls.empty());
  }
  SECTION("a CPU out of range is refused and leaves the node alone") {
    probe q;
    q.node.on_user_return = &probe_callback;
    q.node.context = &q;
    REQUIRE(chain.register_notifier(cpu_id{4}, q.node).error() == errc::cpu_out_of_range);
    REQUIRE_FALSE(q.node.registered());
    REQUIRE(chain.fire(cpu_id{4}).error() == errc::cpu_out_of_range);
    REQUIRE_FALSE(chain.pending(cpu_id{4}));
  }
}

TEST_CASE("slot_table: the restore of CPU 2 is registered on CPU 2 and fired there",
          "[slot_table][failure]") {
  uret::mock_msr hw{3};
  hw.declare(msrs::tsc_aux, 0);
  uret::notifier_chain<4> chain{3};
  uret::slot_table<uret::mock_msr, 4, 4> table{hw, chain, 3};
  REQUIRE(table.add(msrs::tsc_aux));
  for (std::uint32_t c = 0; c < 3; ++c) REQUIRE(table.cpu_online(cpu_id{c}));
  REQUIRE(table.set(cpu_id{2}, 0, 42));
  REQUIRE(chain.pending(cpu_id{2}));
  REQUIRE_FALSE(chain.pending(cpu_id{0}));
  REQUIRE(chain.fire(cpu_id{0}));  // another CPU's return restores nothing here
  REQUIRE(hw.peek(cpu_id{2}, msrs::tsc_aux) == 42);
  REQUIRE(chain.fire(cpu_id{2}));
  REQUIRE(hw.peek(cpu_id{2}, msrs::tsc_aux) == 0);
  REQUIRE_FALSE(table.registered(cpu_id{2}));
  REQUIRE(hw.stats(cpu_id{0}).writes == 1);  // add()'s probe only, on CPU 0
}

TEST_CASE("slot_table: a table for 0 CPUs serves one; a dropped CPU refuses sets",
          "[slot_table][failure]") {
  uret::mock_msr hw{2};
  hw.declare(msrs::tsc_aux, 3);
  uret::notifier_chain<4> chain{2};
  uret::slot_table<uret::mock_msr, 4, 4> table{hw, chain, 0};
  REQUIRE(table.cpus() == 1);
  REQUIRE(table.add(msrs::tsc_aux));
  REQUIRE(table.cpu_online(cpu_id{0}));
  REQUIRE(table.cpu_online(cpu_id{1}).error() == errc::cpu_out_of_range);
  REQUIRE(table.set(cpu_id{0}, 0, 4));
  REQUIRE(table.drop(cpu_id{0}));
  REQUIRE(hw.peek(cpu_id{0}, msrs::tsc_aux) == 3);
  REQUIRE(table.set(cpu_id{0}, 0, 5).error() == errc::cpu_offline);
  REQUIRE(table.current(cpu_id{0}, 0).error() == errc::cpu_offline);
  REQUIRE(table.invalidate(cpu_id{0}).error() == errc::cpu_offline);
  REQUIRE(hw.peek(cpu_id{0}, msrs::tsc_aux) == 3);
}

// "Forget what the hardware holds": after invalidate() the next set() writes, whatever the value
// (docs/design.md, invalidate; kvm_set_user_return_msr() skips the WRMSR only for a value the
// cache knows the hardware holds). And a handle kept across drop() is refused, whatever the
// value, with nothing written.
TEST_CASE("slot_table: after invalidate every value is written; a stale handle is refused",
          "[slot_table][failure]") {
  uret::mock_msr hw{2};
  hw.declare(msrs::star, 5);
  uret::notifier_chain<4> chain{2};
  uret::slot_table<uret::mock_msr, 4, 4> table{hw, chain, 2};
  REQUIRE(table.add(msrs::star));
  const cpu_id c{1};
  REQUIRE(table.cpu_online(c));
  const std::uint64_t values[] = {5, ~std::uint64_t{5}, 0, 0x8000000000000005U};

  SECTION("checked set after invalidate") {
    for (std::uint64_t v : values) {
      REQUIRE(table.invalidate(c, 0));
      REQUIRE(hw.poke(c, msrs::star, 0x1234));  // firmware changed it behind the cache
      const std::uint64_t before = hw.stats(c).writes;
      REQUIRE(table.set(c, 0, v));
      REQUIRE(hw.stats(c).writes == before + 1);
      REQUIRE(hw.peek(c, msrs::star) == v);
      REQUIRE(*table.current(c, 0) == v);
    }
  }
  SECTION("handle set after invalidate of every slot") {
    auto h = *table.cpu(c);
    auto s = *table.slot(0);
    for (std::uint64_t v : values) {
      REQUIRE(table.invalidate(c));
      REQUIRE(hw.poke(c, msrs::star, 0x1234));
      const std::uint64_t before = hw.stats(c).writes;
      REQUIRE(table.set(h, s, v));
      REQUIRE(hw.stats(c).writes == before + 1);
      REQUIRE(hw.peek(c, msrs::star) == v);
    }
    REQUIRE(chain.fire(c));
    REQUIRE(hw.peek(c, msrs::star) == 5);
  }
  SECTION("a handle kept across drop") {
    auto h = *table.cpu(c);
    auto s = *table.slot(0);
    REQUIRE(table.set(h, s, 9));
    REQUIRE(table.drop(c));
    REQUIRE(hw.peek(c, msrs::star) == 5);
    const std::uint64_t before = hw.stats(c).writes;
    for (std::uint64_t v :
         {std::uint64_t{5}, std::uint64_t{9}, ~std::uint64_t{5}, std::uint64_t{0}}) {
      REQUIRE(table.set(h, s, v).error() == errc::cpu_offline);
      REQUIRE(table.may_clobber(h, s, v).error() == errc::cpu_offline);
      REQUIRE(table.update_cache(h, s, v).error() == errc::cpu_offline);
    }
    REQUIRE(hw.stats(c).writes == before);
    REQUIRE(hw.peek(c, msrs::star) == 5);
    REQUIRE_FALSE(table.registered(c));
    REQUIRE_FALSE(chain.pending(c));
  }
}

// kvm_user_return_msr_update_cache(): the cache takes `value` as what the hardware holds, even
// for a slot it had forgotten; a set() of that value then needs no write (I4), and the restore
// writes the host value back.
TEST_CASE("slot_table: update_cache makes an unknown slot known", "[slot_table][failure]") {
  uret::mock_msr hw{2};
  hw.declare(msrs::star, 5);
  hw.declare(msrs::lstar, 6);
  uret::notifier_chain<4> chain{2};
  uret::slot_table<uret::mock_msr, 4, 4> table{hw, chain, 2};
  REQUIRE(table.add(msrs::star));
  REQUIRE(table.add(msrs::lstar));
  const cpu_id c{1};
  REQUIRE(table.cpu_online(c));
  auto check = [&](bool handles) {
    REQUIRE(table.invalidate(c));
    REQUIRE(hw.poke(c, msrs::star, 77));  // the firmware wrote 77 and says so
    if (handles) {
      REQUIRE(table.update_cache(*table.cpu(c), *table.slot(0), 77));
    } else {
      REQUIRE(table.update_cache(c, 0, 77));
    }
    REQUIRE(*table.current(c, 0) == 77);
    REQUIRE(table.unknown_slots(c) == 0b10);
    const std::uint64_t before = hw.stats(c).writes;
    REQUIRE(table.set(c, 0, 77));
    REQUIRE(hw.stats(c).writes == before);
    REQUIRE(table.registered(c));
    REQUIRE(chain.fire(c));
    REQUIRE(hw.peek(c, msrs::star) == 5);
    REQUIRE(hw.peek(c, msrs::lstar) == 6);
    REQUIRE(table.dirty_slots(c) == 0);
  };
  SECTION("checked") { check(false); }
  SECTION("handles, restore not registered") {
    REQUIRE(table.drop(c));
    REQUIRE(table.cpu_online(c));
    check(true);
  }
}

// Handles can only be obtained valid (docs/design.md, handles): cpu() for a CPU in range and
// online, slot() for a slot add() handed out.
TEST_CASE("slot_table: handles only for online CPUs and added slots", "[slot_table][failure]") {
  uret::mock_msr hw{2};
  hw.declare(msrs::star, 5);
  uret::notifier_chain<4> chain{2};
  uret::slot_table<uret::mock_msr, 4, 4> table{hw, chain, 2};
  REQUIRE(table.slot(0).error() == errc::slot_not_added);
  REQUIRE(table.add(msrs::star));
  REQUIRE(table.slot(0));
  REQUIRE((*table.slot(0)).index() == 0);
  REQUIRE(table.slot(1).error() == errc::slot_not_added);
  REQUIRE(table.slot(3).error() == errc::slot_not_added);
  REQUIRE(table.slot(4).error() == errc::slot_out_of_range);
  REQUIRE(table.cpu(cpu_id{1}).error() == errc::cpu_offline);
  REQUIRE(table.cpu(cpu_id{2}).error() == errc::cpu_out_of_range);
  REQUIRE(table.cpu_online(cpu_id{1}));
  REQUIRE(table.cpu(cpu_id{1}));
  REQUIRE((*table.cpu(cpu_id{1})).id().value == 1);
  REQUIRE(table.cpu(cpu_id{0}).error() == errc::cpu_offline);
  REQUIRE(table.drop(cpu_id{1}));
  REQUIRE(table.cpu(cpu_id{1}).error() == errc::cpu_offline);
}

namespace {
// A notifier policy whose next registrations fail: the table must then change nothing (I5).
struct flaky_chain {
  using node_type = uret::user_return_notifier;
  uret::notifier_chain<4> inner{2};
  int fail_registers = 0;
  [[nodiscard]] std::size_t cpus() const noexcept { return inner.cpus(); }
  uret::result<void> register_notifier(cpu_id c, node_type& n) noexcept {
    if (fail_registers > 0) {
      --fail_registers;
      return errc::busy;
    }
    return inner.register_notifier(c, n);
  }
  uret::result<void> unregister(node_type& n) noexcept { return inner.unregister(n); }
};
static_assert(uret::notifier_policy<flaky_chain>);
}  // namespace

// kvm_set_user_return_msr() registers the notifier after its WRMSR; here a registration that
// fails must leave nothing awaiting a restore that will never run: the write is taken back
// and the cache says so (docs/design.md, I1 and I5).
TEST_CASE("slot_table: a failed registration takes the write back and marks nothing ready",
          "[slot_table][failure]") {
  uret::mock_msr hw{2};
  hw.declare(msrs::star, 5);
  hw.declare(msrs::lstar, 6);
  flaky_chain chain;
  uret::slot_table<uret::mock_msr, 4, 4, flaky_chain> table{hw, chain, 2};
  REQUIRE(table.add(msrs::star));
  REQUIRE(table.add(msrs::lstar));
  const cpu_id c{1};
  REQUIRE(table.cpu_online(c));

  auto nothing_pending = [&] {
    REQUIRE(hw.peek(c, msrs::star) == 5);
    REQUIRE(*table.current(c, 0) == 5);
    REQUIRE(table.dirty_slots(c) == 0);
    REQUIRE(table.unknown_slots(c) == 0);
    REQUIRE_FALSE(table.registered(c));
    REQUIRE_FALSE(chain.inner.pending(c));
  };
  SECTION("checked set") {
    chain.fail_registers = 1;
    REQUIRE(table.set(c, 0, 9).error() == errc::busy);
    nothing_pending();
  }
  SECTION("handle set") {
    chain.fail_registers = 1;
    REQUIRE(table.set(*table.cpu(c), *table.slot(0), 9).error() == errc::busy);
    nothing_pending();
  }
  SECTION("update_cache and invalidate") {
    chain.fail_registers = 2;
    REQUIRE(table.update_cache(c, 0, 7).error() == errc::busy);
    REQUIRE(table.invalidate(c, 0).error() == errc::busy);
    nothing_pending();
  }
  // Then the next set registers and the restore runs as usual.
  REQUIRE(table.set(c, 0, 9));
  REQUIRE(hw.peek(c, msrs::star) == 9);
  REQUIRE(table.registered(c));
  REQUIRE(chain.inner.pending(c));
  REQUIRE(table.set(*table.cpu(c), *table.slot(1), 10));
  REQUIRE(chain.inner.fire(c));
  REQUIRE(hw.peek(c, msrs::star) == 5);
  REQUIRE(hw.peek(c, msrs::lstar) == 6);
  REQUIRE(table.dirty_slots(c) == 0);
}

namespace {
// Makes the write after the next successful one fault: here, the write that would take a
// guest value back after a failed registration.
struct fail_write_after_next {
  uret::mock_msr* hw = nullptr;
  bool armed = false;
  static void hook(void* ctx, cpu_id cpu, uret::msr_index msr, std::uint64_t) noexcept {
    auto* self = static_cast<fail_write_after_next*>(ctx);
    if (!self->armed) return;
    self->armed = false;
    self->hw->fail_next_write(cpu, msr);
  }
};
}  // namespace

// A guest value the table could not take back (the registration failed, and so did the write
// of the host value) awaits a restore with nothing registered: cpu_online() must not capture
// it as the host value for good (docs/design.md, "Host capture while a guest value is
// loaded"), and must change nothing.
TEST_CASE("slot_table: cpu_online is refused while a slot is dirty, registered or not",
          "[slot_table][failure]") {
  uret::mock_msr hw{2};
  hw.declare(msrs::star, 5);
  hw.declare(msrs::lstar, 6);
  flaky_chain chain;
  uret::slot_table<uret::mock_msr, 4, 4, flaky_chain> table{hw, chain, 2};
  REQUIRE(table.add(msrs::star));
  REQUIRE(table.add(msrs::lstar));
  const cpu_id c{1};
  REQUIRE(table.cpu_online(c));
  fail_write_after_next arm{&hw, true};
  hw.set_write_hook(&fail_write_after_next::hook, &arm);
  chain.fail_registers = 1;
  REQUIRE(table.set(c, 0, 9).error() == errc::busy);
  hw.set_write_hook(nullptr, nullptr);
  // The guest value stayed in the hardware, and the cache says so.
  REQUIRE(hw.peek(c, msrs::star) == 9);
  REQUIRE(*table.current(c, 0) == 9);
  REQUIRE(table.dirty_slots(c) == 0b01);
  REQUIRE_FALSE(table.registered(c));

  REQUIRE(table.cpu_online(c).error() == errc::guest_value_loaded);
  REQUIRE(hw.stats(c).reads == 2);  // the first cpu_online's only
  REQUIRE(*table.host(c, 0) == 5);
  REQUIRE(*table.current(c, 0) == 9);
  REQUIRE(table.dirty_slots(c) == 0b01);
  // A restore puts the host value back; then the CPU can be brought online again.
  REQUIRE(table.on_user_return(c));
  REQUIRE(hw.peek(c, msrs::star) == 5);
  REQUIRE(table.cpu_online(c));
  REQUIRE(*table.host(c, 0) == 5);
  REQUIRE(*table.host(c, 1) == 6);
}

// A table over more CPUs than its chain serves refuses to bring the others online: their
// restore could never be registered.
TEST_CASE("slot_table: a CPU the chain does not serve is refused", "[slot_table][failure]") {
  uret::mock_msr hw{4};
  hw.declare(msrs::star, 5);
  uret::notifier_chain<4> chain{2};
  uret::slot_table<uret::mock_msr, 4, 4> table{hw, chain, 4};
  REQUIRE(table.add(msrs::star));
  REQUIRE(table.cpus() == 4);
  REQUIRE(table.cpu_online(cpu_id{1}));
  for (std::uint32_t c = 2; c < 4; ++c) {
    REQUIRE(table.cpu_online(cpu_id{c}).error() == errc::cpu_out_of_range);
    REQUIRE_FALSE(table.online(cpu_id{c}));
    REQUIRE(table.set(cpu_id{c}, 0, 9).error() == errc::cpu_offline);
  }
  REQUIRE(hw.stats(cpu_id{2}).reads == 0);
}

// update_cache() through a handle while the restore is registered: the slot still needs its
// host value back on the return to user mode.
TEST_CASE("slot_table: update_cache through a handle is restored", "[slot_table][failure]") {
  uret::mock_msr hw{2};
  hw.declare(msrs::star, 5);
  hw.declare(msrs::lstar, 6);
  uret::notifier_chain<4> chain{2};
  uret::slot_table<uret::mock_msr, 4, 4> table{hw, chain, 2};
  REQUIRE(table.add(msrs::star));
  REQUIRE(table.add(msrs::lstar));
  const cpu_id c{1};
  REQUIRE(table.cpu_online(c));
  auto h = *table.cpu(c);
  REQUIRE(table.set(h, *table.slot(1), 10));  // registered
  REQUIRE(hw.poke(c, msrs::star, 77));        // the firmware wrote 77 and says so
  REQUIRE(table.update_cache(h, *table.slot(0), 77));
  REQUIRE(*table.current(c, 0) == 77);
  REQUIRE(table.dirty_slots(c) == 0b11);
  REQUIRE(chain.fire(c));
  REQUIRE(hw.peek(c, msrs::star) == 5);
  REQUIRE(hw.peek(c, msrs::lstar) == 6);
}

// hlist_del() semantics for the table's own node: taken off a list it shares with another
// notifier, the other stays correctly linked (user_return_notifier_unregister() of it later
// empties the list).
TEST_CASE("notifier: a slot table's node taken off a shared list leaves the others linked",
          "[notifier][failure]") {
  uret::mock_msr hw{4};
  hw.declare(msrs::star, 5);
  uret::notifier_chain<8> chain{4};
  uret::slot_table<uret::mock_msr, 4, 8> table{hw, chain, 4};
  REQUIRE(table.add(msrs::star));
  const cpu_id c{2};
  REQUIRE(table.cpu_online(c));
  std::vector<std::uint32_t> calls;
  probe x;
  x.node.on_user_return = &probe_callback;
  x.node.context = &x;
  x.calls = &calls;
  x.chain = &chain;
  x.id = 7;
  REQUIRE(chain.register_notifier(c, x.node));
  REQUIRE(table.set(c, 0, 9));  // the table's node goes in front of x
  REQUIRE(table.registered(c));
  REQUIRE(table.on_user_return(c));  // takes the table's node off
  REQUIRE(hw.peek(c, msrs::star) == 5);
  REQUIRE_FALSE(table.registered(c));
  REQUIRE(chain.pending(c));  // x still there
  REQUIRE(chain.unregister(x.node));
  REQUIRE_FALSE(x.node.registered());
  REQUIRE_FALSE(chain.pending(c));
  REQUIRE(chain.fire(c));
  REQUIRE(calls.empty());
  // Both on the list again: one return fires both, then nothing is left.
  REQUIRE(chain.register_notifier(c, x.node));
  REQUIRE(table.set(c, 0, 9));
  REQUIRE(chain.fire(c));
  REQUIRE(calls == std::vector<std::uint32_t>{702});
  REQUIRE(hw.peek(c, msrs::star) == 5);
  REQUIRE(chain.pending(c));  // x stays registered (its callback does not unregister it)
  REQUIRE(chain.unregister(x.node));
  REQUIRE_FALSE(chain.pending(c));
}

namespace {
using fire_table = uret::slot_table<uret::mock_msr, 4, 8>;
struct dropper {
  uret::user_return_notifier node;
  fire_table* table = nullptr;
  int calls = 0;
};
// A notifier that disables and re-enables virtualization on its CPU and loads a guest value
// again: it takes the table's node off the list and registers it anew, mid-fire.
void dropper_callback(uret::user_return_notifier& n, cpu_id cpu) noexcept {
  auto& d = *static_cast<dropper*>(n.context);
  ++d.calls;
  static_cast<void>(d.table->drop(cpu));
  static_cast<void>(d.table->cpu_online(cpu));
  static_cast<void>(d.table->set(cpu, 0, 9));
}
}  // namespace

// The chain's contract (fire_user_return_notifiers() walks with the next node saved): a
// callback may unregister any node and register nodes, which this firing does not visit. Here
// the node a fire would visit next is the table's, taken off and registered again by a callback.
TEST_CASE("notifier: a node unlinked and registered again mid-fire is not visited",
          "[notifier][failure]") {
  uret::mock_msr hw{4};
  hw.declare(msrs::star, 5);
  uret::notifier_chain<8> chain{4};
  fire_table table{hw, chain, 4};
  REQUIRE(table.add(msrs::star));
  const cpu_id c{3};
  REQUIRE(table.cpu_online(c));
  REQUIRE(table.set(c, 0, 9));  // the table's node: the list is [table]
  dropper d;
  d.node.on_user_return = &dropper_callback;
  d.node.context = &d;
  d.table = &table;
  REQUIRE(chain.register_notifier(c, d.node));  // [dropper, table]
  REQUIRE(chain.fire(c));
  REQUIRE(d.calls == 1);
  // The callback's set() registered the restore again: a later return runs it.
  REQUIRE(table.registered(c));
  REQUIRE(hw.peek(c, msrs::star) == 9);
  REQUIRE(chain.unregister(d.node));
  REQUIRE(chain.fire(c));
  REQUIRE(d.calls == 1);
  REQUIRE(hw.peek(c, msrs::star) == 5);
  REQUIRE_FALSE(chain.pending(c));
}

namespace {
// Lands a virtualization disable (drop) on its CPU inside the next write.
struct drop_in_write {
  fire_table* table = nullptr;
  bool armed = false;
  static void hook(void* ctx, cpu_id cpu, uret::msr_index, std::uint64_t) noexcept {
    auto* self = static_cast<drop_in_write*>(ctx);
    if (!self->armed) return;
    self->armed = false;
    static_cast<void>(self->table->drop(cpu));
  }
};
}  // namespace

// A disable inside the restore's first write takes the CPU offline; the restore then writes the
// rest and must leave the offline CPU's slots unknown, so that a handle kept from before is
// refused like any other after drop(), even for the value the hardware now holds.
TEST_CASE("slot_table: after a disable inside the restore, kept handles are refused",
          "[slot_table][failure]") {
  uret::mock_msr hw{4};
  hw.declare(msrs::star, 5);
  hw.declare(msrs::lstar, 6);
  uret::notifier_chain<8> chain{4};
  fire_table table{hw, chain, 4};
  REQUIRE(table.add(msrs::star));
  REQUIRE(table.add(msrs::lstar));
  const cpu_id c{2};
  REQUIRE(table.cpu_online(c));
  const auto cpu = *table.cpu(c);
  const auto star = *table.slot(0);
  REQUIRE(table.set(cpu, star, 9));
  REQUIRE(table.set(c, 1, 10));
  drop_in_write d{&table, true};
  hw.set_write_hook(&drop_in_write::hook, &d);
  REQUIRE(chain.fire(c));
  hw.set_write_hook(nullptr, nullptr);
  REQUIRE_FALSE(d.armed);
  REQUIRE_FALSE(table.online(c));
  REQUIRE_FALSE(table.registered(c));
  REQUIRE(hw.peek(c, msrs::star) == 5);
  REQUIRE(hw.peek(c, msrs::lstar) == 6);
  REQUIRE(table.unknown_slots(c) == 0);  // offline: nothing to report
  REQUIRE(table.set(cpu, star, 5).error() == errc::cpu_offline);
  REQUIRE(table.update_cache(cpu, star, 5).error() == errc::cpu_offline);
  REQUIRE(table.may_clobber(cpu, star, 5).error() == errc::cpu_offline);
  REQUIRE(hw.stats(c).writes == 4);  // the two sets and the two restore writes
  // Online again: the handles work as before.
  REQUIRE(table.cpu_online(c));
  REQUIRE(table.set(cpu, star, 5));
  REQUIRE(hw.stats(c).writes == 4);
}
