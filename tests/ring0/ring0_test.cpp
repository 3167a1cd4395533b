// SPDX-License-Identifier: MIT
// tests/ring0/ring0_test.cpp - the uret core in ring 0: one slot table over native_msr, shared by
// every CPU, each CPU driving its own record concurrently, every step checked against the
// hardware with RDMSR (and TSC_AUX with RDTSCP) through instructions of the test's own, not
// through the backend under test. Then the backend contract, on every CPU.
//
// Per CPU: capture host values; set guest values; an equal set writes nothing; a masked set
// keeps the host's bits; all CPUs hold their guest values at once and each keeps its own; the
// return to user mode restores every MSR; the TDX module's exit modelled by writing its
// post-exit values directly, followed by update_cache, may_clobber or invalidate and a restore;
// a WRMSR the CPU rejects (reserved bits of IA32_PKRS) taken as a real #GP and recovered
// through the exception table as errc::msr_fault with no state change; the write counters
// against the writes the backend saw.
//
// Command line: ring0.inject=fail changes TSC_AUX behind the cache on CPU 0 (the checks must
// fail); ring0.inject=gp does a reserved-bit WRMSR under the fatal policy (must crash).
#include "kernel/kernel.hpp"  // first: routes URET_ASSERT to the kernel's panic

#include <atomic>
#include <new>

#include "contract/backend_contract.hpp"
#include "uret/backends/native_msr.hpp"
#include "uret/notifier.hpp"
#include "uret/slot_table.hpp"
#include "uret/uret.hpp"

namespace {

using ring0::hex;
using ring0::max_cpus;
using uret::cpu_id;
using uret::errc;
using uret::msr_index;

constexpr msr_index ia32_pkrs{0x6E1};
constexpr std::uint64_t pkrs_reserved_bits = 0xffff'ffff'0000'0000;

// ---------------------------------------------------------------- the checker's own access
// Independent of the backend under test: the checks read the hardware with these.
std::uint64_t hw_read(msr_index msr) noexcept {
  std::uint32_t lo = 0;
  std::uint32_t hi = 0;
  asm volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr.value));
  return (std::uint64_t{hi} << 32) | lo;
}
void hw_write(msr_index msr, std::uint64_t v) noexcept {
  asm volatile("wrmsr"
               :
               : "c"(msr.value), "a"(static_cast<std::uint32_t>(v)),
                 "d"(static_cast<std::uint32_t>(v >> 32))
               : "memory");
}
// RDTSCP: ECX = IA32_TSC_AUX[31:0].
std::uint32_t rdtscp_aux() noexcept {
  std::uint32_t lo = 0;
  std::uint32_t hi = 0;
  std::uint32_t aux = 0;
  asm volatile("rdtscp" : "=a"(lo), "=d"(hi), "=c"(aux));
  return aux;
}
bool has_rdtscp() noexcept {
  std::uint32_t a = 0x80000001;
  std::uint32_t b = 0;
  std::uint32_t c = 0;
  std::uint32_t d = 0;
  asm volatile("cpuid" : "+a"(a), "=b"(b), "+c"(c), "=d"(d));
  return ((d >> 27) & 1) != 0;
}

// ---------------------------------------------------------------- checks
constinit std::atomic<std::uint32_t> checks_run{0};
constinit std::atomic<std::uint32_t> checks_failed{0};

template <class... Args>
bool check(cpu_id cpu, bool ok, const Args&... what) noexcept {
  checks_run.fetch_add(1, std::memory_order_relaxed);
  if (!ok) checks_failed.fetch_add(1, std::memory_order_relaxed);
  ring0::say(ok ? "  [ ok ] cpu" : "  [FAIL] cpu", cpu.value, ": ", what...);
  return ok;
}

// ---------------------------------------------------------------- the objects under test
// Counts, per CPU, the writes that reach the hardware, to hold the table's counters against.
template <uret::msr_backend Backend>
class observed_msr {
 public:
  constexpr explicit observed_msr(Backend& inner) noexcept : inner_(inner) {}
  uret::result<std::uint64_t> read(cpu_id cpu, msr_index msr) noexcept {
    return inner_.read(cpu, msr);
  }
  uret::result<void> write(cpu_id cpu, msr_index msr, std::uint64_t value) noexcept {
    const uret::result<void> r = inner_.write(cpu, msr, value);
    if (cpu.value < max_cpus) ++(r ? count_[cpu.value].writes : count_[cpu.value].rejected);
    return r;
  }
  [[nodiscard]] std::uint64_t writes(cpu_id cpu) const noexcept { return count_[cpu.value].writes; }
  [[nodiscard]] std::uint64_t rejected(cpu_id cpu) const noexcept {
    return count_[cpu.value].rejected;
  }

 private:
  struct alignas(64) counters {
    std::uint64_t writes = 0;
    std::uint64_t rejected = 0;
  };
  Backend& inner_;
  counters count_[max_cpus]{};
};

using native = uret::native_msr<uret::fault_policy::exception_table>;
using backend = observed_msr<native>;
using chain_type = uret::notifier_chain<max_cpus>;
using table_type = uret::slot_table<backend, 8, max_cpus>;
static_assert(uret::msr_backend<backend>);

// Storage for an object built at run time: the notifier chain's and slot table's constructors
// are not constexpr, and the kernel runs no global constructors.
template <class T>
class boot_time {
 public:
  template <class... Args>
  T& construct(Args&... args) noexcept {
    return *::new (static_cast<void*>(storage_)) T(args...);
  }
  T& get() noexcept { return *std::launder(reinterpret_cast<T*>(storage_)); }

 private:
  alignas(T) unsigned char storage_[sizeof(T)]{};
};

constinit native native_hw{max_cpus, &ring0::current_cpu};
constinit backend hw{native_hw};
constinit boot_time<chain_type> chain;
constinit boot_time<table_type> table;
constinit std::uint32_t cpu_count = 1;

struct slots {
  unsigned star, lstar, fmask, aux, pkrs;
};
constinit slots slot{};

// ---------------------------------------------------------------- values
struct msr_values {
  std::uint64_t star, lstar, fmask, aux;
};

void syscall_entry() noexcept {}  // LSTAR's host value: never called

// The "host kernel" values, programmed at boot as an OS would (TSC_AUX = CPU number).
msr_values host_values(cpu_id cpu) noexcept {
  return {0x0023'0010'0000'0000ULL, reinterpret_cast<std::uintptr_t>(&syscall_entry), 0x47700ULL,
          std::uint64_t{cpu.value}};
}
// Guest values, different on every CPU, so that a value on the wrong CPU shows.
msr_values guest_values(cpu_id cpu) noexcept {
  const std::uint64_t c = cpu.value;
  return {0x0033'0008'0000'1000ULL + c, 0xffff'8000'0010'0000ULL + 0x1000 * c,
          0x257fd5ULL + 0x100 * c, 0x5a0ULL + c};
}
// What the TDX module leaves after a TD exit in STAR, LSTAR, SYSCALL_MASK and TSC_AUX (the
// simulator's uret::sim::tdx_reset_msrs; the ring-0 kernel includes only the core).
msr_values tdx_post_exit() noexcept { return {0, 0, 0x20200, 0}; }

void hw_write_all(const msr_values& v) noexcept {
  hw_write(uret::msrs::star, v.star);
  hw_write(uret::msrs::lstar, v.lstar);
  hw_write(uret::msrs::syscall_mask, v.fmask);
  hw_write(uret::msrs::tsc_aux, v.aux);
}

// One line: the four MSRs by RDMSR and TSC_AUX by RDTSCP, against `want`.
bool expect_hw(cpu_id cpu, const msr_values& want, const char* when) noexcept {
  const msr_values got{hw_read(uret::msrs::star), hw_read(uret::msrs::lstar),
                       hw_read(uret::msrs::syscall_mask), hw_read(uret::msrs::tsc_aux)};
  const std::uint32_t aux = rdtscp_aux();
  const bool ok = got.star == want.star && got.lstar == want.lstar && got.fmask == want.fmask &&
                  got.aux == want.aux && aux == static_cast<std::uint32_t>(want.aux);
  check(cpu, ok, when, ": RDMSR STAR=", hex{got.star}, " LSTAR=", hex{got.lstar},
        " SYSCALL_MASK=", hex{got.fmask}, " TSC_AUX=", hex{got.aux}, "; RDTSCP ECX=", hex{aux});
  if (!ok) {
    ring0::say("         want STAR=", hex{want.star}, " LSTAR=", hex{want.lstar},
               " SYSCALL_MASK=", hex{want.fmask}, " TSC_AUX=", hex{want.aux});
  }
  return ok;
}

// The four user-return MSRs of the test in slot order, with their values in `v`.
std::uint64_t value_of(const msr_values& v, unsigned i) noexcept {
  return i == 0 ? v.star : i == 1 ? v.lstar : i == 2 ? v.fmask : v.aux;
}
unsigned slot_of(unsigned i) noexcept {
  return i == 0 ? slot.star : i == 1 ? slot.lstar : i == 2 ? slot.fmask : slot.aux;
}
// op(slot, value) for each of the four; true when every call succeeded.
template <class Op>
bool each_msr(const msr_values& v, Op op) noexcept {
  bool ok = true;
  for (unsigned i = 0; i < 4; ++i) ok = op(slot_of(i), value_of(v, i)).has_value() && ok;
  return ok;
}
bool set_all(table_type& t, cpu_id cpu, const msr_values& v) noexcept {
  return each_msr(v, [&](unsigned s, std::uint64_t x) { return t.set(cpu, s, x); });
}

// Writes issued by the table and seen by the backend since the last mark.
struct write_meter {
  cpu_id cpu;
  std::uint64_t table_writes;
  std::uint64_t table_skipped;
  std::uint64_t seen;
  explicit write_meter(cpu_id c) noexcept
      : cpu(c),
        table_writes(table.get().stats(c).writes),
        table_skipped(table.get().stats(c).skipped),
        seen(hw.writes(c)) {}
  [[nodiscard]] std::uint64_t writes() const noexcept {
    return table.get().stats(cpu).writes - table_writes;
  }
  [[nodiscard]] std::uint64_t skipped() const noexcept {
    return table.get().stats(cpu).skipped - table_skipped;
  }
  [[nodiscard]] bool exactly(std::uint64_t n) const noexcept {
    return writes() == n && hw.writes(cpu) - seen == n;
  }
};

unsigned differing(const msr_values& a, const msr_values& b) noexcept {
  return unsigned{a.star != b.star} + unsigned{a.lstar != b.lstar} + unsigned{a.fmask != b.fmask} +
         unsigned{a.aux != b.aux};
}

// Fire the notifier (the return to user mode) and check the restore against the hardware.
void return_to_user(cpu_id cpu, const msr_values& host, unsigned expected_writes,
                    const char* after) noexcept {
  table_type& t = table.get();
  const write_meter m{cpu};
  const bool fired = chain.get().fire(cpu).has_value();
  check(cpu,
        fired && m.exactly(expected_writes) && !t.registered(cpu) && !chain.get().pending(cpu) &&
            t.dirty_slots(cpu) == 0,
        after, ": return to user mode wrote ", m.writes(), " MSRs (want ", expected_writes,
        "), notifier unregistered");
  expect_hw(cpu, host, "  after the restore");
}

// ---------------------------------------------------------------- TDX exits
void tdx_scenarios(cpu_id cpu, const msr_values& host, const msr_values& guest) noexcept {
  table_type& t = table.get();
  const msr_values post = tdx_post_exit();
  const unsigned all4 =
      (1U << slot.star) | (1U << slot.lstar) | (1U << slot.fmask) | (1U << slot.aux);
  const auto may_clobber = [&](unsigned s, std::uint64_t x) { return t.may_clobber(cpu, s, x); };
  const auto cache_says = [&](const msr_values& v) {
    return t.current(cpu, slot.star).value_or(~0ULL) == v.star &&
           t.current(cpu, slot.lstar).value_or(~0ULL) == v.lstar &&
           t.current(cpu, slot.fmask).value_or(~0ULL) == v.fmask &&
           t.current(cpu, slot.aux).value_or(~0ULL) == v.aux;
  };

  // update_cache after an exit that did clobber: the cache is told the truth.
  static_cast<void>(set_all(t, cpu, guest));
  hw_write_all(post);  // the TDX module's exit
  {
    const write_meter m{cpu};
    const bool ok =
        each_msr(post, [&](unsigned s, std::uint64_t x) { return t.update_cache(cpu, s, x); });
    check(cpu, ok && m.exactly(0) && cache_says(post) && t.registered(cpu),
          "TDX exit (clobbered) + update_cache: no WRMSR, cache holds the post-exit values");
    expect_hw(cpu, post, "  hardware after the exit");
  }
  return_to_user(cpu, host, differing(host, post), "update_cache");

  // may_clobber after an exit that did clobber: the slots become unknown, the restore writes.
  static_cast<void>(set_all(t, cpu, guest));
  hw_write_all(post);
  {
    const bool ok = each_msr(post, may_clobber);
    const uret::result<std::uint64_t> cur = t.current(cpu, slot.aux);
    check(cpu,
          ok && (t.unknown_slots(cpu) & all4) == all4 && !cur && cur.error() == errc::value_unknown,
          "TDX exit (clobbered) + may_clobber: 4 slots unknown, current() = value_unknown");
  }
  return_to_user(cpu, host, 4, "may_clobber, clobbered");

  // may_clobber after an entry that failed early: the module wrote nothing, hardware still
  // holds the guest values; the same calls, the same correct restore.
  static_cast<void>(set_all(t, cpu, guest));
  {
    const bool ok = each_msr(post, may_clobber);
    check(cpu, ok && (t.unknown_slots(cpu) & all4) == all4,
          "TDX entry failed early (not clobbered) + may_clobber: 4 slots unknown");
    expect_hw(cpu, guest, "  hardware still holds the guest values");
  }
  return_to_user(cpu, host, 4, "may_clobber, not clobbered");

  // The post-exit values set before entry (the late-2025 fix): may_clobber keeps them known.
  {
    const write_meter m{cpu};
    const bool ok = set_all(t, cpu, post);
    hw_write_all(post);
    const bool mc = each_msr(post, may_clobber);
    check(cpu,
          ok && mc && m.exactly(differing(host, post)) && t.unknown_slots(cpu) == 0 &&
              cache_says(post),
          "post-exit values set before entry + may_clobber: ", m.writes(),
          " WRMSRs, every slot still known");
  }
  return_to_user(cpu, host, differing(host, post), "set-before-entry");

  // invalidate: the next set writes even though the cache holds the same value.
  static_cast<void>(set_all(t, cpu, guest));
  hw_write_all(post);
  {
    bool ok = each_msr(post, [&](unsigned s, std::uint64_t) { return t.invalidate(cpu, s); });
    const write_meter m{cpu};
    ok = set_all(t, cpu, guest) && ok;
    check(cpu, ok && m.exactly(4) && t.unknown_slots(cpu) == 0,
          "TDX exit + invalidate: set of the unchanged guest values wrote all 4");
    expect_hw(cpu, guest, "  after the set");
  }
  return_to_user(cpu, host, 4, "invalidate");
}

// ---------------------------------------------------------------- the backend contract
// native_msr reaches only the executing CPU, while the contract addresses CPUs 0 .. cpus()-1
// from one caller: this view shows the executing CPU as CPU 0 of a one-CPU machine.
struct this_cpu_view {
  native* inner;
  cpu_id self;
  uret::result<std::uint64_t> read(cpu_id cpu, msr_index msr) noexcept {
    if (cpu.value != 0) return errc::no_such_cpu;
    return inner->read(self, msr);
  }
  uret::result<void> write(cpu_id cpu, msr_index msr, std::uint64_t value) noexcept {
    if (cpu.value != 0) return errc::no_such_cpu;
    return inner->write(self, msr, value);
  }
};

struct contract_fixture {
  using backend_type = this_cpu_view;
  this_cpu_view view;
  backend_type& backend() noexcept { return view; }
  std::uint32_t cpus() const noexcept { return 1; }
  msr_index scratch_msr() const noexcept { return uret::msrs::tsc_aux; }
  std::uint64_t scratch_value(cpu_id) const noexcept { return 0x7700 + view.self.value; }
  msr_index faulting_msr() const noexcept { return ia32_pkrs; }
  std::uint64_t faulting_value() const noexcept { return pkrs_reserved_bits; }
  bool has_cpu_bound() const noexcept { return true; }
};

struct contract_tally {
  cpu_id cpu;
  std::uint32_t checks;
};

void contract_report(void* ctx, const char* what, bool ok) {
  auto* tally = static_cast<contract_tally*>(ctx);
  ++tally->checks;
  if (!ok) check(tally->cpu, false, "contract: ", what);
}

}  // namespace

// ---------------------------------------------------------------- the kernel's hooks
void ring0::test_setup(std::uint32_t cpus) noexcept {
  const cpu_id bsp{0};
  cpu_count = cpus;
  chain.construct(cpus);
  table_type& t = table.construct(hw, chain.get(), cpus);
  const uret::result<unsigned> star = t.add(uret::msrs::star);
  const uret::result<unsigned> lstar = t.add(uret::msrs::lstar);
  const uret::result<unsigned> fmask = t.add(uret::msrs::syscall_mask);
  const uret::result<unsigned> aux = t.add(uret::msrs::tsc_aux);
  const uret::result<unsigned> pkrs = t.add(ia32_pkrs);
  const bool added = star && lstar && fmask && aux && pkrs;
  check(bsp, added, "add() probed STAR, LSTAR, SYSCALL_MASK, TSC_AUX, IA32_PKRS: slots 0..4");
  if (!added) {
    ring0::say("RING0: FAIL");
    ring0::exit_qemu(VERDICT_FAIL);
  }
  slot = {*star, *lstar, *fmask, *aux, *pkrs};
  const uret::result<unsigned> again = t.add(uret::msrs::star);
  check(bsp, !again && again.error() == errc::duplicate_msr,
        "add() of STAR again: ", uret::to_string(again.error()));
  check(bsp, has_rdtscp(), "CPUID reports RDTSCP (boot with -cpu max)");
  check(bsp, native_hw.checks_cpu(), "native_msr checks the CPU argument (current-CPU hook)");
}

void ring0::test_run(cpu_id cpu) noexcept {
  table_type& t = table.get();
  chain_type& ch = chain.get();
  const msr_values host = host_values(cpu);
  const msr_values guest = guest_values(cpu);
  const std::string_view inject = ring0::cmdline_value("ring0.inject");

  // 1. The host kernel's values, captured at virtualization enable.
  hw_write_all(host);
  check(cpu, t.cpu_online(cpu).has_value() && t.host(cpu, slot.aux).value_or(~0ULL) == host.aux,
        "cpu_online captured the host values");
  expect_hw(cpu, host, "host values");

  // 2. Guest values.
  {
    const write_meter m{cpu};
    const bool ok = set_all(t, cpu, guest);
    check(cpu, ok && m.exactly(4) && t.registered(cpu) && ch.pending(cpu),
          "set of 4 guest values: ", m.writes(), " WRMSRs, notifier registered");
    expect_hw(cpu, guest, "after set");
  }
  // 3. The same values again: nothing to write.
  {
    const write_meter m{cpu};
    const bool ok = set_all(t, cpu, guest);
    check(cpu, ok && m.exactly(0) && m.skipped() == 4, "set of the same 4 values again: 0 WRMSRs, ",
          m.skipped(), " skipped");
    if (inject == std::string_view{"fail", sizeof "fail" - 1} && cpu.value == 0) {
      ring0::say("ring0: inject=fail: TSC_AUX changed behind the cache");
      hw_write(uret::msrs::tsc_aux, guest.aux ^ 0xff);
    }
    expect_hw(cpu, guest, "after the equal set");
  }
  // 4. A masked set takes the bits outside the mask from the host value, not from curr.
  msr_values loaded = guest;
  {
    const write_meter m{cpu};
    constexpr std::uint64_t mask = 0x700;
    loaded.fmask = host.fmask & ~mask;
    const bool ok = t.set(cpu, slot.fmask, 0, mask).has_value();
    check(cpu, ok && m.exactly(1) && t.current(cpu, slot.fmask).value_or(0) == loaded.fmask,
          "set(SYSCALL_MASK, 0, mask ", hex{mask}, ") = ", hex{loaded.fmask},
          ": host bits outside the mask");
    expect_hw(cpu, loaded, "after the masked set");
  }

  // 5. Every CPU holds its guest values at once; each keeps its own.
  ring0::barrier();
  expect_hw(cpu, loaded, "all CPUs loaded");
  if (cpu.value == 0) {
    for (std::uint32_t c = 1; c < cpu_count; ++c) {
      const cpu_id other{c};
      check(cpu,
            t.current(other, slot.aux).value_or(0) == guest_values(other).aux &&
                t.host(other, slot.aux).value_or(0) == host_values(other).aux &&
                t.registered(other),
            "cpu", c, "'s record holds cpu", c, "'s TSC_AUX: guest ",
            hex{t.current(other, slot.aux).value_or(0)}, ", host ",
            hex{t.host(other, slot.aux).value_or(0)});
    }
  }
  ring0::barrier();

  // 6. Return to user mode.
  return_to_user(cpu, host, 4, "user return");
  {
    const write_meter m{cpu};
    check(cpu, ch.fire(cpu).has_value() && m.exactly(0), "a second return to user mode: 0 WRMSRs");
  }

  // 7. The TDX module's exits.
  tdx_scenarios(cpu, host, guest);

  // 8. A WRMSR the CPU rejects: a real #GP, recovered through the exception table.
  {
    const ring0::gp_record before = ring0::gp_stats(cpu);
    const std::uint64_t pkrs = hw_read(ia32_pkrs);
    const std::uint64_t cached = t.current(cpu, slot.pkrs).value_or(~0ULL);
    const bool was_registered = t.registered(cpu);
    const std::uint64_t rejected = hw.rejected(cpu);
    const write_meter m{cpu};
    const uret::result<void> r = t.set(cpu, slot.pkrs, pkrs_reserved_bits);
    check(cpu, !r && r.error() == errc::msr_fault, "set(IA32_PKRS, ", hex{pkrs_reserved_bits},
          ") -> ", r ? "success" : uret::to_string(r.error()));
    const ring0::gp_record after = ring0::gp_stats(cpu);
    check(cpu,
          after.recovered == before.recovered + 1 && after.msr == ia32_pkrs.value &&
              uret::native_msr_fixup(after.rip) == after.fixup,
          "#GP recovered: WRMSR at rip ", hex{after.rip}, " resumed at fixup ", hex{after.fixup},
          " (msr ", hex{after.msr}, ")");
    check(
        cpu,
        hw_read(ia32_pkrs) == pkrs && t.current(cpu, slot.pkrs).value_or(~0ULL) == cached &&
            t.registered(cpu) == was_registered && m.exactly(0) && hw.rejected(cpu) == rejected + 1,
        "the rejected write changed nothing: IA32_PKRS ", hex{pkrs}, ", cache, notifier, counters");
  }

  // 9. The backend's own checks, and the fatal policy.
  {
    const uret::result<std::uint64_t> far = native_hw.read(cpu_id{max_cpus}, uret::msrs::tsc_aux);
    check(cpu, !far && far.error() == errc::no_such_cpu, "native_msr read of CPU ", max_cpus,
          ": no_such_cpu");
    if (cpu_count > 1) {
      const cpu_id other{(cpu.value + 1) % cpu_count};
      const uret::result<std::uint64_t> r = native_hw.read(other, uret::msrs::tsc_aux);
      check(cpu, !r && r.error() == errc::no_such_cpu, "native_msr read for cpu", other.value,
            " from cpu", cpu.value, ": no_such_cpu (the current-CPU hook)");
    }
    uret::native_msr<uret::fault_policy::fatal> fatal{max_cpus, &ring0::current_cpu};
    check(cpu, fatal.read(cpu, uret::msrs::tsc_aux).value_or(~0ULL) == host.aux,
          "fault_policy::fatal reads TSC_AUX = ", hex{host.aux});
    if (inject == std::string_view{"gp", sizeof "gp" - 1} && cpu.value == 0) {
      ring0::say("ring0: inject=gp: reserved-bit WRMSR under fault_policy::fatal");
      static_cast<void>(fatal.write(cpu, ia32_pkrs, pkrs_reserved_bits));
      check(cpu, false, "unreachable: the fatal policy's #GP returned");
    }
  }

  // 10. The backend contract against native_msr on this CPU.
  {
    contract_fixture f{this_cpu_view{&native_hw, cpu}};
    contract_tally tally{cpu, 0};
    const std::uint64_t gp_before = ring0::gp_stats(cpu).recovered;
    const int failed = uret_test::run_backend_contract(f, &contract_report, &tally);
    check(cpu, failed == 0 && ring0::gp_stats(cpu).recovered == gp_before + 1,
          "backend contract: ", tally.checks, " checks, ", failed,
          " failed (scratch TSC_AUX, #GP from IA32_PKRS)");
  }

  // 11. The counters against the writes the backend saw, and the hardware at the end.
  check(cpu, t.stats(cpu).writes == hw.writes(cpu), "slot table counted ", t.stats(cpu).writes,
        " writes (", t.stats(cpu).skipped, " skipped); the backend saw ", hw.writes(cpu),
        " WRMSRs and ", hw.rejected(cpu), " rejected");
  expect_hw(cpu, host, "at the end");
  ring0::barrier();
}

std::uint32_t ring0::test_finish() noexcept {
  std::uint64_t recovered = 0;
  for (std::uint32_t c = 0; c < cpu_count; ++c) recovered += ring0::gp_stats(cpu_id{c}).recovered;
  ring0::say("ring0: summary cpus=", cpu_count, " checks=", checks_run.load(),
             " failed=", checks_failed.load(), " recovered_gp=", recovered);
  return checks_failed.load();
}
