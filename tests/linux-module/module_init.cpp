// SPDX-License-Identifier: GPL-2.0
// tests/linux-module/module_init.cpp - the /init (PID 1) of the `linux-module` guest test: loads
// the msr driver and the uret test module into a stock Debian kernel under QEMU and proves that
// the kernel's own user-return notifier runs uret's restore.
//
// Every step is observed three ways: RDPID (or RDTSCP) in user space on CPU 1, the hardware
// through /dev/cpu/N/msr, and the module's counters (debugfs: uret_test/ctl). TSC_AUX holds the
// CPU number on Linux (the host value); the test's "guest" values are anything else.
//  1. set V: one write in the command, exactly one restore write in the notifier, RDPID = host;
//  2. set V twice in one command: one write, one skip; set(host): no write, nothing registered;
//  3. WRMSR behind the cache, then may_clobber / invalidate: the restore puts the host back;
//  4. a second task on CPU 1 runs while the caller sleeps after set: the restore runs in it;
//  5. CPU 1 goes offline with a guest value loaded: drop() in the hotplug callback restores;
//  6. rmmod with a guest value loaded on CPU 1: restored, nothing left registered; CPU 1 then
//     returns to user mode many times, and the kernel log has no warning.
// The result goes to the console ("URET-GUEST: PASS"/"FAIL") and to QEMU's isa-debug-exit port.
#include <fcntl.h>
#include <sched.h>
#include <sys/io.h>
#include <sys/klog.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <cpuid.h>
#include <atomic>
#include <cerrno>
#include <cinttypes>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {

constexpr std::uint32_t tsc_aux = 0xC0000103;
constexpr unsigned short exit_port = 0xf4;
constexpr const char* ctl_path = "/sys/kernel/debug/uret_test/ctl";

int failures = 0;
int checks = 0;
bool have_rdpid = false;

void say(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
void say(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  std::vprintf(fmt, ap);
  va_end(ap);
  std::fflush(stdout);
}

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

[[noreturn]] void power_off(bool pass) {
  say("URET-GUEST: checks=%d failures=%d\n", checks, failures);
  say("URET-GUEST: %s\n", pass ? "PASS" : "FAIL");
  tcdrain(STDOUT_FILENO);
  sync();
  if (ioperm(exit_port, 4, 1) == 0) outl(pass ? 0U : 1U, exit_port);  // QEMU exits 1 or 3
  reboot(RB_POWER_OFF);
  for (;;) pause();
}

void set_up_system() {
  mkdir("/dev", 0755);
  mkdir("/proc", 0555);
  mkdir("/sys", 0555);
  mount("devtmpfs", "/dev", "devtmpfs", 0, nullptr);
  mount("proc", "/proc", "proc", 0, nullptr);
  mount("sysfs", "/sys", "sysfs", 0, nullptr);
  mount("debugfs", "/sys/kernel/debug", "debugfs", 0, nullptr);
  const int fd = open("/dev/console", O_RDWR);
  if (fd >= 0) {
    for (int target = 0; target < 3; ++target) dup2(fd, target);
    if (fd > 2) close(fd);
  }
}

bool load_module(const char* path, const char* params) {
  const int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const long rc = syscall(SYS_finit_module, fd, params, 0);
  const int err = errno;
  close(fd);
  if (rc != 0 && err != EEXIST) {
    say("guest: finit_module(%s): %s\n", path, std::strerror(err));
    return false;
  }
  return true;
}

bool pin_to(unsigned cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return sched_setaffinity(0, sizeof set, &set) == 0 && sched_getcpu() == static_cast<int>(cpu);
}

/// What user mode sees of TSC_AUX: RDPID when the CPU has it, else RDTSCP's ECX.
std::uint64_t user_tsc_aux() {
  if (have_rdpid) {
    std::uint64_t v = 0;
    asm volatile("rdpid %0" : "=r"(v));
    return v;
  }
  std::uint32_t lo = 0, hi = 0, aux = 0;
  asm volatile("rdtscp" : "=a"(lo), "=d"(hi), "=c"(aux));
  return aux;
}

/// TSC_AUX of `cpu` through the msr driver (an IPI to that CPU: no return to user mode there).
std::uint64_t hw(unsigned cpu) {
  char path[32];
  std::snprintf(path, sizeof path, "/dev/cpu/%u/msr", cpu);
  const int fd = open(path, O_RDONLY | O_CLOEXEC);
  std::uint64_t v = ~0ULL;
  if (fd < 0 || pread(fd, &v, sizeof v, tsc_aux) != static_cast<ssize_t>(sizeof v)) v = ~0ULL;
  if (fd >= 0) close(fd);
  return v;
}

bool command(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
bool command(const char* fmt, ...) {
  char text[64];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(text, sizeof text, fmt, ap);
  va_end(ap);
  const int fd = open(ctl_path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const ssize_t n = write(fd, text, std::strlen(text));
  const int err = errno;
  close(fd);
  if (n != static_cast<ssize_t>(std::strlen(text))) {
    say("guest: command '%s': %s\n", text, std::strerror(err));
    return false;
  }
  return true;
}

struct stats {
  int online = -1, registered = -1, last_pid = 0;
  unsigned long long host = 0, writes = 0, skipped = 0, command = 0, notifier = 0, drop = 0,
                     drops = 0, last_value = 0, dirty = 0, unknown = 0;
};

stats read_stats(unsigned cpu) {
  stats s;
  FILE* f = std::fopen(ctl_path, "r");
  if (f == nullptr) return s;
  char line[512];
  while (std::fgets(line, sizeof line, f) != nullptr) {
    unsigned c = 0;
    stats t;
    if (std::sscanf(line,
                    "cpu %u online %d registered %d host %llu writes %llu skipped %llu command "
                    "%llu notifier %llu drop %llu drops %llu last_value %llu last_pid %d dirty "
                    "%llu unknown %llu",
                    &c, &t.online, &t.registered, &t.host, &t.writes, &t.skipped, &t.command,
                    &t.notifier, &t.drop, &t.drops, &t.last_value, &t.last_pid, &t.dirty,
                    &t.unknown) == 14 &&
        c == cpu) {
      s = t;
    }
  }
  std::fclose(f);
  return s;
}

void show(const char* when, const stats& s) {
  say("    [%s] online=%d registered=%d host=%llu writes=%llu skipped=%llu command=%llu "
      "notifier=%llu drop=%llu last_value=0x%llx last_pid=%d\n",
      when, s.online, s.registered, s.host, s.writes, s.skipped, s.command, s.notifier, s.drop,
      s.last_value, s.last_pid);
}

bool set_online(unsigned cpu, bool on) {
  char path[64];
  std::snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu%u/online", cpu);
  const int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = write(fd, on ? "1" : "0", 1) == 1;
  close(fd);
  return ok;
}

/// Kernel log lines that mean trouble.
int kernel_log_problems() {
  static char buf[1 << 17];
  const int n = klogctl(3 /* SYSLOG_ACTION_READ_ALL */, buf, sizeof buf - 1);
  if (n < 0) return -1;
  buf[n] = '\0';
  int problems = 0;
  for (char* line = std::strtok(buf, "\n"); line != nullptr; line = std::strtok(nullptr, "\n")) {
    if (std::strstr(line, "uret_test") != nullptr) say("    dmesg: %s\n", line);
    if (std::strstr(line, "WARNING") || std::strstr(line, "BUG") ||
        std::strstr(line, "Call Trace") || std::strstr(line, "general protection") ||
        std::strstr(line, "Oops")) {
      say("    dmesg PROBLEM: %s\n", line);
      ++problems;
    }
  }
  return problems;
}

/// "inject=<mode>" when the kernel command line says uret_test.inject=<mode> (control runs):
/// modprobe would pass it on, finit_module does not.
const char* module_params() {
  static char params[64] = "";
  char cmdline[1024] = "";
  if (FILE* f = std::fopen("/proc/cmdline", "r")) {
    if (std::fgets(cmdline, sizeof cmdline, f) == nullptr) cmdline[0] = '\0';
    std::fclose(f);
  }
  char mode[32] = "";
  if (const char* p = std::strstr(cmdline, "uret_test.inject=");
      p != nullptr && std::sscanf(p, "uret_test.inject=%31s", mode) == 1) {
    std::snprintf(params, sizeof params, "inject=%s", mode);
    say("guest: loading uret_test.ko with %s (control run)\n", params);
  }
  return params;
}

void run() {
  unsigned a = 0, b = 0, c = 0, d = 0;
  __cpuid_count(7, 0, a, b, c, d);
  have_rdpid = (c >> 22) & 1U;
  say("guest: user mode reads TSC_AUX with %s\n", have_rdpid ? "RDPID" : "RDTSCP");
  if (!check(load_module("/lib/msr.ko", "allow_writes=on") || access("/dev/cpu/1/msr", F_OK) == 0,
             "msr driver loaded") ||
      !check(load_module("/lib/uret_test.ko", module_params()),
             "uret_test.ko loaded (finit_module)") ||
      !check(pin_to(1), "pinned to CPU 1")) {
    return;
  }
  const std::uint64_t host = hw(1);
  stats s0 = read_stats(1);
  show("loaded", s0);
  check(host == 1 && user_tsc_aux() == 1,
        "CPU 1 TSC_AUX is the CPU number: hw=%" PRIu64 " user=%" PRIu64, host, user_tsc_aux());
  check(s0.online == 1 && s0.registered == 0 && s0.host == host,
        "module: CPU 1 online, nothing registered, host value captured");

  say("--- 1. set a guest value; the kernel's notifier restores on the way back ---\n");
  check(command("set %u", 0x5a5U), "set 0x5a5 on CPU 1");
  std::uint64_t seen = user_tsc_aux();
  stats s1 = read_stats(1);
  show("after set", s1);
  check(seen == host, "user mode sees the host value %" PRIu64 " (saw 0x%" PRIx64 ")", host, seen);
  check(hw(1) == host, "hardware holds the host value again");
  check(s1.command - s0.command == 1, "exactly one write by set");
  check(s1.notifier - s0.notifier == 1 && s1.last_value == host,
        "exactly one restore write, by the user-return notifier, of the host value");
  check(s1.registered == 0 && s1.dirty == 0, "nothing registered or dirty after the restore");

  say("--- 2. a second set of the same value writes nothing ---\n");
  check(command("set %u 2", 0x5a6U), "set 0x5a6 twice in one command");
  stats s2 = read_stats(1);
  show("after set x2", s2);
  check(s2.command - s1.command == 1 && s2.skipped - s1.skipped == 1,
        "the second set: no write, one skip");
  check(s2.notifier - s1.notifier == 1 && user_tsc_aux() == host && hw(1) == host,
        "one restore write, host back (user mode and hardware)");
  check(command("set %" PRIu64, host), "set the host value");
  stats s2b = read_stats(1);
  check(s2b.command == s2.command && s2b.notifier == s2.notifier && s2b.skipped == s2.skipped + 1,
        "set(host) while clean: no write, no restore");

  say("--- 3. WRMSR behind the cache, then may_clobber / invalidate ---\n");
  check(command("wrmsr %u", 0x777U), "WRMSR 0x777 behind the cache");
  seen = user_tsc_aux();
  check(seen == 0x777 && hw(1) == 0x777,
        "the cache did not know: no restore, user mode sees 0x%" PRIx64, seen);
  check(command("may_clobber %u", 0x777U), "may_clobber 0x777");
  seen = user_tsc_aux();
  stats s3 = read_stats(1);
  show("after may_clobber", s3);
  check(seen == host && hw(1) == host, "may_clobber: host value back (user 0x%" PRIx64 ")", seen);
  check(s3.notifier - s2b.notifier == 1 && s3.unknown == 0, "one restore write, slot known again");
  check(command("wrmsr %u", 0x888U) && user_tsc_aux() == 0x888, "WRMSR 0x888 behind the cache");
  check(command("invalidate"), "invalidate");
  seen = user_tsc_aux();
  stats s3b = read_stats(1);
  check(seen == host && hw(1) == host, "invalidate: host value back (user 0x%" PRIx64 ")", seen);
  check(s3b.notifier - s3.notifier == 1, "one restore write");

  say("--- 4. another task on CPU 1 returns to user mode first ---\n");
  auto* stop = static_cast<std::atomic<int>*>(
      mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
  if (!check(stop != MAP_FAILED, "shared page")) return;
  stop->store(0);
  const pid_t child = fork();
  if (child == 0) {
    if (!pin_to(1)) _exit(2);
    stop->store(1);
    while (stop->load() != 2) {
    }
    _exit(user_tsc_aux() == host ? 0 : 1);
  }
  while (stop->load() != 1) sched_yield();
  check(command("set_sleep %u 200", 0x999U), "set 0x999, then sleep 200 ms in the kernel");
  seen = user_tsc_aux();
  stats s4 = read_stats(1);
  show("after set_sleep", s4);
  check(s4.notifier - s3b.notifier == 1 && s4.last_pid == child && s4.last_value == host,
        "the restore ran once, in the other task (pid %d, restore by pid %d)", child, s4.last_pid);
  check(seen == host && hw(1) == host, "the caller and the hardware see the host value too");
  stop->store(2);
  int status = 0;
  waitpid(child, &status, 0);
  check(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the other task saw the host value");

  say("--- 5. CPU 1 offline with a guest value loaded: drop() from the hotplug callback ---\n");
  check(pin_to(0), "pinned to CPU 0");
  check(command("remote_set 1 %u", 0xabcU), "set 0xabc on CPU 1 (IPI)");
  stats s5 = read_stats(1);
  check(hw(1) == 0xabc && s5.registered == 1, "CPU 1 holds the guest value, restore registered");
  check(set_online(1, false), "CPU 1 offline");
  stats s5b = read_stats(1);
  show("after offline", s5b);
  check(s5b.drop - s5.drop == 1 && s5b.drops - s5.drops == 1 && s5b.last_value == host,
        "drop() wrote the host value once");
  check(s5b.online == 0 && s5b.registered == 0, "CPU 1 offline in the table, nothing registered");
  check(set_online(1, true), "CPU 1 online again");
  stats s5c = read_stats(1);
  check(s5c.online == 1 && s5c.host == host && hw(1) == host,
        "the hotplug callback ran cpu_online(): host value captured");
  check(pin_to(1) && user_tsc_aux() == host, "user mode on CPU 1 sees the host value");

  say("--- 6. unload with a guest value loaded ---\n");
  check(pin_to(0), "pinned to CPU 0");
  check(command("remote_set 1 %u", 0xdefU) && hw(1) == 0xdef, "CPU 1 holds guest value 0xdef");
  check(syscall(SYS_delete_module, "uret_test", O_NONBLOCK) == 0, "rmmod uret_test");
  check(hw(1) == host, "unloading restored the host value on CPU 1");
  check(pin_to(1), "pinned to CPU 1");
  for (int i = 0; i < 1000; ++i) {
    static_cast<void>(syscall(SYS_getppid));
    if (i % 100 == 0) sched_yield();
  }
  check(user_tsc_aux() == host, "1000 returns to user mode on CPU 1 later: no crash, host value");
  check(kernel_log_problems() == 0, "no warning, BUG or oops in the kernel log");
}

}  // namespace

int main() {
  set_up_system();
  say("guest: uret linux-module test\n");
  run();
  power_off(failures == 0 && checks > 0);
}
