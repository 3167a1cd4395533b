// SPDX-License-Identifier: MIT
// tests/guest/guest_init.cpp - the /init (PID 1) of the guest test: runs inside a QEMU guest on
// a stock Linux kernel, loads the msr driver and proves dev_cpu_msr against it.
//
// What it checks, through uret only (never by hand-rolled pread/pwrite, except the P5 baseline
// and the "firmware" that clobbers TSC_AUX behind the table's back):
//  A. STAR, LSTAR, SYSCALL_MASK and TSC_AUX read on every CPU with a read-only dev_cpu_msr, and
//     TSC_AUX cross-checked against RDTSCP executed on that CPU;
//  B. the backend contract, with TSC_AUX as the scratch MSR and the write of reserved bits into
//     IA32_PKRS as the write the CPU rejects;
//  C. slot_table<dev_cpu_msr> on TSC_AUX, every step observed with RDTSCP: set, skipped set,
//     restore at the return to user mode, firmware clobber + update_cache, may_clobber (both
//     outcomes), invalidate; the table's write counter equals the writes RDTSCP saw; the other
//     CPU is untouched;
//  D. a rejected write through the table: errc::msr_fault from the driver's EIO, no state change;
//  E. P5: the cost of dev_cpu_msr::read against a bare pread loop, printed (not asserted);
//  F. when the initramfs holds it, the read_host_msrs example: as root it prints every CPU's
//     user-return MSRs; as an unprivileged user it fails with a one-line "run as root" error.
// STAR, LSTAR and SYSCALL_MASK are only read: the guest kernel's own system calls depend on them.
// TSC_AUX is always put back (the kernel's getcpu() reads it); the end checks that it was.
//
// The result goes to the console ("URET-GUEST: PASS" or "URET-GUEST: FAIL") and to QEMU's
// isa-debug-exit port (0xf4): QEMU then exits with status 1 on pass, 3 on failure.
#include <fcntl.h>
#include <sched.h>
#include <sys/io.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include "contract/backend_contract.hpp"
#include "uret/backends/dev_cpu_msr.hpp"
#include "uret/notifier.hpp"
#include "uret/slot_table.hpp"

namespace {

using uret::cpu_id;
using uret::errc;
using uret::msr_index;

constexpr msr_index pkrs{0x6E1};                             // IA32_PKRS
constexpr std::uint64_t pkrs_reserved = 0xffffffff00000000;  // bits 63:32 are reserved
constexpr std::uint32_t max_cpus = 64;
constexpr unsigned short exit_port = 0xf4;

int failures = 0;
int checks = 0;

void say(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
void say(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  std::vprintf(fmt, ap);
  va_end(ap);
  std::fflush(stdout);
}

/// One check: prints "ok" or "FAIL" with the description.
bool check(bool ok, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
bool check(bool ok, const char* fmt, ...) {
  ++checks;
  if (!ok) ++failures;
  char text[400];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(text, sizeof text, fmt, ap);
  va_end(ap);
  say("  %-4s %s\n", ok ? "ok" : "FAIL", text);
  return ok;
}

double now_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

[[noreturn]] void power_off(bool pass) {
  say("URET-GUEST: checks=%d failures=%d\n", checks, failures);
  say("URET-GUEST: %s\n", pass ? "PASS" : "FAIL");
  tcdrain(STDOUT_FILENO);  // the serial port must send everything before QEMU exits
  sync();
  if (ioperm(exit_port, 4, 1) == 0) outl(pass ? 0U : 1U, exit_port);  // QEMU exits 1 or 3
  reboot(RB_POWER_OFF);
  for (;;) pause();  // PID 1 must not exit
}

/// Mount what the test needs and attach stdin/stdout/stderr to the console: the initramfs
/// has no device nodes, so the kernel started us without them.
void set_up_system() {
  mkdir("/dev", 0755);
  mkdir("/proc", 0555);
  mkdir("/sys", 0555);
  const bool dev = mount("devtmpfs", "/dev", "devtmpfs", 0, nullptr) == 0;
  mount("proc", "/proc", "proc", 0, nullptr);
  mount("sysfs", "/sys", "sysfs", 0, nullptr);
  const int fd = open("/dev/console", O_RDWR);
  if (fd >= 0) {
    for (int target = 0; target < 3; ++target) dup2(fd, target);
    if (fd > 2) close(fd);
  }
  char uptime[64] = "?";
  if (FILE* f = std::fopen("/proc/uptime", "r")) {
    if (std::fscanf(f, "%63s", uptime) != 1) uptime[0] = '\0';
    std::fclose(f);
  }
  say("guest: init started %s s after boot%s\n", uptime, dev ? "" : " (devtmpfs mount failed)");
}

/// Load /lib/msr.ko (absent when the driver is built in) with writes allowed.
bool load_msr_driver() {
  const int fd = open("/lib/msr.ko", O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    say("guest: no /lib/msr.ko, expecting a built-in msr driver\n");
    return access("/dev/cpu/0/msr", F_OK) == 0;
  }
  const long rc = syscall(SYS_finit_module, fd, "allow_writes=on", 0);
  const int err = errno;
  close(fd);
  if (rc != 0 && err != EEXIST) {
    say("guest: finit_module(msr.ko): %s\n", std::strerror(err));
    return false;
  }
  return true;
}

bool pin_to(std::uint32_t cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return sched_setaffinity(0, sizeof set, &set) == 0 && sched_getcpu() == static_cast<int>(cpu);
}

/// ECX of RDTSCP: the low 32 bits of TSC_AUX of the CPU that executes it.
std::uint32_t rdtscp_aux() {
  std::uint32_t lo = 0;
  std::uint32_t hi = 0;
  std::uint32_t aux = 0;
  asm volatile("rdtscp" : "=a"(lo), "=d"(hi), "=c"(aux));
  return aux;
}

std::uint64_t value_of(const uret::result<std::uint64_t>& r) { return r.value_or(~0ULL); }

// --- A. read the user-return MSRs of every CPU, cross-check TSC_AUX with RDTSCP -----------------

void read_user_return_msrs(std::uint32_t cpus, std::uint64_t (&tsc_aux)[max_cpus]) {
  say("--- A. user-return MSRs through a read-only dev_cpu_msr, TSC_AUX against RDTSCP ---\n");
  uret::dev_cpu_msr ro;  // /dev/cpu, read-only: STAR, LSTAR and SYSCALL_MASK are never written
  const msr_index shown[] = {uret::msrs::star, uret::msrs::lstar, uret::msrs::syscall_mask,
                             uret::msrs::tsc_aux};
  for (std::uint32_t c = 0; c < cpus; ++c) {
    const cpu_id cpu{c};
    check(pin_to(c), "pinned to CPU %u", c);
    for (const msr_index m : shown) {
      const uret::result<std::uint64_t> v = ro.read(cpu, m);
      if (!check(v.has_value(), "cpu%u %-12s (0x%x) = 0x%016" PRIx64, c, uret::msr_name(m).data(),
                 m.value, value_of(v))) {
        say("       %s\n", ro.message(cpu).c_str());
      }
    }
    const std::uint64_t lstar = value_of(ro.read(cpu, uret::msrs::lstar));
    check(lstar >= 0xffff800000000000ULL, "cpu%u LSTAR points into the kernel half", c);
    tsc_aux[c] = value_of(ro.read(cpu, uret::msrs::tsc_aux));
    const std::uint32_t aux = rdtscp_aux();
    say("RDTSCP cpu%u: ECX=0x%x, TSC_AUX via dev_cpu_msr=0x%" PRIx64 " -> %s\n", c, aux, tsc_aux[c],
        aux == static_cast<std::uint32_t>(tsc_aux[c]) ? "match" : "MISMATCH");
    check(aux == static_cast<std::uint32_t>(tsc_aux[c]),
          "cpu%u RDTSCP sees the TSC_AUX dev_cpu_msr read", c);
    check((tsc_aux[c] & 0xfff) == c, "cpu%u TSC_AUX holds the CPU number in bits 11:0 (Linux)", c);
  }
  check(!ro.write(cpu_id{0}, uret::msrs::tsc_aux, 0).has_value() &&
            ro.last_error(cpu_id{0}).code == errc::not_permitted,
        "a read-only backend refuses a write with errc::not_permitted");
}

// --- B. the backend contract ---------------------------------------------------------------------

struct guest_fixture {
  using backend_type = uret::dev_cpu_msr;
  uret::dev_cpu_msr& hw;
  std::uint32_t n;

  uret::dev_cpu_msr& backend() { return hw; }
  std::uint32_t cpus() const { return n; }
  msr_index scratch_msr() const { return uret::msrs::tsc_aux; }
  std::uint64_t scratch_value(cpu_id cpu) const { return 0x5a5 + 0x1000ULL * cpu.value; }
  msr_index faulting_msr() const { return pkrs; }
  std::uint64_t faulting_value() const { return pkrs_reserved; }
  bool has_cpu_bound() const { return true; }
};

void report(void*, const char* what, bool ok) { check(ok, "contract: %s", what); }

void run_contract(uret::dev_cpu_msr& hw, std::uint32_t cpus) {
  say("--- B. backend contract against the real msr driver ---\n");
  guest_fixture f{hw, cpus};
  const int failed = uret_test::run_backend_contract(f, &report, nullptr);
  say("contract: %d failed check(s)\n", failed);
}

// --- C. slot_table<dev_cpu_msr> on TSC_AUX, observed with RDTSCP -----------------------------

/// Counts how often the TSC_AUX that RDTSCP shows changes between observations: each change
/// after a table operation is one write the table issued.
struct rdtscp_observer {
  std::uint32_t last;
  std::uint64_t changes = 0;

  std::uint32_t observe() {
    const std::uint32_t now = rdtscp_aux();
    if (now != last) ++changes;
    last = now;
    return now;
  }
  /// A change made behind the table's back (the "firmware"): not counted.
  void rebase() { last = rdtscp_aux(); }
};

using table_type = uret::slot_table<uret::dev_cpu_msr, 4, max_cpus>;

void table_on_cpu(table_type& table, uret::notifier_chain<max_cpus>& chain,
                  uret::dev_cpu_msr& firmware, unsigned slot, std::uint32_t c, std::uint32_t cpus,
                  const std::uint64_t (&original)[max_cpus]) {
  const cpu_id cpu{c};
  const msr_index aux = uret::msrs::tsc_aux;
  check(pin_to(c), "pinned to CPU %u", c);
  const std::uint64_t host = value_of(table.host(cpu, slot));
  const std::uint32_t host32 = static_cast<std::uint32_t>(host);
  const std::uint64_t guest = 0x5a500 + c;
  const std::uint64_t writes_before = table.stats(cpu).writes;
  rdtscp_observer seen{rdtscp_aux()};
  check(seen.last == host32,
        "cpu%u RDTSCP shows the host value 0x%" PRIx64 " captured by cpu_online", c, host);

  check(table.set(cpu, slot, guest).has_value(), "cpu%u set(guest 0x%" PRIx64 ")", c, guest);
  std::uint32_t got = seen.observe();
  say("RDTSCP cpu%u after set(guest): 0x%x (want 0x%" PRIx64 ")\n", c, got, guest);
  check(got == guest, "cpu%u RDTSCP shows the guest value after set", c);
  const std::uint64_t skipped = table.stats(cpu).skipped;
  check(table.set(cpu, slot, guest).has_value() && table.stats(cpu).skipped == skipped + 1,
        "cpu%u set of the same value is skipped", c);
  seen.observe();
  check(table.registered(cpu) && chain.pending(cpu), "cpu%u restore registered", c);
  for (std::uint32_t o = 0; o < cpus; ++o) {
    if (o == c) continue;
    check(value_of(firmware.read(cpu_id{o}, aux)) == original[o] && !table.registered(cpu_id{o}),
          "cpu%u untouched by cpu%u's set (TSC_AUX 0x%" PRIx64 ", nothing registered)", o, c,
          original[o]);
  }

  check(chain.fire(cpu).has_value(), "cpu%u fire (return to user mode)", c);
  got = seen.observe();
  say("RDTSCP cpu%u after fire: 0x%x (want host 0x%" PRIx64 ")\n", c, got, host);
  check(got == host32 && !table.registered(cpu), "cpu%u RDTSCP shows the host value again", c);

  // Firmware clobbers the guest value with 0 and says so: update_cache(0).
  check(table.set(cpu, slot, guest).has_value(), "cpu%u set(guest) again", c);
  seen.observe();
  check(firmware.write(cpu, aux, 0).has_value(), "cpu%u firmware pokes TSC_AUX = 0", c);
  seen.rebase();
  check(table.update_cache(cpu, slot, 0).has_value(), "cpu%u update_cache(0)", c);
  check(chain.fire(cpu).has_value(), "cpu%u fire", c);
  got = seen.observe();
  say("RDTSCP cpu%u after poke 0 + update_cache(0) + fire: 0x%x (want host 0x%" PRIx64 ")\n", c,
      got, host);
  check(got == host32, "cpu%u update_cache: the restore puts the host value back", c);

  // may_clobber, firmware did clobber (with a value that differs from host and guest).
  const std::uint64_t fw = host ^ 0x40;
  check(table.set(cpu, slot, guest).has_value(), "cpu%u set(guest) again", c);
  seen.observe();
  check(firmware.write(cpu, aux, fw).has_value(), "cpu%u firmware pokes TSC_AUX = 0x%" PRIx64, c,
        fw);
  seen.rebase();
  check(table.may_clobber(cpu, slot, fw).has_value(), "cpu%u may_clobber(0x%" PRIx64 ")", c, fw);
  check(table.current(cpu, slot).error() == errc::value_unknown, "cpu%u slot now unknown", c);
  check(chain.fire(cpu).has_value(), "cpu%u fire", c);
  got = seen.observe();
  say("RDTSCP cpu%u after poke 0x%" PRIx64 " + may_clobber + fire: 0x%x (want host 0x%" PRIx64
      ")\n",
      c, fw, got, host);
  check(got == host32, "cpu%u may_clobber (clobbered): host value restored", c);

  // may_clobber, firmware did not clobber (an early-failed entry).
  check(table.set(cpu, slot, guest).has_value(), "cpu%u set(guest) again", c);
  seen.observe();
  check(table.may_clobber(cpu, slot, fw).has_value(), "cpu%u may_clobber(0x%" PRIx64 "), no poke",
        c, fw);
  check(chain.fire(cpu).has_value(), "cpu%u fire", c);
  got = seen.observe();
  say("RDTSCP cpu%u after may_clobber without poke + fire: 0x%x (want host 0x%" PRIx64 ")\n", c,
      got, host);
  check(got == host32, "cpu%u may_clobber (not clobbered): host value restored", c);

  // invalidate after an arbitrary change.
  check(firmware.write(cpu, aux, 0x777).has_value(), "cpu%u firmware pokes TSC_AUX = 0x777", c);
  seen.rebase();
  check(table.invalidate(cpu, slot).has_value(), "cpu%u invalidate", c);
  check(chain.fire(cpu).has_value(), "cpu%u fire", c);
  got = seen.observe();
  say("RDTSCP cpu%u after poke 0x777 + invalidate + fire: 0x%x (want host 0x%" PRIx64 ")\n", c, got,
      host);
  check(got == host32, "cpu%u invalidate: host value restored", c);

  const std::uint64_t writes = table.stats(cpu).writes - writes_before;
  say("RDTSCP cpu%u: the table counted %" PRIu64 " write(s), RDTSCP saw %" PRIu64 " change(s)\n", c,
      writes, seen.changes);
  check(writes == seen.changes, "cpu%u write counter equals the writes RDTSCP observed", c);
}

void slot_table_checks(uret::dev_cpu_msr& hw, std::uint32_t cpus,
                       const std::uint64_t (&original)[max_cpus]) {
  say("--- C. slot_table<dev_cpu_msr> on TSC_AUX, observed with RDTSCP ---\n");
  uret::dev_cpu_msr firmware{uret::dev_cpu_msr::access::read_write};
  uret::notifier_chain<max_cpus> chain{cpus};
  table_type table{hw, chain, cpus};
  const uret::result<unsigned> slot = table.add(uret::msrs::tsc_aux);
  if (!check(slot.has_value(), "add(TSC_AUX) probes it")) return;
  for (std::uint32_t c = 0; c < cpus; ++c) {
    check(table.cpu_online(cpu_id{c}).has_value(), "cpu_online(cpu%u)", c);
  }
  for (std::uint32_t c = 0; c < cpus; ++c) {
    table_on_cpu(table, chain, firmware, *slot, c, cpus, original);
  }
}

// --- D. a write the CPU rejects -----------------------------------------------------------------

void rejected_write(uret::dev_cpu_msr& hw, std::uint32_t cpus) {
  say("--- D. a rejected write through the table (IA32_PKRS reserved bits) ---\n");
  uret::notifier_chain<max_cpus> chain{cpus};
  table_type table{hw, chain, cpus};
  const uret::result<unsigned> slot = table.add(pkrs);
  if (!check(slot.has_value(), "add(IA32_PKRS) probes it")) return;
  const cpu_id cpu{0};
  check(table.cpu_online(cpu).has_value(), "cpu_online(cpu0)");
  const std::uint64_t before = value_of(hw.read(cpu, pkrs));
  const uret::slot_stats stats = table.stats(cpu);
  const uret::result<void> w = table.set(cpu, *slot, pkrs_reserved);
  check(!w.has_value() && w.error() == errc::msr_fault, "set(0x%" PRIx64 ") fails with msr_fault",
        pkrs_reserved);
  const uret::dev_cpu_msr_error e = hw.last_error(cpu);
  check(e.sys_errno == EIO && e.call == uret::msr_syscall::write,
        "the driver reported EIO on the pwrite (errno %d)", e.sys_errno);
  say("       message: %s\n", hw.message(cpu).c_str());
  check(table.current(cpu, *slot).value_or(~0ULL) == before && !table.registered(cpu) &&
            table.dirty_slots(cpu) == 0 && table.stats(cpu).writes == stats.writes,
        "the table is unchanged (curr, registered, dirty, counters)");
  check(value_of(hw.read(cpu, pkrs)) == before, "IA32_PKRS still holds 0x%" PRIx64, before);
}

// --- E. P5: dev_cpu_msr::read against a bare pread -----------------------------------------------

void p5(uret::dev_cpu_msr& hw, long iterations) {
  say("--- E. P5: dev_cpu_msr::read against a bare pread loop (CPU 0 reading CPU 0) ---\n");
  if (!pin_to(0)) return;
  const int fd = open("/dev/cpu/0/msr", O_RDONLY | O_CLOEXEC);
  if (!check(fd >= 0, "open /dev/cpu/0/msr for the baseline")) return;
  const cpu_id cpu{0};
  const off_t off = uret::msrs::tsc_aux.value;
  double best_raw = 1e9;
  double best_lib = 1e9;
  long errors = 0;
  constexpr int rounds = 5;
  for (int round = 0; round < rounds; ++round) {  // interleaved; the best round of each counts
    double t0 = now_seconds();
    for (long i = 0; i < iterations; ++i) {
      std::uint64_t v = 0;
      if (pread(fd, &v, sizeof v, off) != sizeof v) ++errors;
    }
    double t1 = now_seconds();
    best_raw = std::min(best_raw, t1 - t0);
    t0 = now_seconds();
    for (long i = 0; i < iterations; ++i) {
      const uret::result<std::uint64_t> v = hw.read(cpu, uret::msrs::tsc_aux);
      if (!v) ++errors;
    }
    t1 = now_seconds();
    best_lib = std::min(best_lib, t1 - t0);
  }
  close(fd);
  check(errors == 0, "no read failed during the measurement");
  const double per_raw = best_raw * 1e6 / static_cast<double>(iterations);
  const double per_lib = best_lib * 1e6 / static_cast<double>(iterations);
  say("P5: best of %d x %ld reads: bare pread %.3f us/read, dev_cpu_msr::read %.3f us/read, "
      "ratio %.3f (goal <= 1.1; printed, not asserted)\n",
      rounds, iterations, per_raw, per_lib, per_lib / per_raw);
}

// --- F. the read_host_msrs example on the real driver --------------------------------------------

struct run_result {
  int status = -1;  // exit status, or -1 when it did not exit normally
  char output[4096] = {};
};

/// Run `path` with stdout and stderr captured, as `uid` unless it is 0.
run_result run_program(const char* path, uid_t uid) {
  run_result r;
  int pipe_fds[2];
  if (pipe(pipe_fds) != 0) return r;
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(pipe_fds[1], STDOUT_FILENO);
    dup2(pipe_fds[1], STDERR_FILENO);
    close(pipe_fds[0]);
    close(pipe_fds[1]);
    if (uid != 0 && (setgid(uid) != 0 || setuid(uid) != 0)) _exit(126);
    execl(path, path, static_cast<char*>(nullptr));
    _exit(127);
  }
  close(pipe_fds[1]);
  std::size_t used = 0;
  for (;;) {
    const ssize_t n = ::read(pipe_fds[0], r.output + used, sizeof r.output - 1 - used);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    used += static_cast<std::size_t>(n);
    if (used == sizeof r.output - 1) break;
  }
  close(pipe_fds[0]);
  int wstatus = 0;
  while (pid > 0 && waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
  }
  if (pid > 0 && WIFEXITED(wstatus)) r.status = WEXITSTATUS(wstatus);
  return r;
}

void example_checks() {
  const char* path = "/read_host_msrs";
  if (access(path, X_OK) != 0) {
    say("--- F. read_host_msrs example: not in the initramfs, skipped ---\n");
    return;
  }
  say("--- F. the read_host_msrs example on the real driver ---\n");
  const run_result as_root = run_program(path, 0);
  say("%s", as_root.output);
  check(as_root.status == 0 && std::strstr(as_root.output, "LSTAR (0xc0000082)") != nullptr &&
            std::strstr(as_root.output, "cpu1") != nullptr,
        "as root it prints the user-return MSRs of every CPU (exit status %d)", as_root.status);
  const run_result as_nobody = run_program(path, 65534);
  say("example as uid 65534: %s", as_nobody.output);
  check(as_nobody.status > 0 && as_nobody.status < 126 &&
            std::strstr(as_nobody.output, "run as root") != nullptr &&
            std::strchr(as_nobody.output, '\n') == std::strrchr(as_nobody.output, '\n'),
        "as an unprivileged user it fails with one line saying to run as root (exit status %d)",
        as_nobody.status);
}

long env_long(const char* name, long fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::strtol(v, nullptr, 0) : fallback;
}

}  // namespace

int main() {
  const double t0 = now_seconds();
  set_up_system();
  if (!check(load_msr_driver(), "msr driver loaded (allow_writes=on)")) power_off(false);

  const long online = sysconf(_SC_NPROCESSORS_ONLN);
  const std::uint32_t cpus =
      online < 1 ? 1U : (online > max_cpus ? max_cpus : static_cast<std::uint32_t>(online));
  say("guest: %u CPU(s) online\n", cpus);
  check(cpus >= 2, "at least two CPUs (-smp 2), so that cross-CPU isolation is tested");

  std::uint64_t original[max_cpus] = {};
  read_user_return_msrs(cpus, original);

  uret::dev_cpu_msr hw{uret::dev_cpu_msr::access::read_write, "/dev/cpu", cpus};
  run_contract(hw, cpus);
  slot_table_checks(hw, cpus, original);
  rejected_write(hw, cpus);

  say("--- TSC_AUX put back ---\n");
  for (std::uint32_t c = 0; c < cpus; ++c) {
    const std::uint64_t now = value_of(hw.read(cpu_id{c}, uret::msrs::tsc_aux));
    if (!check(now == original[c], "cpu%u TSC_AUX is back at 0x%" PRIx64, c, original[c])) {
      static_cast<void>(hw.write(cpu_id{c}, uret::msrs::tsc_aux, original[c]));
    }
  }

  example_checks();

  const long iterations = env_long("URET_P5_ITERS", 20000);
  if (iterations > 0) p5(hw, iterations);
  say("guest: checks done in %.2f s (guest clock)\n", now_seconds() - t0);
  power_off(failures == 0);
}
