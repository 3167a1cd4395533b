// SPDX-License-Identifier: MIT
// Tests of uret/backends/dev_cpu_msr.hpp without root or the msr driver: a fake tree of sparse
// files stands in for /dev/cpu, and the fault_syscalls policy injects the driver's errors.
#include <dirent.h>
#include <catch2/catch.hpp>

#include <cerrno>
#include <cstdint>
#include <string>
#include <utility>

#include "contract/backend_contract.hpp"
#include "fake_tree.hpp"
#include "uret/backends/dev_cpu_msr.hpp"
#include "uret/notifier.hpp"
#include "uret/slot_table.hpp"

namespace {

using uret::cpu_id;
using uret::errc;
using uret::msr_index;
using fake_backend = uret::basic_dev_cpu_msr<uret_test::fault_syscalls>;
using call = uret_test::fault_syscalls::call;
using access = fake_backend::access;

constexpr msr_index pkrs{0x6E1};
constexpr std::uint64_t pkrs_reserved = 0xffffffff00000000;

fake_backend make_backend(const uret_test::fake_msr_tree& tree, access mode = access::read_write,
                          std::size_t cpus = 2) {
  fake_backend b{mode, tree.root(), cpus};
  b.syscalls().reserved_bits.push_back({pkrs.value, pkrs_reserved});
  return b;
}

struct fake_tree_fixture {
  using backend_type = fake_backend;
  fake_backend& hw;
  std::uint32_t n;
  bool bounded;

  fake_backend& backend() { return hw; }
  std::uint32_t cpus() const { return n; }
  msr_index scratch_msr() const { return uret::msrs::tsc_aux; }
  std::uint64_t scratch_value(cpu_id cpu) const { return 0x5a5 + 0x1000ULL * cpu.value; }
  msr_index faulting_msr() const { return pkrs; }
  std::uint64_t faulting_value() const { return pkrs_reserved; }
  bool has_cpu_bound() const { return bounded; }
};

/// Descriptors this process has open.
int open_fds() {
  int n = 0;
  if (DIR* d = ::opendir("/proc/self/fd")) {
    while (const dirent* e = ::readdir(d)) n += e->d_name[0] != '.' ? 1 : 0;
    ::closedir(d);
  }
  return n;
}

void report(void*, const char* what, bool ok) {
  INFO(what);
  CHECK(ok);
}

}  // namespace

TEST_CASE("dev_cpu_msr passes the backend contract on a fake tree", "[dev_cpu_msr]") {
  uret_test::fake_msr_tree tree{2};
  REQUIRE(tree.ok());
  SECTION("CPUs bounded by the count the backend was built for") {
    fake_backend b = make_backend(tree, access::read_write, 2);
    fake_tree_fixture f{b, 2, true};
    CHECK(uret_test::run_backend_contract(f, &report, nullptr) == 0);
  }
  SECTION("CPUs bounded by the tree (the device file of CPU 2 does not exist)") {
    fake_backend b = make_backend(tree, access::read_write, 8);
    fake_tree_fixture f{b, 2, true};
    CHECK(uret_test::run_backend_contract(f, &report, nullptr) == 0);
    CHECK(b.last_error(cpu_id{2}).call == uret::msr_syscall::open);
    CHECK(b.last_error(cpu_id{2}).sys_errno == ENOENT);
  }
}

TEST_CASE("dev_cpu_msr moves 8 bytes at offset = MSR index", "[dev_cpu_msr]") {
  uret_test::fake_msr_tree tree{2};
  REQUIRE(tree.ok());
  fake_backend b = make_backend(tree);
  REQUIRE(tree.poke(1, uret::msrs::lstar, 0xffffffff81c00080));
  const uret::result<std::uint64_t> r = b.read(cpu_id{1}, uret::msrs::lstar);
  REQUIRE(r.has_value());
  CHECK(*r == 0xffffffff81c00080);
  CHECK(b.read(cpu_id{0}, uret::msrs::lstar).value_or(1) == 0);  // another CPU's file

  REQUIRE(b.write(cpu_id{0}, uret::msrs::tsc_aux, 0x1234).has_value());
  CHECK(tree.peek(0, uret::msrs::tsc_aux) == 0x1234);
  CHECK(tree.peek(0, msr_index{uret::msrs::tsc_aux.value + 8}) == 0);  // neighbours untouched
  CHECK(tree.peek(0, msr_index{uret::msrs::tsc_aux.value - 8}) == 0);
  CHECK(tree.peek(1, uret::msrs::tsc_aux) == 0);
}

TEST_CASE("dev_cpu_msr opens each CPU's file once, on first use, and closes it", "[dev_cpu_msr]") {
  uret_test::fake_msr_tree tree{2};
  REQUIRE(tree.ok());

  SECTION("lazy and kept") {
    fake_backend b = make_backend(tree);
    CHECK(b.syscalls().opens == 0);
    CHECK_FALSE(b.is_open(cpu_id{0}));
    REQUIRE(b.read(cpu_id{0}, uret::msrs::star).has_value());
    CHECK(b.syscalls().opens == 1);
    CHECK(b.is_open(cpu_id{0}));
    CHECK_FALSE(b.is_open(cpu_id{1}));
    for (int i = 0; i < 10; ++i) {
      REQUIRE(b.read(cpu_id{0}, uret::msrs::star).has_value());
      REQUIRE(b.write(cpu_id{0}, uret::msrs::tsc_aux, 7).has_value());
    }
    CHECK(b.syscalls().opens == 1);
    REQUIRE(b.read(cpu_id{1}, uret::msrs::star).has_value());
    CHECK(b.syscalls().opens == 2);
    CHECK(b.syscalls().preads == 12);
    CHECK(b.syscalls().pwrites == 10);
  }
  SECTION("read-only backends open O_RDONLY, read-write ones O_RDWR, both O_CLOEXEC") {
    fake_backend ro = make_backend(tree, access::read_only);
    REQUIRE(ro.read(cpu_id{0}, uret::msrs::star).has_value());
    CHECK((ro.syscalls().last_open_flags & O_ACCMODE) == O_RDONLY);
    CHECK((ro.syscalls().last_open_flags & O_CLOEXEC) != 0);
    fake_backend rw = make_backend(tree, access::read_write);
    REQUIRE(rw.read(cpu_id{0}, uret::msrs::star).has_value());
    CHECK((rw.syscalls().last_open_flags & O_ACCMODE) == O_RDWR);
  }
  SECTION("a failed open is not remembered: the next call opens again") {
    fake_backend b = make_backend(tree);
    b.syscalls().fail_with(call::open, ENOENT);
    CHECK(b.read(cpu_id{0}, uret::msrs::star).error() == errc::no_such_cpu);
    CHECK_FALSE(b.is_open(cpu_id{0}));
    CHECK(b.read(cpu_id{0}, uret::msrs::star).has_value());
    CHECK(b.syscalls().opens == 2);
  }
  SECTION("a move hands the descriptors over; each is closed exactly once") {
    const int fds_before = open_fds();
    {
      fake_backend a = make_backend(tree);
      REQUIRE(a.read(cpu_id{0}, uret::msrs::star).has_value());
      REQUIRE(a.read(cpu_id{1}, uret::msrs::star).has_value());
      CHECK(open_fds() == fds_before + 2);
      fake_backend b{std::move(a)};
      CHECK(a.cpus() == 0);  // NOLINT(bugprone-use-after-move): documented moved-from state
      CHECK(b.cpus() == 2);
      CHECK(b.is_open(cpu_id{0}));
      CHECK(b.is_open(cpu_id{1}));
      CHECK(b.read(cpu_id{1}, uret::msrs::star).has_value());
      CHECK(b.syscalls().opens == 2);  // the policy and its counters moved with the descriptors
      fake_backend c = make_backend(tree);
      REQUIRE(c.read(cpu_id{0}, uret::msrs::star).has_value());
      CHECK(open_fds() == fds_before + 3);
      c = std::move(b);  // c's own descriptor is closed here
      CHECK(open_fds() == fds_before + 2);
      CHECK(c.is_open(cpu_id{1}));
      CHECK(c.read(cpu_id{0}, uret::msrs::star).has_value());
      CHECK(c.syscalls().opens == 2);
    }
    CHECK(open_fds() == fds_before);
  }
}

TEST_CASE("dev_cpu_msr refuses writes when read-only, before any system call", "[dev_cpu_msr]") {
  uret_test::fake_msr_tree tree{1};
  REQUIRE(tree.ok());
  fake_backend b = make_backend(tree, access::read_only, 1);
  CHECK_FALSE(b.writable());
  const uret::result<void> w = b.write(cpu_id{0}, uret::msrs::tsc_aux, 1);
  REQUIRE_FALSE(w.has_value());
  CHECK(w.error() == errc::not_permitted);
  CHECK(b.syscalls().opens == 0);
  CHECK(b.syscalls().pwrites == 0);
  CHECK(tree.peek(0, uret::msrs::tsc_aux) == 0);
  CHECK(b.message(cpu_id{0}).find("read-only") != std::string::npos);
}

TEST_CASE("dev_cpu_msr rejects CPUs beyond its count without a system call", "[dev_cpu_msr]") {
  uret_test::fake_msr_tree tree{2};
  REQUIRE(tree.ok());
  fake_backend b = make_backend(tree, access::read_write, 2);
  CHECK(b.read(cpu_id{2}, uret::msrs::star).error() == errc::no_such_cpu);
  CHECK(b.write(cpu_id{99}, uret::msrs::star, 0).error() == errc::no_such_cpu);
  CHECK(b.syscalls().opens == 0);
  CHECK(b.last_error(cpu_id{2}).call == uret::msr_syscall::range);
  CHECK_FALSE(b.is_open(cpu_id{2}));
}

TEST_CASE("dev_cpu_msr retries EINTR", "[dev_cpu_msr]") {
  uret_test::fake_msr_tree tree{1};
  REQUIRE(tree.ok());
  fake_backend b = make_backend(tree, access::read_write, 1);
  REQUIRE(tree.poke(0, uret::msrs::tsc_aux, 42));
  b.syscalls().fail_with(call::open, EINTR, 2);
  b.syscalls().fail_with(call::pread, EINTR, 3);
  CHECK(b.read(cpu_id{0}, uret::msrs::tsc_aux).value_or(0) == 42);
  CHECK(b.syscalls().opens == 3);
  CHECK(b.syscalls().preads == 4);
  b.syscalls().fail_with(call::pwrite, EINTR, 2);
  CHECK(b.write(cpu_id{0}, uret::msrs::tsc_aux, 43).has_value());
  CHECK(b.syscalls().pwrites == 3);
  CHECK(tree.peek(0, uret::msrs::tsc_aux) == 43);
  CHECK(b.last_error(cpu_id{0}).code == errc{});
}

TEST_CASE("dev_cpu_msr maps the driver's errno to the library's errors", "[dev_cpu_msr]") {
  uret_test::fake_msr_tree tree{1};
  REQUIRE(tree.ok());
  const cpu_id cpu0{0};
  const msr_index m = uret::msrs::tsc_aux;

  struct mapping {
    int err;
    errc open, access;
  };
  const mapping table[] = {
      {EIO, errc::no_such_cpu, errc::msr_fault},  // open: the CPU has no MSRs
      {ENXIO, errc::no_such_cpu, errc::no_such_cpu},
      {ENOENT, errc::no_such_cpu, errc::io_error},
      {EACCES, errc::not_permitted, errc::not_permitted},
      {EPERM, errc::not_permitted, errc::not_permitted},
      {EINVAL, errc::io_error, errc::io_error},
      {EFAULT, errc::io_error, errc::io_error},
  };
  for (const mapping& t : table) {
    INFO("errno " << t.err << " (" << std::strerror(t.err) << ")");
    fake_backend b = make_backend(tree, access::read_write, 1);
    b.syscalls().fail_with(call::open, t.err);
    CHECK(b.read(cpu0, m).error() == t.open);
    CHECK(b.last_error(cpu0).call == uret::msr_syscall::open);
    CHECK(b.last_error(cpu0).sys_errno == t.err);

    b.syscalls().fail_with(call::pread, t.err);
    CHECK(b.read(cpu0, m).error() == t.access);
    CHECK(b.last_error(cpu0).call == uret::msr_syscall::read);
    CHECK(b.last_error(cpu0).msr == m);

    b.syscalls().fail_with(call::pwrite, t.err);
    CHECK(b.write(cpu0, m, 5).error() == t.access);
    CHECK(b.last_error(cpu0).call == uret::msr_syscall::write);
    CHECK(tree.peek(0, m) == 0);
  }

  SECTION("short transfers are I/O errors, never retried at another offset") {
    fake_backend b = make_backend(tree, access::read_write, 1);
    b.syscalls().short_transfer(call::pread, 4);
    CHECK(b.read(cpu0, m).error() == errc::io_error);
    CHECK(b.syscalls().preads == 1);
    CHECK(b.last_error(cpu0).sys_errno == 0);
    b.syscalls().short_transfer(call::pwrite, 0);
    CHECK(b.write(cpu0, m, 5).error() == errc::io_error);
    CHECK(b.syscalls().pwrites == 1);
    b.syscalls().short_transfer(call::pread, 0);  // end of file: a read past the tree
    CHECK(b.read(cpu0, m).error() == errc::io_error);
  }
  SECTION("messages say what to do") {
    fake_backend b = make_backend(tree, access::read_write, 1);
    CHECK(b.message(cpu0).empty());
    b.syscalls().fail_with(call::open, ENOENT);
    static_cast<void>(b.read(cpu0, m));
    const std::string no_driver = b.message(cpu0);
    CHECK(no_driver.find("modprobe msr") != std::string::npos);
    CHECK(no_driver.find(tree.file(0)) != std::string::npos);
    b.syscalls().fail_with(call::open, EACCES);
    static_cast<void>(b.read(cpu0, m));
    CHECK(b.message(cpu0).find("root") != std::string::npos);
    b.syscalls().fail_with(call::pwrite, EIO);
    static_cast<void>(b.write(cpu0, m, 1));
    CHECK(b.message(cpu0).find("0xc0000103") != std::string::npos);
    CHECK(b.message(cpu0).find("#GP") != std::string::npos);
    CHECK(b.message(cpu_id{5}).find("serves 1 CPUs") != std::string::npos);
    for (auto e : {errc::msr_fault, errc::no_such_cpu, errc::not_permitted, errc::io_error,
                   errc::cpu_offline}) {
      CHECK_FALSE(fake_backend::describe(e).empty());
    }
  }
}

TEST_CASE("dev_cpu_msr failures change nothing in a slot table", "[dev_cpu_msr]") {
  uret_test::fake_msr_tree tree{2};
  REQUIRE(tree.ok());
  fake_backend b = make_backend(tree);
  const cpu_id cpu0{0};
  const cpu_id cpu1{1};
  const msr_index m = uret::msrs::tsc_aux;
  REQUIRE(tree.poke(0, m, 0));
  REQUIRE(tree.poke(1, m, 1));
  uret::notifier_chain<4> chain{2};
  uret::slot_table<fake_backend, 4, 4> table{b, chain, 2};
  const unsigned slot = table.add(m).value();
  REQUIRE(table.cpu_online(cpu0).has_value());
  REQUIRE(table.cpu_online(cpu1).has_value());

  struct injected {
    const char* name;
    int err;  // 0: a short write
    errc want;
  };
  const injected faults[] = {
      {"EIO", EIO, errc::msr_fault},
      {"ENXIO", ENXIO, errc::no_such_cpu},
      {"EACCES", EACCES, errc::not_permitted},
      {"short write", 0, errc::io_error},
  };

  SECTION("a failed set leaves curr, registration, counters and hardware alone") {
    for (const injected& f : faults) {
      INFO(f.name);
      const uret::slot_stats before = table.stats(cpu0);
      if (f.err != 0) {
        b.syscalls().fail_with(call::pwrite, f.err);
      } else {
        b.syscalls().short_transfer(call::pwrite, 3);
      }
      const uret::result<void> r = table.set(cpu0, slot, 0x5a5);
      REQUIRE_FALSE(r.has_value());
      CHECK(r.error() == f.want);
      CHECK(table.current(cpu0, slot).value_or(99) == 0);
      CHECK_FALSE(table.registered(cpu0));
      CHECK(table.dirty_slots(cpu0) == 0);
      CHECK(table.stats(cpu0).writes == before.writes);
      CHECK(tree.peek(0, m) == 0);
    }
    SECTION("and EINTR is invisible") {
      b.syscalls().fail_with(call::pwrite, EINTR, 3);
      CHECK(table.set(cpu0, slot, 0x5a5).has_value());
      CHECK(tree.peek(0, m) == 0x5a5);
      CHECK(table.registered(cpu0));
      CHECK(chain.fire(cpu0).has_value());
      CHECK(tree.peek(0, m) == 0);
    }
  }
  SECTION("a failed restore keeps the slot dirty and the notifier registered") {
    for (const injected& f : faults) {
      INFO(f.name);
      REQUIRE(table.set(cpu0, slot, 0x5a5).has_value());
      if (f.err != 0) {
        b.syscalls().fail_with(call::pwrite, f.err);
      } else {
        b.syscalls().short_transfer(call::pwrite, 3);
      }
      CHECK(table.on_user_return(cpu0).error() == f.want);
      CHECK(table.registered(cpu0));
      CHECK(table.current(cpu0, slot).value_or(0) == 0x5a5);
      CHECK(tree.peek(0, m) == 0x5a5);
      CHECK(chain.fire(cpu0).has_value());  // the next return to user mode succeeds
      CHECK(tree.peek(0, m) == 0);
      CHECK_FALSE(table.registered(cpu0));
    }
  }
  SECTION("a failed read at cpu_online captures nothing") {
    REQUIRE(table.drop(cpu1).has_value());
    REQUIRE(tree.poke(1, m, 0x77));
    b.syscalls().fail_with(call::pread, EIO);
    CHECK(table.cpu_online(cpu1).error() == errc::msr_fault);
    CHECK_FALSE(table.online(cpu1));
    REQUIRE(table.cpu_online(cpu1).has_value());
    CHECK(table.host(cpu1, slot).value_or(0) == 0x77);
  }
  SECTION("the other CPU is unaffected") {
    b.syscalls().fail_with(call::pwrite, EIO);
    CHECK_FALSE(table.set(cpu0, slot, 0x5a5).has_value());
    REQUIRE(table.set(cpu1, slot, 0x15a5).has_value());
    CHECK(tree.peek(1, m) == 0x15a5);
    CHECK(tree.peek(0, m) == 0);
    CHECK(chain.fire(cpu1).has_value());
    CHECK(tree.peek(1, m) == 1);
    CHECK(b.last_error(cpu1).code == errc{});
  }
}
