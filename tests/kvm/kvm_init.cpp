// SPDX-License-Identifier: MIT
// tests/kvm/kvm_init.cpp - the /init (PID 1) of the live-KVM test: a small VMM over /dev/kvm,
// run inside a QEMU guest (TCG, AMD SVM) on a stock Debian kernel, so that the kernel's own
// kvm.ko + kvm-amd.ko issue their user-return WRMSRs (kvm_set_user_return_msr() before VM entry,
// kvm_on_user_return() on the way back to user mode) and tracefs records them.
//
// One boot runs every scenario family in turn. For each one the VMM starts a recording (through
// the users' helper scripts/record-kvm-trace.sh, run by a static busybox sh, when the initramfs
// has both; else by hand through tracefs: same events, same filter, buffer cleared), runs the
// scenario, stops it and appends the trace text to the raw disk /dev/vda as a record:
//     === META <name> <key>=<value>...      what the scenario expects (see below)
//     === BEGIN <name>
//     <ftrace text>
//     === END <name>
// and "=== DONE" after the last one. run_kvm.sh splits the disk back into one file per scenario.
//
// META keys: cpu0=/cpu1= the number of msr:write_msr of TSC_AUX (c0000103, SVM's only
// user-return MSR) the scenario must show on that CPU: "N" exactly, ">=N", or "any" (not
// asserted; the analysis reads them); seq0=/seq1= their values in order (see seq()).
// runs= exits= count KVM_RUN returns and user-space exits.
//
// Modules come from /m/virtio/ (the disk driver, loaded first) and /m/kvm/ (loaded inside the
// "module-load" scenario, so the probe of kvm_probe_user_return_msr() is recorded), each
// directory in name order (the run script numbers them in dependency order).
// The result goes to the console ("URET-KVM: DONE" / "URET-KVM: FAIL <why>"); the machine
// powers off at the end.
#include <dirent.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

constexpr std::uint32_t msr_tsc_aux = 0xc0000103;
constexpr const char* tracing = "/sys/kernel/tracing";

int failures = 0;

void say(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
void say(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  std::vprintf(fmt, ap);
  va_end(ap);
  std::fflush(stdout);
}

void fail(const char* what) {
  ++failures;
  say("URET-KVM: error: %s (%s)\n", what, std::strerror(errno));
}

bool write_file(const std::string& path, const std::string& value) {
  int fd = ::open(path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
  if (fd < 0) {
    say("open %s: %s\n", path.c_str(), std::strerror(errno));
    return false;
  }
  ssize_t n = ::write(fd, value.data(), value.size());
  int err = errno;
  ::close(fd);
  if (n != static_cast<ssize_t>(value.size())) {
    say("write '%s' to %s: %s\n", value.c_str(), path.c_str(), std::strerror(err));
    return false;
  }
  return true;
}

std::string read_file(const std::string& path) {
  std::string out;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return out;
  char buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return out;
}

void pin(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(static_cast<unsigned>(cpu), &set);
  if (::sched_setaffinity(0, sizeof set, &set) != 0) fail("sched_setaffinity");
}

void sleep_ms(int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

// "seqC=v,v,...": the TSC_AUX values (hex, as write_msr prints them) CPU C must show, in order:
// `unit` repeated `times` times, or any number of times (at least once) when times < 0,
// written "seqC=(v,v)*".
std::string seq(int cpu, const std::vector<std::uint64_t>& unit, int times) {
  std::string list;
  for (std::uint64_t v : unit) {
    char b[24];
    std::snprintf(b, sizeof b, "%s%llx", list.empty() ? "" : ",",
                  static_cast<unsigned long long>(v));
    list += b;
  }
  std::string out = " seq" + std::to_string(cpu) + "=";
  if (times < 0) return out + "(" + list + ")*";
  std::string all;
  for (int i = 0; i < times; ++i) all += (i ? "," : "") + list;
  return out + all;
}

// --- modules ------------------------------------------------------------------------------------

void load_modules(const char* dir) {
  std::vector<std::string> names;
  if (DIR* d = ::opendir(dir)) {
    while (dirent* e = ::readdir(d))
      if (e->d_name[0] != '.') names.emplace_back(e->d_name);
    ::closedir(d);
  }
  std::sort(names.begin(), names.end());
  for (const auto& n : names) {
    std::string path = std::string(dir) + "/" + n;
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    long r = fd < 0 ? -1 : ::syscall(SYS_finit_module, fd, "", 0);
    say("load %s -> %ld%s%s\n", path.c_str(), r, r ? " " : "", r ? std::strerror(errno) : "");
    if (r != 0 && errno != EEXIST) fail("finit_module");
    if (fd >= 0) ::close(fd);
  }
}

// --- tracefs ------------------------------------------------------------------------------------

// The events docs/traces.md tells users to record, msr:read_msr included, system-wide. Only the
// VMM's threads issue system calls in this guest, so raw_syscalls:sys_exit needs no filter.
const char* const events[] = {"msr/write_msr",
                              "msr/read_msr",
                              "sched/sched_switch",
                              "sched/sched_migrate_task",
                              "raw_syscalls/sys_exit",
                              "kvm/kvm_entry",
                              "kvm/kvm_exit",
                              "kvm/kvm_userspace_exit",
                              "kvm/kvm_fpu"};
constexpr const char* msr_filter =
    "msr == 0xc0000081 || msr == 0xc0000082 || msr == 0xc0000083 || msr == 0xc0000084 || "
    "msr == 0xc0000103 || msr == 0xc0000080 || msr == 0x122";

void enable_events(bool quiet) {
  for (const char* e : events) {
    std::string dir = std::string(tracing) + "/events/" + e;
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0) {
      if (!quiet) say("event %s: not available\n", e);
      continue;
    }
    if (std::strncmp(e, "msr/", 4) == 0) write_file(dir + "/filter", msr_filter);
    write_file(dir + "/enable", "1");
  }
}

int disk = -1;

void put(const std::string& s) {
  std::size_t off = 0;
  while (off < s.size()) {
    ssize_t n = ::write(disk, s.data() + off, s.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      fail("write /dev/vda");
      return;
    }
    off += static_cast<std::size_t>(n);
  }
}

// The users' recording helper (scripts/record-kvm-trace.sh, run by a static busybox sh) when the
// initramfs has it: the recipe the docs give is the one tested. Without it, tracefs by hand.
constexpr const char* helper = "/record-kvm-trace.sh";
constexpr const char* helper_out = "/scenario-trace.txt";

bool have_helper() { return ::access(helper, R_OK) == 0 && ::access("/bin/sh", X_OK) == 0; }

bool run_helper(std::initializer_list<const char*> args) {
  std::vector<const char*> argv{"sh", helper, "--buffer-kb", "16384"};
  argv.insert(argv.end(), args);
  argv.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid == 0) {
    ::execv("/bin/sh", const_cast<char* const*>(argv.data()));
    ::_exit(127);
  }
  int status = 0;
  if (pid < 0 || ::waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
      WEXITSTATUS(status) != 0) {
    fail("record-kvm-trace.sh");
    return false;
  }
  return true;
}

// Set in a child started with `/init --run SCENARIO`: the scenario runs unrecorded, because the
// parent records it with `record-kvm-trace.sh --trace-cmd record OUT -- /init --run SCENARIO`.
bool unrecorded = false;
constexpr const char* unrecorded_meta = "/unrecorded-scenario.meta";

bool write_file_new(const std::string& path, const std::string& value) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return false;
  const bool ok = ::write(fd, value.data(), value.size()) == static_cast<ssize_t>(value.size());
  return ::close(fd) == 0 && ok;
}

struct recording {
  std::string name;
  std::chrono::steady_clock::time_point start;
  recording(std::string n) : name(std::move(n)) {
    if (unrecorded) return;
    say("scenario %s: start\n", name.c_str());
    if (have_helper()) {
      run_helper({"start"});
    } else {
      write_file(std::string(tracing) + "/tracing_on", "0");
      write_file(std::string(tracing) + "/trace", "");  // O_TRUNC clears every CPU's buffer
      enable_events(true);                              // kvm/* exist only once kvm.ko is loaded
      write_file(std::string(tracing) + "/tracing_on", "1");
    }
    start = std::chrono::steady_clock::now();
  }
  void finish(const std::string& meta) {
    if (unrecorded) {  // the parent reads what to expect here
      write_file_new(unrecorded_meta, meta);
      return;
    }
    std::string text;
    if (have_helper()) {
      run_helper({"stop", helper_out});
      text = read_file(helper_out);
      ::unlink(helper_out);
    } else {
      write_file(std::string(tracing) + "/tracing_on", "0");
      text = read_file(std::string(tracing) + "/trace");
    }
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                  std::chrono::steady_clock::now() - start)
                  .count();
    say("scenario %s: %lld ms, %zu bytes of trace, %s\n", name.c_str(), static_cast<long long>(ms),
        text.size(), meta.c_str());
    put("=== META " + name + " " + meta + "\n=== BEGIN " + name + "\n");
    put(text);
    if (!text.empty() && text.back() != '\n') put("\n");
    put("=== END " + name + "\n");
  }
};

// Base64 (RFC 4648), 76 characters a line: how a binary file crosses the text disk format.
std::string base64(const std::string& in) {
  static constexpr char digits[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t col = 0;
  for (std::size_t i = 0; i < in.size(); i += 3) {
    std::uint32_t v = static_cast<std::uint32_t>(static_cast<std::uint8_t>(in[i])) << 16;
    if (i + 1 < in.size())
      v |= static_cast<std::uint32_t>(static_cast<std::uint8_t>(in[i + 1])) << 8;
    if (i + 2 < in.size()) v |= static_cast<std::uint8_t>(in[i + 2]);
    out += digits[(v >> 18) & 63];
    out += digits[(v >> 12) & 63];
    out += i + 1 < in.size() ? digits[(v >> 6) & 63] : '=';
    out += i + 2 < in.size() ? digits[v & 63] : '=';
    if ((col += 4) == 76) {
      out += '\n';
      col = 0;
    }
  }
  if (col != 0) out += '\n';
  return out;
}

// --- the VMM ------------------------------------------------------------------------------------

int kvm_fd = -1;

// struct kvm_cpuid2 and struct kvm_msrs end in __DECLARE_FLEX_ARRAY, whose empty member has size
// 1 in C++: their C++ sizeof (hence the ioctl numbers) and entry offsets differ from the
// kernel's. Both are two __u32 then the entries, so the buffers and numbers are built by hand.
constexpr std::size_t flex_header = 8;
constexpr unsigned long kvm_set_cpuid2 = _IOC(_IOC_WRITE, KVMIO, 0x90, flex_header);
constexpr unsigned long kvm_set_msrs = _IOC(_IOC_WRITE, KVMIO, 0x89, flex_header);

// Guest programs: 16-bit real mode code at 0x1000 (CS base 0), assembled by hand.
struct code {
  std::vector<std::uint8_t> b;
  code& emit(std::initializer_list<std::uint8_t> x) {
    b.insert(b.end(), x);
    return *this;
  }
  std::size_t here() const { return b.size(); }
  code& mov_edi(std::uint32_t v) {  // 66 bf imm32
    return emit({0x66, 0xbf, std::uint8_t(v), std::uint8_t(v >> 8), std::uint8_t(v >> 16),
                 std::uint8_t(v >> 24)});
  }
  code& cpuid() { return emit({0x66, 0x31, 0xc0, 0x0f, 0xa2}); }  // xor eax,eax; cpuid
  code& out() { return emit({0xe6, 0x10}); }                      // out 0x10, al
  code& hlt() { return emit({0xf4}); }
  code& cli() { return emit({0xfa}); }
  code& dec_edi_jnz(std::size_t to) {  // 66 4f; 75 rel8
    emit({0x66, 0x4f});
    return emit({0x75, std::uint8_t(to - (here() + 2))});
  }
  code& jmp(std::size_t to) { return emit({0xeb, std::uint8_t(to - (here() + 2))}); }
  code& wrmsr_tsc_aux_edi() {  // mov eax,edi; mov ecx,TSC_AUX; xor edx,edx; wrmsr
    return emit(
        {0x66, 0x89, 0xf8, 0x66, 0xb9, 0x03, 0x01, 0x00, 0xc0, 0x66, 0x31, 0xd2, 0x0f, 0x30});
  }
  code& inc_edi() { return emit({0x66, 0x47}); }
};

// loop: cpuid x k; out; jmp loop  (k exits handled in the kernel, one to user space)
code prog_io(int k) {
  code c;
  std::size_t top = c.here();
  for (int i = 0; i < k; ++i) c.cpuid();
  return c.out().jmp(top);
}
// loop: edi = n; (cpuid; dec edi; jnz); out; jmp loop
code prog_kernel_loop(std::uint32_t n) {
  code c;
  std::size_t top = c.here();
  c.mov_edi(n);
  std::size_t inner = c.here();
  c.cpuid().dec_edi_jnz(inner).out();
  return c.jmp(top);
}
// edi = first; loop: wrmsr TSC_AUX <- edi; cpuid; out; inc edi; jmp loop
code prog_wrmsr(std::uint32_t first) {
  code c;
  c.mov_edi(first);
  std::size_t top = c.here();
  c.wrmsr_tsc_aux_edi().cpuid().out().inc_edi();
  return c.jmp(top);
}
code prog_hlt() {
  code c;
  std::size_t top = c.here();
  c.cpuid().hlt();
  return c.jmp(top);
}
code prog_spin() {  // jmp $: leaves guest mode only for host interrupts
  code c;
  return c.jmp(c.here());
}
code prog_cli_hlt() {  // halts with interrupts off: blocks in the kernel until a signal
  code c;
  std::size_t top = c.here();
  c.cli().hlt();
  return c.jmp(top);
}

struct vm {
  int fd = -1;
  std::uint8_t* mem = nullptr;
  explicit vm(const code& prog, bool irqchip = false) {
    fd = ::ioctl(kvm_fd, KVM_CREATE_VM, 0);
    if (fd < 0) {
      fail("KVM_CREATE_VM");
      return;
    }
    if (irqchip && ::ioctl(fd, KVM_CREATE_IRQCHIP, 0) != 0) fail("KVM_CREATE_IRQCHIP");
    mem = static_cast<std::uint8_t*>(
        ::mmap(nullptr, 0x10000, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
    std::memcpy(mem + 0x1000, prog.b.data(), prog.b.size());
    kvm_userspace_memory_region reg{};
    reg.memory_size = 0x10000;
    reg.userspace_addr = reinterpret_cast<std::uint64_t>(mem);
    if (::ioctl(fd, KVM_SET_USER_MEMORY_REGION, &reg) != 0) fail("KVM_SET_USER_MEMORY_REGION");
  }
  ~vm() {
    if (mem) ::munmap(mem, 0x10000);
    if (fd >= 0) ::close(fd);
  }
  vm(const vm&) = delete;
  vm& operator=(const vm&) = delete;
};

// The vCPU gets every CPUID leaf KVM supports (RDTSCP among them: without it KVM refuses the
// guest's WRMSR to TSC_AUX). guest_tsc_aux >= 0 is set with KVM_SET_MSRS (host-initiated).
struct vcpu {
  int fd = -1;
  kvm_run* run = nullptr;
  int size = 0;
  int runs = 0, user_exits = 0, eintr = 0, hlt = 0;
  vcpu(const vm& v, int id, long long guest_tsc_aux = -1) {
    fd = ::ioctl(v.fd, KVM_CREATE_VCPU, id);
    if (fd < 0) {
      fail("KVM_CREATE_VCPU");
      return;
    }
    size = ::ioctl(kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
    run = static_cast<kvm_run*>(
        ::mmap(nullptr, static_cast<std::size_t>(size), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0));
    // A small CPUID: the AMD vendor, leaf 0x80000001 with RDTSCP (EDX bit 27).
    std::vector<std::uint8_t> buf(flex_header + 4 * sizeof(kvm_cpuid_entry2));
    const std::uint32_t nent = 4;
    std::memcpy(buf.data(), &nent, sizeof nent);
    const std::uint32_t leaves[4][2] = {{0, 1}, {1, 0}, {0x80000000, 0x80000001}, {0x80000001, 0}};
    for (int i = 0; i < 4; ++i) {
      kvm_cpuid_entry2 e{};
      e.function = leaves[i][0];
      e.eax = leaves[i][1];
      if (e.function == 0 || e.function == 0x80000000) {
        e.ebx = 0x68747541;  // "AuthenticAMD"
        e.edx = 0x69746e65;
        e.ecx = 0x444d4163;
      }
      if (e.function == 0x80000001) e.edx = 1u << 27;  // RDTSCP
      std::memcpy(buf.data() + flex_header + static_cast<std::size_t>(i) * sizeof e, &e, sizeof e);
    }
    if (::ioctl(fd, kvm_set_cpuid2, buf.data()) != 0) fail("KVM_SET_CPUID2");
    kvm_sregs s{};
    ::ioctl(fd, KVM_GET_SREGS, &s);
    s.cs.base = 0;
    s.cs.selector = 0;
    if (::ioctl(fd, KVM_SET_SREGS, &s) != 0) fail("KVM_SET_SREGS");
    kvm_regs r{};
    r.rip = 0x1000;
    r.rflags = 2;
    if (::ioctl(fd, KVM_SET_REGS, &r) != 0) fail("KVM_SET_REGS");
    if (guest_tsc_aux >= 0) {
      std::vector<std::uint8_t> mb(flex_header + sizeof(kvm_msr_entry));
      const std::uint32_t nmsrs = 1;
      std::memcpy(mb.data(), &nmsrs, sizeof nmsrs);
      kvm_msr_entry e{};
      e.index = msr_tsc_aux;
      e.data = static_cast<std::uint64_t>(guest_tsc_aux);
      std::memcpy(mb.data() + flex_header, &e, sizeof e);
      if (::ioctl(fd, kvm_set_msrs, mb.data()) != 1) fail("KVM_SET_MSRS TSC_AUX");
    }
  }
  ~vcpu() {
    if (run) ::munmap(run, static_cast<std::size_t>(size));
    if (fd >= 0) ::close(fd);
  }
  vcpu(const vcpu&) = delete;
  vcpu& operator=(const vcpu&) = delete;
  // One KVM_RUN; false on an error other than EINTR.
  bool step() {
    int rc = ::ioctl(fd, KVM_RUN, 0);
    ++runs;
    if (rc < 0) {
      if (errno == EINTR) {
        ++eintr;
        return true;
      }
      fail("KVM_RUN");
      return false;
    }
    ++user_exits;
    if (run->exit_reason == KVM_EXIT_HLT)
      ++hlt;
    else if (run->exit_reason != KVM_EXIT_IO) {
      say("unexpected exit reason %u\n", run->exit_reason);
      ++failures;
      return false;
    }
    return true;
  }
  std::string counts() const {
    char b[128];
    std::snprintf(b, sizeof b, "runs=%d exits=%d eintr=%d hlt=%d", runs, user_exits, eintr, hlt);
    return b;
  }
};

void on_signal(int) {}

// Sends SIGUSR1 to `target` after `ms` milliseconds, from a thread pinned to `cpu`.
// The caller moves to `cpu` while it creates the thread, so that the thread never runs on the
// caller's CPU (it would return to user mode there), and then moves back.
std::thread signal_after(pthread_t target, int ms, int cpu, int back) {
  pin(cpu);
  std::thread t([=] {
    ::prctl(PR_SET_NAME, "signaller");
    sleep_ms(ms);
    ::pthread_kill(target, SIGUSR1);
  });
  pin(back);
  return t;
}

// --- scenarios ----------------------------------------------------------------------------------

void scenario_module_load() {
  recording r("module-load");
  load_modules("/m/kvm");
  kvm_fd = ::open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (kvm_fd < 0) fail("open /dev/kvm");
  r.finish("cpu0=any cpu1=any");
}

void scenario_user_exits() {
  pin(1);
  vm v(prog_io(2));
  vcpu c(v, 0);
  recording r("user-exits");
  for (int i = 0; i < 40 && c.step(); ++i) {
  }
  // every KVM_RUN: guest value 0 before entry, host value 1 on the way back to user mode
  r.finish("cpu0=0 cpu1=" + std::to_string(2 * c.user_exits) + seq(1, {0, 1}, c.user_exits) + " " +
           c.counts());
}

void scenario_kernel_exits() {
  pin(1);
  vm v(prog_kernel_loop(300));
  vcpu c(v, 0);
  recording r("kernel-exits");
  c.step();  // 300 CPUID exits handled in the kernel, then one OUT to user space
  r.finish("cpu0=0 cpu1=2" + seq(1, {0, 1}, 1) + " " + c.counts());
}

void scenario_host_equals_guest() {
  pin(0);
  vm v(prog_io(2));
  vcpu c(v, 0);
  recording r("host-equals-guest");
  for (int i = 0; i < 40 && c.step(); ++i) {
  }
  r.finish("cpu0=0 cpu1=0 " + c.counts());
}

void scenario_migration() {
  vm v(prog_io(1));
  vcpu c(v, 0);
  recording r("migration");
  int on1 = 0;
  for (int i = 0; i < 20; ++i) {
    pin(i % 2 == 0 ? 1 : 0);
    on1 += i % 2 == 0;
    if (!c.step()) break;
  }
  r.finish("cpu0=0 cpu1=" + std::to_string(2 * on1) + seq(1, {0, 1}, on1) + " " + c.counts());
}

void scenario_guest_wrmsr() {
  pin(1);
  vm v(prog_wrmsr(5));
  vcpu c(v, 0);
  recording r("guest-wrmsr");
  for (int i = 0; i < 20 && c.step(); ++i) {
  }
  // per KVM_RUN: the previous guest value before entry (0 at first), the guest's WRMSR (5, 6,
  // ...) handled in the kernel, the host value 1 on the return to user mode
  std::vector<std::uint64_t> values;
  for (int k = 0; k < c.user_exits; ++k) {
    values.insert(values.end(),
                  {k == 0 ? 0u : 4u + static_cast<unsigned>(k), 5u + static_cast<unsigned>(k), 1u});
  }
  r.finish("cpu0=0 cpu1=" + std::to_string(3 * c.user_exits) + seq(1, values, 1) + " " +
           c.counts());
}

void scenario_hlt_exits() {
  pin(1);
  vm v(prog_hlt());  // no in-kernel irqchip: HLT exits to user space (KVM_EXIT_HLT)
  vcpu c(v, 0);
  recording r("hlt-exits");
  for (int i = 0; i < 20 && c.step(); ++i) {
  }
  r.finish("cpu0=0 cpu1=" + std::to_string(2 * c.user_exits) +
           " hlt-exits=" + std::to_string(c.hlt) + " " + c.counts());
}

void scenario_signal() {
  pin(1);
  vm v(prog_spin());
  vcpu c(v, 0);
  recording r("signal-eintr");
  for (int i = 0; i < 5; ++i) {
    std::thread t = signal_after(::pthread_self(), 40, 0, 1);
    c.step();
    t.join();
  }
  r.finish("cpu0=0 cpu1=" + std::to_string(2 * c.runs) + seq(1, {0, 1}, c.runs) + " " + c.counts());
}

void scenario_preempt_user() {
  pin(1);
  vm v(prog_spin());
  vcpu c(v, 0);
  std::atomic<bool> stop{false};
  recording r("preempt-user");
  // Another user task on CPU 1 shares it with the vCPU thread: when it returns to user mode
  // while the guest value is loaded, the notifier fires in *its* context.
  std::thread hog([&] {
    ::prctl(PR_SET_NAME, "hog");
    pin(1);
    volatile std::uint64_t x = 0;
    while (!stop.load()) {
      for (int i = 0; i < 20000; ++i) x = x + 1;
      ::getppid();
    }
  });
  std::thread t = signal_after(::pthread_self(), 300, 0, 1);
  c.step();
  t.join();
  stop = true;
  hog.join();
  r.finish("cpu0=0 cpu1=>=3" + seq(1, {0, 1}, -1) + " " + c.counts());
}

void scenario_preempt_idle() {
  pin(1);
  vm v(prog_cli_hlt(), true);  // in-kernel LAPIC: HLT blocks in the kernel (idle runs)
  vcpu c(v, 0);
  recording r("preempt-idle");
  std::thread t = signal_after(::pthread_self(), 200, 0, 1);
  c.step();
  t.join();
  r.finish("cpu0=0 cpu1=2" + seq(1, {0, 1}, 1) + " " + c.counts());
}

void scenario_two_vcpus() {
  vm v(prog_io(1));
  pin(0);
  vcpu a(v, 0, 0x10);
  pin(1);
  vcpu b(v, 1, 0x11);
  recording r("two-vcpus");
  // No KVM_RUN before both threads sit on their CPUs (a new thread first returns to user mode on
  // its creator's CPU, 1) and the main thread's last return to user mode (from clone) is behind
  // it: then no other user task returns to user mode on either CPU during the runs.
  std::atomic<bool> go{false};
  std::atomic<int> ready{0};
  auto body = [&go, &ready](vcpu* c, int cpu, const char* name) {
    ::prctl(PR_SET_NAME, name);
    pin(cpu);
    ++ready;
    while (!go.load() || ready.load() < 2) {
    }
    for (int i = 0; i < 20 && c->step(); ++i) {
    }
  };
  std::thread ta(body, &a, 0, "vcpu0");
  std::thread tb(body, &b, 1, "vcpu1");
  go = true;
  // The main thread stays on CPU 1 and sleeps until vcpu1 is done: waking earlier (for vcpu0's
  // end) it would return to user mode on CPU 1 while vcpu1's guest value is loaded.
  tb.join();
  ta.join();
  r.finish("cpu0=" + std::to_string(2 * a.user_exits) +
           " cpu1=" + std::to_string(2 * b.user_exits) + seq(0, {0x10, 0}, a.user_exits) +
           seq(1, {0x11, 1}, b.user_exits) + " vcpu0:" + a.counts() + " vcpu1:" + b.counts());
}

void scenario_two_vms() {
  pin(1);
  vm va(prog_io(1));
  vm vb(prog_io(1));
  vcpu a(va, 0, 0x20);
  vcpu b(vb, 0, 0x21);
  recording r("two-vms");
  for (int i = 0; i < 10; ++i) {
    if (!a.step() || !b.step()) break;
  }
  r.finish("cpu0=0 cpu1=" + std::to_string(2 * (a.user_exits + b.user_exits)) +
           seq(1, {0x20, 1, 0x21, 1}, std::min(a.user_exits, b.user_exits)) + " vmA:" + a.counts() +
           " vmB:" + b.counts());
}

// CPU 1 goes offline while the vCPU thread is inside KVM_RUN there with its guest value loaded
// (the guest spins, so nothing returns to user mode on CPU 1), and comes back online. The
// thread, moved to CPU 0 by the offline, is then stopped by a signal, pinned to CPU 1 again and
// runs once more until a second signal: that entry and its return use the host value KVM read
// when CPU 1 came back.
void scenario_cpu_offline() {
  vm v(prog_spin());
  pin(1);
  vcpu c(v, 0, 0x30);
  std::atomic<int> phase{0};  // 1 the first KVM_RUN returned, 2 the second one is about to start
  recording r("cpu-offline");
  std::thread t([&] {
    ::prctl(PR_SET_NAME, "vcpu-off");
    pin(1);
    c.step();
    phase = 1;
    while (phase.load() != 2) {
    }
    pin(1);
    c.step();
  });
  pin(0);
  sleep_ms(100);
  const char* online = "/sys/devices/system/cpu/cpu1/online";
  if (!write_file(online, "0")) ++failures;
  sleep_ms(100);
  if (!write_file(online, "1")) ++failures;
  sleep_ms(100);
  ::pthread_kill(t.native_handle(), SIGUSR1);
  while (phase.load() != 1) sleep_ms(1);
  phase = 2;
  sleep_ms(100);
  ::pthread_kill(t.native_handle(), SIGUSR1);
  t.join();
  r.finish("cpu0=any cpu1=any " + c.counts());
}

// A VM created, run 5 times on CPU 1 and destroyed inside the recording: on kernels that enable
// virtualization with the first VM (kvm.enable_virt_at_load=0, 6.1) this shows EFER.SVME set and
// the host values read on every CPU, and the disable when the last VM goes.
void scenario_vm_lifecycle() {
  pin(1);
  recording r("vm-lifecycle");
  int exits = 0;
  {
    vm v(prog_io(1));
    vcpu c(v, 0);
    for (int i = 0; i < 5 && c.step(); ++i) {
    }
    exits = c.user_exits;
  }
  r.finish("cpu0=0 cpu1=" + std::to_string(2 * exits) + seq(1, {0, 1}, exits) +
           " exits=" + std::to_string(exits));
}

// The user-exits scenario recorded by `record-kvm-trace.sh --trace-cmd record`, when the
// initramfs has trace-cmd: the report text is a scenario like the others, and the binary
// trace.dat follows it base64-encoded between "=== DAT <name>" and "=== ENDDAT <name>".
void scenario_trace_cmd() {
  if (!have_helper() || ::access("/bin/trace-cmd", X_OK) != 0) return;
  const std::string name = "trace-cmd-user-exits";
  say("scenario %s: trace-cmd record\n", name.c_str());
  const char* out = "/trace-cmd-scenario.txt";
  // trace-cmd saves /proc/kallsyms in every trace.dat (4 MB here, 1 MB compressed); none of the
  // recorded events prints a symbol, so an empty one keeps the file small enough to commit.
  const bool hidden = ::mount("/dev/null", "/proc/kallsyms", nullptr, MS_BIND, nullptr) == 0;
  const bool recorded =
      run_helper({"--trace-cmd", "record", out, "--", "/init", "--run", "user-exits"});
  if (hidden) ::umount("/proc/kallsyms");
  if (!recorded) return;
  const std::string text = read_file(out);
  const std::string dat = read_file(std::string(out) + ".dat");
  // The child's expectations for TSC_AUX, as in user-exits. The recording also covers the VM's
  // creation, whose EFER.SVME writes (hardware enable on 6.1) the importer must recognise as
  // not user-return traffic: the verdict is asserted as for every other scenario.
  const std::string meta = read_file(unrecorded_meta);
  say("scenario %s: %zu bytes of report, %zu bytes of trace.dat\n", name.c_str(), text.size(),
      dat.size());
  put("=== META " + name + " " + meta + "\n=== BEGIN " + name + "\n");
  put(text);
  if (!text.empty() && text.back() != '\n') put("\n");
  put("=== END " + name + "\n=== DAT " + name + "\n" + base64(dat) + "=== ENDDAT " + name + "\n");
}

// Unloading a module whose trace events were ever enabled resets the trace buffer, and kvm.ko
// owns the kvm:* events: so only kvm-amd is unloaded inside the recording, kvm after it.
void scenario_unload() {
  ::close(kvm_fd);
  kvm_fd = -1;
  pin(1);
  recording r("kvm-amd-unload");
  if (::syscall(SYS_delete_module, "kvm_amd", O_NONBLOCK) != 0) fail("delete_module kvm_amd");
  r.finish("cpu0=0 cpu1=0");
  if (::syscall(SYS_delete_module, "kvm", O_NONBLOCK) != 0) fail("delete_module kvm");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 3 && std::string(argv[1]) == "--run" && ::getpid() != 1) {
    unrecorded = true;  // a scenario run under `trace-cmd record` (scenario_trace_cmd)
    kvm_fd = ::open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (kvm_fd < 0 || std::string(argv[2]) != "user-exits") return 1;
    scenario_user_exits();
    return failures == 0 ? 0 : 1;
  }
  ::setenv("PATH", "/bin", 1);
  ::mount("devtmpfs", "/dev", "devtmpfs", 0, nullptr);
  ::mount("proc", "/proc", "proc", 0, nullptr);
  ::mount("sysfs", "/sys", "sysfs", 0, nullptr);
  ::mount("tracefs", tracing, "tracefs", 0, nullptr);
  say("URET-KVM: kernel %s", read_file("/proc/version").c_str());
  struct sigaction sa {};
  sa.sa_handler = on_signal;  // no SA_RESTART: KVM_RUN returns -EINTR
  ::sigaction(SIGUSR1, &sa, nullptr);

  load_modules("/m/virtio");
  for (int i = 0; i < 100 && disk < 0; ++i) {
    disk = ::open("/dev/vda", O_WRONLY | O_CLOEXEC);
    if (disk < 0) sleep_ms(50);
  }
  if (disk < 0) {
    fail("open /dev/vda");
  } else {
    write_file(std::string(tracing) + "/buffer_size_kb", "16384");
    write_file(std::string(tracing) + "/trace_clock", "global");
    if (have_helper()) say("recording through %s\n", helper);
    enable_events(false);
    scenario_module_load();
    if (kvm_fd >= 0) {
      scenario_user_exits();
      scenario_kernel_exits();
      scenario_host_equals_guest();
      scenario_migration();
      scenario_guest_wrmsr();
      scenario_hlt_exits();
      scenario_signal();
      scenario_preempt_user();
      scenario_preempt_idle();
      scenario_two_vcpus();
      scenario_two_vms();
      scenario_cpu_offline();
      scenario_vm_lifecycle();
      scenario_trace_cmd();
      scenario_unload();
    }
    put("=== DONE failures=" + std::to_string(failures) + "\n");
    ::fsync(disk);
    ::close(disk);
  }
  if (failures)
    say("URET-KVM: FAIL %d error(s)\n", failures);
  else
    say("URET-KVM: DONE\n");
  ::sync();
  ::reboot(RB_POWER_OFF);
  return 0;
}
