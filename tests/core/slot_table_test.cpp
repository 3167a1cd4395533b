// SPDX-License-Identifier: MIT
// Tests of uret/slot_table.hpp: KVM's exact behaviour, this library's additions, bad input,
// failure paths and re-entry.
#include <uret/backends/mock_msr.hpp>
#include <uret/slot_table.hpp>

#include <catch2/catch.hpp>

#include <vector>

using uret::cpu_id;
using uret::errc;
namespace msrs = uret::msrs;
using record = uret::mock_msr::write_record;

namespace {
constexpr std::uint64_t host_lstar = 0xffffffff81e00080;
constexpr std::uint64_t host_fmask = 0x257fd5;

struct machine {
  uret::mock_msr hw{2};
  uret::notifier_chain<4> chain{2};
  uret::slot_table<uret::mock_msr, 16, 4> table{hw, chain, 2};
  unsigned lstar = 0, fmask = 0, tsc_aux = 0;

  machine() {
    hw.declare(msrs::lstar, host_lstar);
    hw.declare(msrs::syscall_mask, host_fmask);
    hw.declare(msrs::tsc_aux, 0);
    REQUIRE(hw.poke(cpu_id{1}, msrs::tsc_aux, 1));  // Linux: TSC_AUX = CPU number
    lstar = *table.add(msrs::lstar);
    fmask = *table.add(msrs::syscall_mask);
    tsc_aux = *table.add(msrs::tsc_aux);
    REQUIRE(table.cpu_online(cpu_id{0}).has_value());
    REQUIRE(table.cpu_online(cpu_id{1}).has_value());
    hw.clear_log();
    probe_writes = table.stats(cpu_id{0}).writes;  // add() probed on CPU 0
  }
  std::uint64_t probe_writes = 0;
  // Writes the table issued on `c` since set-up.
  std::uint64_t writes(cpu_id c) const {
    return table.stats(c).writes - (c == cpu_id{0} ? probe_writes : 0);
  }
  std::vector<record> log(cpu_id c) const {
    const auto l = hw.log(c);
    return {l.begin(), l.end()};
  }
  std::uint64_t hw_value(cpu_id c, uret::msr_index m) const { return *hw.peek(c, m); }
};
const cpu_id cpu0{0}, cpu1{1};
}  // namespace

TEST_CASE("slot_table: add hands out dense slots and probes read-then-write-back", "[slot_table]") {
  uret::mock_msr hw{1};
  hw.declare(msrs::star, 0x23001000000000);
  hw.declare(msrs::lstar, 5);
  uret::notifier_chain<1> chain{1};
  uret::slot_table<uret::mock_msr, 16, 1> table{hw, chain, 1};
  CHECK(*table.add(msrs::star) == 0);
  CHECK(*table.add(msrs::lstar) == 1);
  CHECK(table.size() == 2);
  CHECK(*table.msr(1) == msrs::lstar);
  CHECK(*table.find(msrs::lstar) == 1);
  CHECK(table.find(msrs::tsc_aux).error() == errc::unknown_msr);
  // kvm_probe_user_return_msr(): one read, then the same value written back.
  CHECK(hw.stats(cpu_id{0}).reads == 2);
  REQUIRE(hw.log(cpu_id{0}).size() == 2);
  CHECK(hw.log(cpu_id{0})[0] == record{msrs::star, 0x23001000000000});
  CHECK(hw.log(cpu_id{0})[1] == record{msrs::lstar, 5});
  CHECK(table.stats(cpu_id{0}).writes == 2);
}

TEST_CASE("slot_table: add rejects what KVM would BUG on or fail", "[slot_table]") {
  uret::mock_msr hw{2};
  uret::notifier_chain<2> chain{2};
  uret::slot_table<uret::mock_msr, 2, 2> table{hw, chain, 2};
  hw.declare(msrs::star);
  hw.declare(msrs::lstar);
  hw.declare(msrs::tsc_aux);
  SECTION("a probe read that faults adds nothing") {
    CHECK(table.add(msrs::cstar).error() == errc::msr_fault);
    CHECK(table.size() == 0);
  }
  SECTION("a probe write that faults adds nothing") {
    hw.fail_next_write(cpu_id{0}, msrs::star);
    CHECK(table.add(msrs::star).error() == errc::msr_fault);
    CHECK(table.size() == 0);
    CHECK(table.find(msrs::star).error() == errc::unknown_msr);
  }
  SECTION("duplicates") {
    REQUIRE(table.add(msrs::star).has_value());
    CHECK(table.add(msrs::star).error() == errc::duplicate_msr);
    CHECK(table.size() == 1);
  }
  SECTION("beyond capacity") {
    REQUIRE(table.add(msrs::star).has_value());
    REQUIRE(table.add(msrs::lstar).has_value());
    CHECK(table.add(msrs::tsc_aux).error() == errc::table_full);
  }
  SECTION("probe CPU out of range") {
    CHECK(table.add(msrs::star, cpu_id{2}).error() == errc::cpu_out_of_range);
  }
  SECTION("after a CPU is online the slots are fixed") {
    REQUIRE(table.add(msrs::star).has_value());
    REQUIRE(table.cpu_online(cpu_id{1}).has_value());
    CHECK(table.add(msrs::lstar).error() == errc::table_in_use);
    REQUIRE(table.drop(cpu_id{1}).has_value());
    CHECK(table.add(msrs::lstar).has_value());
  }
}

TEST_CASE("slot_table: a 17th add on the default table is refused", "[slot_table]") {
  uret::mock_msr hw{1};
  uret::notifier_chain<1> chain{1};
  uret::slot_table<uret::mock_msr, 16, 1> table{hw, chain, 1};
  for (std::uint32_t i = 0; i < 17; ++i) hw.declare(uret::msr_index{0x1000 + i});
  for (std::uint32_t i = 0; i < 16; ++i) REQUIRE(*table.add(uret::msr_index{0x1000 + i}) == i);
  CHECK(table.add(uret::msr_index{0x1000 + 16}).error() == errc::table_full);
}

TEST_CASE("slot_table: cpu_online captures host = curr from hardware", "[slot_table]") {
  machine m;
  CHECK(*m.table.host(cpu0, m.lstar) == host_lstar);
  CHECK(*m.table.current(cpu0, m.lstar) == host_lstar);
  CHECK(*m.table.host(cpu1, m.tsc_aux) == 1);
  CHECK(*m.table.host(cpu0, m.tsc_aux) == 0);
  CHECK(m.table.online(cpu0));
  CHECK_FALSE(m.table.registered(cpu0));
  SECTION("refused while a guest value is loaded (it would become host for good)") {
    REQUIRE(m.table.set(cpu0, m.lstar, 0x1234).has_value());
    CHECK(m.table.cpu_online(cpu0).error() == errc::guest_value_loaded);
    CHECK(*m.table.host(cpu0, m.lstar) == host_lstar);
  }
  SECTION("a read that faults changes nothing") {
    REQUIRE(m.table.drop(cpu0).has_value());
    m.hw.fail_next_read(cpu0, msrs::syscall_mask);  // the second of three reads
    REQUIRE(m.hw.poke(cpu0, msrs::lstar, 0x999));
    CHECK(m.table.cpu_online(cpu0).error() == errc::msr_fault);
    CHECK_FALSE(m.table.online(cpu0));
    REQUIRE(m.table.cpu_online(cpu0).has_value());
    CHECK(*m.table.host(cpu0, m.lstar) == 0x999);
  }
}

TEST_CASE("slot_table: set merges bits outside the mask from host, not from curr", "[slot_table]") {
  machine m;
  REQUIRE(m.table.set(cpu0, m.fmask, 0xAAAA00).has_value());  // curr = 0xAAAA00
  REQUIRE(m.table.set(cpu0, m.fmask, 0x000011, 0xFF).has_value());
  // (0x11 & 0xFF) | (host & ~0xFF) = 0x257f11 - curr's 0xAAAA00 bits play no part.
  CHECK(*m.table.current(cpu0, m.fmask) == ((host_fmask & ~0xFFULL) | 0x11));
  CHECK(m.hw_value(cpu0, msrs::syscall_mask) == ((host_fmask & ~0xFFULL) | 0x11));
  CHECK(m.log(cpu0) == std::vector<record>{{msrs::syscall_mask, 0xAAAA00},
                                           {msrs::syscall_mask, (host_fmask & ~0xFFULL) | 0x11}});
}

TEST_CASE("slot_table: a set equal to curr neither writes nor registers", "[slot_table]") {
  machine m;
  REQUIRE(m.table.set(cpu0, m.lstar, host_lstar).has_value());
  CHECK(m.log(cpu0).empty());
  CHECK_FALSE(m.table.registered(cpu0));
  CHECK_FALSE(m.chain.pending(cpu0));
  CHECK(m.table.stats(cpu0).skipped == 1);
  SECTION("also when the merge makes it equal") {
    REQUIRE(m.table.set(cpu0, m.lstar, 0, 0).has_value());  // mask 0: all bits from host
    CHECK(m.log(cpu0).empty());
    CHECK_FALSE(m.table.registered(cpu0));
  }
  SECTION("and after a guest value is loaded, the same value again is skipped") {
    REQUIRE(m.table.set(cpu0, m.lstar, 0x42).has_value());
    REQUIRE(m.table.set(cpu0, m.lstar, 0x42).has_value());
    CHECK(m.log(cpu0).size() == 1);
    CHECK(m.table.stats(cpu0).skipped == 2);
    CHECK(m.writes(cpu0) == 1);
  }
}

TEST_CASE("slot_table: a write that faults changes neither curr nor registration (I5)",
          "[slot_table]") {
  machine m;
  m.hw.fail_next_write(cpu0, msrs::lstar);
  CHECK(m.table.set(cpu0, m.lstar, 0x42).error() == errc::msr_fault);
  CHECK(*m.table.current(cpu0, m.lstar) == host_lstar);
  CHECK_FALSE(m.table.registered(cpu0));
  CHECK(m.table.dirty_slots(cpu0) == 0);
  CHECK(m.writes(cpu0) == 0);
  SECTION("also when already registered with another guest value") {
    REQUIRE(m.table.set(cpu0, m.lstar, 0x42).has_value());
    m.hw.fail_next_write(cpu0, msrs::lstar);
    CHECK(m.table.set(cpu0, m.lstar, 0x43).error() == errc::msr_fault);
    CHECK(*m.table.current(cpu0, m.lstar) == 0x42);
    CHECK(m.hw_value(cpu0, msrs::lstar) == 0x42);
    CHECK(m.table.registered(cpu0));
  }
  SECTION("a write of reserved bits is a fault too") {
    m.hw.declare(msrs::tsc_aux, 0, 0xffffffff00000000);
    CHECK(m.table.set(cpu0, m.tsc_aux, 0xffffffff00000000).error() == errc::msr_fault);
    CHECK(*m.table.current(cpu0, m.tsc_aux) == 0);
  }
}

TEST_CASE("slot_table: the restore writes exactly the slots with host != curr, in slot order",
          "[slot_table]") {
  machine m;
  REQUIRE(m.table.set(cpu0, m.tsc_aux, 0x77).has_value());
  REQUIRE(m.table.set(cpu0, m.lstar, 0x42).has_value());
  REQUIRE(m.table.set(cpu0, m.fmask, host_fmask).has_value());  // equal: no write
  m.hw.clear_log();
  CHECK(m.table.registered(cpu0));
  CHECK(m.chain.pending(cpu0));
  REQUIRE(m.chain.fire(cpu0).has_value());
  CHECK(m.log(cpu0) == std::vector<record>{{msrs::lstar, host_lstar}, {msrs::tsc_aux, 0}});
  CHECK_FALSE(m.table.registered(cpu0));
  CHECK(*m.table.current(cpu0, m.lstar) == host_lstar);
  CHECK(*m.table.current(cpu0, m.tsc_aux) == 0);
  CHECK(m.table.dirty_slots(cpu0) == 0);
  CHECK(m.log(cpu1).empty());
  SECTION("a second return to user writes nothing") {
    m.hw.clear_log();
    REQUIRE(m.chain.fire(cpu0).has_value());
    REQUIRE(m.table.on_user_return(cpu0).has_value());
    CHECK(m.log(cpu0).empty());
  }
  SECTION("a guest value set back to host stays registered but needs no restore write") {
    REQUIRE(m.table.set(cpu0, m.lstar, 0x42).has_value());
    REQUIRE(m.table.set(cpu0, m.lstar, host_lstar).has_value());
    CHECK(m.table.registered(cpu0));  // kvm_set_user_return_msr registers on every write
    m.hw.clear_log();
    REQUIRE(m.chain.fire(cpu0).has_value());
    CHECK(m.log(cpu0).empty());
    CHECK_FALSE(m.table.registered(cpu0));
  }
}

TEST_CASE("slot_table: update_cache records without writing, and registers", "[slot_table]") {
  machine m;
  SECTION("a value different from host") {
    REQUIRE(m.table.update_cache(cpu0, m.lstar, 0).has_value());
    CHECK(m.log(cpu0).empty());
    CHECK(*m.table.current(cpu0, m.lstar) == 0);
    CHECK(m.table.registered(cpu0));
  }
  SECTION("even a value equal to host registers (no compare in the kernel helper)") {
    REQUIRE(m.table.update_cache(cpu0, m.tsc_aux, 0).has_value());
    CHECK(m.table.registered(cpu0));
    REQUIRE(m.chain.fire(cpu0).has_value());
    CHECK(m.log(cpu0).empty());
  }
  SECTION("the historical TDX bug: update_cache when the module did not clobber") {
    // TD entry failed early: hardware still holds host LSTAR, the cache is told 0.
    REQUIRE(m.table.update_cache(cpu0, m.lstar, 0).has_value());
    // A later set of 0 (a VMX guest whose LSTAR is 0) is skipped: hardware keeps host LSTAR.
    REQUIRE(m.table.set(cpu0, m.lstar, 0).has_value());
    CHECK(m.hw_value(cpu0, msrs::lstar) == host_lstar);  // the lie update_cache allows
  }
}

TEST_CASE("slot_table: invalidate makes the next set and restore write unconditionally",
          "[slot_table]") {
  machine m;
  REQUIRE(m.table.invalidate(cpu0, m.lstar).has_value());
  CHECK(m.table.current(cpu0, m.lstar).error() == errc::value_unknown);
  CHECK(m.table.registered(cpu0));
  SECTION("set of the cached value still writes") {
    REQUIRE(m.table.set(cpu0, m.lstar, host_lstar).has_value());
    CHECK(m.log(cpu0) == std::vector<record>{{msrs::lstar, host_lstar}});
    CHECK(*m.table.current(cpu0, m.lstar) == host_lstar);
    m.hw.clear_log();
    REQUIRE(m.chain.fire(cpu0).has_value());
    CHECK(m.log(cpu0).empty());
  }
  SECTION("the restore writes host even though curr == host") {
    REQUIRE(m.chain.fire(cpu0).has_value());
    CHECK(m.log(cpu0) == std::vector<record>{{msrs::lstar, host_lstar}});
    CHECK(*m.table.current(cpu0, m.lstar) == host_lstar);
  }
  SECTION("a failed set leaves the slot unknown") {
    m.hw.fail_next_write(cpu0, msrs::lstar);
    CHECK_FALSE(m.table.set(cpu0, m.lstar, 5).has_value());
    CHECK(m.table.current(cpu0, m.lstar).error() == errc::value_unknown);
  }
  SECTION("invalidate(cpu) covers every slot") {
    REQUIRE(m.table.invalidate(cpu1).has_value());
    CHECK(m.table.unknown_slots(cpu1) == 0b111);
    REQUIRE(m.chain.fire(cpu1).has_value());
    CHECK(m.log(cpu1).size() == 3);
    CHECK(m.table.unknown_slots(cpu1) == 0);
  }
}

TEST_CASE("slot_table: may_clobber is right whether or not the firmware wrote", "[slot_table]") {
  machine m;
  SECTION("cache already holds the value: stays known, nothing registered") {
    REQUIRE(m.table.may_clobber(cpu0, m.tsc_aux, 0).has_value());  // CPU 0: host TSC_AUX = 0
    CHECK(*m.table.current(cpu0, m.tsc_aux) == 0);
    CHECK_FALSE(m.table.registered(cpu0));
  }
  SECTION("firmware did clobber: restore writes host") {
    REQUIRE(m.hw.poke(cpu1, msrs::tsc_aux, 0));
    REQUIRE(m.table.may_clobber(cpu1, m.tsc_aux, 0).has_value());
    CHECK(m.table.current(cpu1, m.tsc_aux).error() == errc::value_unknown);
    REQUIRE(m.chain.fire(cpu1).has_value());
    CHECK(m.hw_value(cpu1, msrs::tsc_aux) == 1);
  }
  SECTION("firmware did not clobber (failed entry): a later set of that value still writes") {
    REQUIRE(m.table.may_clobber(cpu0, m.lstar, 0).has_value());
    REQUIRE(m.table.set(cpu0, m.lstar, 0).has_value());
    CHECK(m.hw_value(cpu0, msrs::lstar) == 0);  // where update_cache lied, this is right
    REQUIRE(m.chain.fire(cpu0).has_value());
    CHECK(m.hw_value(cpu0, msrs::lstar) == host_lstar);
  }
}

TEST_CASE("slot_table: a restore write that fails keeps the slot dirty and re-registers",
          "[slot_table]") {
  machine m;
  REQUIRE(m.table.set(cpu0, m.lstar, 0x42).has_value());
  REQUIRE(m.table.set(cpu0, m.tsc_aux, 0x77).has_value());
  m.hw.clear_log();
  m.hw.fail_next_write(cpu0, msrs::lstar);
  CHECK(m.table.on_user_return(cpu0).error() == errc::msr_fault);
  CHECK(*m.table.current(cpu0, m.lstar) == 0x42);  // the hardware still holds it
  CHECK(*m.table.current(cpu0, m.tsc_aux) == 0);   // the other slot was restored
  CHECK(m.table.registered(cpu0));                 // I1 still holds
  SECTION("drop then keeps the CPU online and reports the failure") {
    m.hw.fail_next_write(cpu0, msrs::lstar);
    CHECK(m.table.drop(cpu0).error() == errc::msr_fault);
    CHECK(m.table.online(cpu0));
    REQUIRE(m.table.drop(cpu0).has_value());
    CHECK_FALSE(m.table.online(cpu0));
    CHECK(m.hw_value(cpu0, msrs::lstar) == host_lstar);
  }
  SECTION("the next return to user finishes the job") {
    REQUIRE(m.chain.fire(cpu0).has_value());
    CHECK(m.hw_value(cpu0, msrs::lstar) == host_lstar);
    CHECK_FALSE(m.table.registered(cpu0));
  }
}

TEST_CASE("slot_table: drop restores if registered, then takes the CPU offline", "[slot_table]") {
  machine m;
  REQUIRE(m.table.set(cpu1, m.lstar, 0x42).has_value());
  m.hw.clear_log();
  REQUIRE(m.table.drop(cpu1).has_value());
  CHECK(m.log(cpu1) == std::vector<record>{{msrs::lstar, host_lstar}});
  CHECK_FALSE(m.table.registered(cpu1));
  CHECK_FALSE(m.table.online(cpu1));
  CHECK(m.table.set(cpu1, m.lstar, 1).error() == errc::cpu_offline);
  CHECK(m.table.update_cache(cpu1, m.lstar, 1).error() == errc::cpu_offline);
  CHECK(m.table.invalidate(cpu1, m.lstar).error() == errc::cpu_offline);
  CHECK(m.table.invalidate(cpu1).error() == errc::cpu_offline);
  CHECK(m.table.may_clobber(cpu1, m.lstar, 1).error() == errc::cpu_offline);
  CHECK(m.table.current(cpu1, m.lstar).error() == errc::cpu_offline);
  CHECK(m.table.host(cpu1, m.lstar).error() == errc::cpu_offline);
  SECTION("not registered: nothing written") {
    m.hw.clear_log();
    REQUIRE(m.table.cpu_online(cpu1).has_value());
    REQUIRE(m.table.drop(cpu1).has_value());
    CHECK(m.log(cpu1).empty());
  }
  CHECK(m.table.online(cpu0));
}

TEST_CASE("slot_table: bad CPU and slot numbers give errors", "[slot_table]") {
  machine m;
  const cpu_id bad{2};
  CHECK(m.table.set(bad, 0, 1).error() == errc::cpu_out_of_range);
  CHECK(m.table.update_cache(bad, 0, 1).error() == errc::cpu_out_of_range);
  CHECK(m.table.invalidate(bad, 0).error() == errc::cpu_out_of_range);
  CHECK(m.table.invalidate(bad).error() == errc::cpu_out_of_range);
  CHECK(m.table.may_clobber(bad, 0, 1).error() == errc::cpu_out_of_range);
  CHECK(m.table.current(bad, 0).error() == errc::cpu_out_of_range);
  CHECK(m.table.host(bad, 0).error() == errc::cpu_out_of_range);
  CHECK(m.table.cpu_online(bad).error() == errc::cpu_out_of_range);
  CHECK(m.table.on_user_return(bad).error() == errc::cpu_out_of_range);
  CHECK(m.table.drop(bad).error() == errc::cpu_out_of_range);
  CHECK_FALSE(m.table.registered(bad));
  CHECK_FALSE(m.table.online(bad));
  CHECK(m.table.stats(bad).writes == 0);
  CHECK(m.table.dirty_slots(bad) == 0);
  CHECK(m.table.set(cpu0, 3, 1).error() == errc::slot_not_added);
  CHECK(m.table.set(cpu0, 16, 1).error() == errc::slot_out_of_range);
  CHECK(m.table.set(cpu0, ~0U, 1).error() == errc::slot_out_of_range);
  CHECK(m.table.update_cache(cpu0, 3, 1).error() == errc::slot_not_added);
  CHECK(m.table.may_clobber(cpu0, 99, 1).error() == errc::slot_out_of_range);
  CHECK(m.table.invalidate(cpu0, 3).error() == errc::slot_not_added);
  CHECK(m.table.current(cpu0, 3).error() == errc::slot_not_added);
  CHECK(m.table.host(cpu0, 16).error() == errc::slot_out_of_range);
  CHECK(m.table.msr(3).error() == errc::slot_not_added);
  CHECK(m.table.msr(16).error() == errc::slot_out_of_range);
  CHECK(m.log(cpu0).empty());
  CHECK_FALSE(m.table.registered(cpu0));
}

TEST_CASE("slot_table: a CPU never brought online refuses operations", "[slot_table]") {
  uret::mock_msr hw{2};
  hw.declare(msrs::lstar, 1);
  uret::notifier_chain<2> chain{2};
  uret::slot_table<uret::mock_msr, 16, 2> table{hw, chain, 2};
  REQUIRE(table.add(msrs::lstar).has_value());
  CHECK(table.set(cpu_id{1}, 0, 5).error() == errc::cpu_offline);
  CHECK(table.update_cache(cpu_id{1}, 0, 5).error() == errc::cpu_offline);
  CHECK(table.current(cpu_id{1}, 0).error() == errc::cpu_offline);
  CHECK(*hw.peek(cpu_id{1}, msrs::lstar) == 1);
}

namespace {
// Lands a virtualization disable (drop) on a CPU inside the next WRMSR's window: after the
// hardware took the value, before the slot table records it.
struct disable_in_write_window {
  uret::slot_table<uret::mock_msr, 16, 4>* table = nullptr;
  bool armed = false;
  uret::result<void> drop_result{};
  static void hook(void* ctx, cpu_id cpu, uret::msr_index, std::uint64_t) noexcept {
    auto* self = static_cast<disable_in_write_window*>(ctx);
    if (!self->armed) return;
    self->armed = false;
    self->drop_result = self->table->drop(cpu);
  }
};
}  // namespace

TEST_CASE("slot_table: a disable inside set's write window never leaves a lying cache",
          "[slot_table]") {
  machine m;
  disable_in_write_window d{&m.table};
  m.hw.set_write_hook(&disable_in_write_window::hook, &d);
  SECTION("slot clean before: the restore skips it, the guest value stays and is recorded") {
    REQUIRE(m.table.set(cpu0, m.tsc_aux, 0x77).has_value());  // registers via another slot
    d.armed = true;
    REQUIRE(m.table.set(cpu0, m.lstar, 0x42).has_value());
    // The drop restored TSC_AUX and went offline; LSTAR's write landed after the snapshot.
    CHECK(m.hw_value(cpu0, msrs::tsc_aux) == 0);
    CHECK(m.hw_value(cpu0, msrs::lstar) == 0x42);
    CHECK(m.table.registered(cpu0));  // the guest LSTAR must still be restored
  }
  SECTION("slot dirty before: the restore put host back after our write; set says so") {
    REQUIRE(m.table.set(cpu0, m.lstar, 0x41).has_value());
    d.armed = true;
    CHECK(m.table.set(cpu0, m.lstar, 0x42).error() == errc::interrupted);
    REQUIRE(d.drop_result.has_value());
    CHECK(m.hw_value(cpu0, msrs::lstar) == host_lstar);
    CHECK_FALSE(m.table.registered(cpu0));
    CHECK_FALSE(m.table.online(cpu0));
  }
  m.hw.set_write_hook(nullptr, nullptr);
}

namespace {
// Lands a disable inside the restore's first write.
struct disable_in_restore {
  uret::slot_table<uret::mock_msr, 16, 4>* table = nullptr;
  bool armed = false;
  int drops = 0;
  static void hook(void* ctx, cpu_id cpu, uret::msr_index, std::uint64_t) noexcept {
    auto* self = static_cast<disable_in_restore*>(ctx);
    if (!self->armed) return;
    self->armed = false;
    ++self->drops;
    static_cast<void>(self->table->drop(cpu));
  }
};
}  // namespace

TEST_CASE("slot_table: a disable during the restore does not run it twice", "[slot_table]") {
  machine m;
  REQUIRE(m.table.set(cpu0, m.lstar, 0x42).has_value());
  REQUIRE(m.table.set(cpu0, m.tsc_aux, 0x77).has_value());
  disable_in_restore d{&m.table};
  m.hw.set_write_hook(&disable_in_restore::hook, &d);
  m.hw.clear_log();
  d.armed = true;
  REQUIRE(m.chain.fire(cpu0).has_value());
  CHECK(d.drops == 1);
  // Unregistered first, so the nested drop found nothing to do: each slot written once.
  CHECK(m.log(cpu0) == std::vector<record>{{msrs::lstar, host_lstar}, {msrs::tsc_aux, 0}});
  CHECK(m.hw_value(cpu0, msrs::lstar) == host_lstar);
  CHECK_FALSE(m.table.registered(cpu0));
  m.hw.set_write_hook(nullptr, nullptr);
}

TEST_CASE("slot_table: CPUs are independent", "[slot_table]") {
  machine m;
  REQUIRE(m.table.set(cpu0, m.tsc_aux, 0x55).has_value());
  CHECK(m.hw_value(cpu1, msrs::tsc_aux) == 1);
  CHECK_FALSE(m.table.registered(cpu1));
  REQUIRE(m.chain.fire(cpu1).has_value());
  CHECK(m.hw_value(cpu0, msrs::tsc_aux) == 0x55);
  CHECK(m.table.registered(cpu0));
}

TEST_CASE("slot_table: the destructor unregisters pending notifiers", "[slot_table]") {
  uret::mock_msr hw{1};
  hw.declare(msrs::lstar, 1);
  uret::notifier_chain<1> chain{1};
  {
    uret::slot_table<uret::mock_msr, 16, 1> table{hw, chain, 1};
    REQUIRE(table.add(msrs::lstar).has_value());
    REQUIRE(table.cpu_online(cpu_id{0}).has_value());
    REQUIRE(table.set(cpu_id{0}, 0, 2).has_value());
    CHECK(chain.pending(cpu_id{0}));
  }
  CHECK_FALSE(chain.pending(cpu_id{0}));
  REQUIRE(chain.fire(cpu_id{0}).has_value());  // no dangling node
}
