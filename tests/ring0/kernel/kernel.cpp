// SPDX-License-Identifier: MIT
// tests/ring0/kernel/kernel.cpp - the test kernel: console on COM1, the IDT and the #GP handler
// that consults native_msr's exception table, CPU identity, application-processor start-up,
// barriers, and the verdict (console marker plus QEMU exit status through isa-debug-exit).
//
// Runs with interrupts off on every CPU, identity-mapped, in CPL 0 (boot.S). Every global is
// constant-initialised: the image runs no constructors (the linker script checks).
#include "kernel.hpp"

#include <atomic>
#include <cstring>

#include "uret/backends/native_msr.hpp"
#include "uret/version.hpp"

extern "C" {
extern const char ap_trampoline[];
extern const char ap_trampoline_end[];
extern const char trap_stubs[];
extern const std::uint32_t pvh_start_info;
[[noreturn]] void halt_forever();
[[noreturn]] void kernel_entry(std::uint32_t ticket);
void trap_entry(ring0::trap_frame* frame);
}

namespace ring0 {
namespace {

// ---------------------------------------------------------------- port I/O
void outb(std::uint16_t port, std::uint8_t v) noexcept {
  asm volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}
void outw(std::uint16_t port, std::uint16_t v) noexcept {
  asm volatile("outw %0, %1" : : "a"(v), "Nd"(port));
}
std::uint8_t inb(std::uint16_t port) noexcept {
  std::uint8_t v = 0;
  asm volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
  return v;
}
void cpu_relax() noexcept { asm volatile("pause" ::: "memory"); }

void delay_cycles(std::uint64_t cycles) noexcept {
  const std::uint64_t start = rdtsc();
  while (rdtsc() - start < cycles) cpu_relax();
}

// ---------------------------------------------------------------- console
constexpr std::uint16_t com1 = 0x3f8;
constinit std::atomic<bool> console_busy{false};

void serial_init() noexcept {
  outb(com1 + 1, 0x00);  // no interrupts
  outb(com1 + 3, 0x80);  // divisor latch
  outb(com1 + 0, 0x01);  // 115200 baud
  outb(com1 + 1, 0x00);
  outb(com1 + 3, 0x03);  // 8N1
  outb(com1 + 2, 0x07);  // FIFOs on and cleared
}

void serial_write(std::string_view s) noexcept {
  for (const char c : s) {
    while ((inb(com1 + 5) & 0x20) == 0) cpu_relax();  // transmit holding register empty
    outb(com1, static_cast<std::uint8_t>(c));
  }
}

// Takes the console; gives up after a while, so that a CPU that faults while printing (or a
// panic on another CPU) still gets its last words out.
bool console_lock() noexcept {
  for (std::uint32_t spins = 0; spins < 50'000'000; ++spins) {
    if (!console_busy.exchange(true, std::memory_order_acquire)) return true;
    cpu_relax();
  }
  return false;
}
void console_unlock(bool held) noexcept {
  if (held) console_busy.store(false, std::memory_order_release);
}

// ---------------------------------------------------------------- CPU identity
struct cpuid_regs {
  std::uint32_t a, b, c, d;
};
cpuid_regs cpuid(std::uint32_t leaf) noexcept {
  cpuid_regs r{};
  asm volatile("cpuid" : "=a"(r.a), "=b"(r.b), "=c"(r.c), "=d"(r.d) : "a"(leaf), "c"(0U));
  return r;
}
std::uint8_t apic_id() noexcept { return static_cast<std::uint8_t>(cpuid(1).b >> 24); }

// logical CPU + 1 by initial APIC ID; 0 = not started. Each CPU writes only its own entry.
constinit std::uint8_t cpu_by_apic[256] = {};

void register_cpu(std::uint32_t logical) noexcept {
  cpu_by_apic[apic_id()] = static_cast<std::uint8_t>(logical + 1);
}

// ---------------------------------------------------------------- IDT and traps
struct idt_gate {
  std::uint16_t offset_low;
  std::uint16_t selector;
  std::uint8_t ist;
  std::uint8_t type;
  std::uint16_t offset_mid;
  std::uint32_t offset_high;
  std::uint32_t reserved;
};
static_assert(sizeof(idt_gate) == 16);
struct [[gnu::packed]] table_register {
  std::uint16_t limit;
  std::uint64_t base;
};

alignas(16) constinit idt_gate idt[32] = {};

void build_idt() noexcept {
  for (std::size_t v = 0; v < 32; ++v) {
    const auto stub = reinterpret_cast<std::uintptr_t>(trap_stubs) + 16 * v;
    idt[v] = idt_gate{static_cast<std::uint16_t>(stub),
                      SEL_CODE64,
                      0,
                      0x8e,  // present, DPL 0, 64-bit interrupt gate
                      static_cast<std::uint16_t>(stub >> 16),
                      static_cast<std::uint32_t>(stub >> 32),
                      0};
  }
}
void load_idt() noexcept {
  const table_register r{sizeof idt - 1, reinterpret_cast<std::uintptr_t>(idt)};
  asm volatile("lidt %0" : : "m"(r));
}

struct alignas(64) gp_slot {
  gp_record rec;
};
constinit gp_slot gp[max_cpus] = {};

const char* instruction_at(std::uint64_t rip) noexcept {
  unsigned char op[2];
  std::memcpy(op, reinterpret_cast<const void*>(rip), sizeof op);
  if (op[0] == 0x0f && op[1] == 0x30) return "WRMSR";
  if (op[0] == 0x0f && op[1] == 0x32) return "RDMSR";
  return "?";
}

// ---------------------------------------------------------------- fw_cfg, LAPIC, SMP
// QEMU's firmware configuration device: selector port 0x510, data port 0x511.
std::uint16_t fw_cfg_u16(std::uint16_t key) noexcept {
  outw(0x510, key);
  const std::uint16_t lo = inb(0x511);
  const std::uint16_t hi = inb(0x511);
  return static_cast<std::uint16_t>(lo | (hi << 8));
}
std::uint32_t firmware_cpu_count() noexcept {
  outw(0x510, 0x0000);  // FW_CFG_SIGNATURE
  const bool qemu =
      inb(0x511) == 'Q' && inb(0x511) == 'E' && inb(0x511) == 'M' && inb(0x511) == 'U';
  if (!qemu) return 1;
  return fw_cfg_u16(0x0005);  // FW_CFG_NB_CPUS
}

constexpr uret::msr_index ia32_apic_base{0x1b};
constexpr std::uint32_t lapic_svr = 0xf0;
constexpr std::uint32_t lapic_icr_low = 0x300;
constexpr std::uint32_t lapic_icr_high = 0x310;

std::uintptr_t lapic_base() noexcept {
  std::uint64_t v = 0;
  static_cast<void>(uret::fault_policy::fatal::rdmsr(ia32_apic_base, v));
  return static_cast<std::uintptr_t>(v & 0x000f'ffff'ffff'f000);
}
void lapic_write(std::uint32_t reg, std::uint32_t v) noexcept {
  *reinterpret_cast<volatile std::uint32_t*>(lapic_base() + reg) = v;
}
std::uint32_t lapic_read(std::uint32_t reg) noexcept {
  return *reinterpret_cast<volatile std::uint32_t*>(lapic_base() + reg);
}
void send_ipi_to_others(std::uint32_t icr) noexcept {
  lapic_write(lapic_icr_high, 0);
  lapic_write(lapic_icr_low, icr | (3U << 18));  // shorthand: all excluding self
  while ((lapic_read(lapic_icr_low) & (1U << 12)) != 0) cpu_relax();  // delivery pending
}

constinit std::atomic<std::uint32_t> arrived{1};  // the BSP
constinit std::atomic<bool> go{false};
constinit std::uint32_t online = 1;

std::uint32_t start_aps(std::uint32_t expected) noexcept {
  const auto size = static_cast<std::size_t>(ap_trampoline_end - ap_trampoline);
  std::memcpy(reinterpret_cast<void*>(std::uintptr_t{AP_TRAMPOLINE_PHYS}), ap_trampoline, size);
  lapic_write(lapic_svr, lapic_read(lapic_svr) | 0x100);  // APIC software enable
  send_ipi_to_others(0x4500);                             // INIT, level assert
  delay_cycles(20'000'000);
  for (int i = 0; i < 2; ++i) {
    send_ipi_to_others(0x4600 | (AP_TRAMPOLINE_PHYS >> 12));  // start-up
    delay_cycles(2'000'000);
  }
  const std::uint64_t start = rdtsc();
  while (arrived.load(std::memory_order_acquire) < expected && rdtsc() - start < 20'000'000'000)
    cpu_relax();
  return arrived.load(std::memory_order_acquire);
}

// ---------------------------------------------------------------- barrier
constinit std::atomic<std::uint32_t> barrier_count{0};
constinit std::atomic<std::uint32_t> barrier_generation{0};

// ---------------------------------------------------------------- PVH start info
struct hvm_start_info {
  std::uint32_t magic;  // 0x336ec578
  std::uint32_t version;
  std::uint32_t flags;
  std::uint32_t nr_modules;
  std::uint64_t modlist_paddr;
  std::uint64_t cmdline_paddr;
};

std::string_view cmdline() noexcept {
  if (pvh_start_info == 0) return {};
  const auto* info = reinterpret_cast<const hvm_start_info*>(std::uintptr_t{pvh_start_info});
  if (info->magic != 0x336ec578 || info->cmdline_paddr == 0) return {};
  const auto* s = reinterpret_cast<const char*>(info->cmdline_paddr);
  std::size_t n = 0;
  while (n < 1024 && s[n] != '\0') ++n;
  return {s, n};
}

std::uint32_t parse_u32(std::string_view s) noexcept {
  std::uint32_t v = 0;
  for (const char c : s) {
    if (c < '0' || c > '9') return 0;
    v = v * 10 + static_cast<std::uint32_t>(c - '0');
  }
  return v;
}

std::uint16_t code_segment() noexcept {
  std::uint16_t cs = 0;
  asm volatile("mov %%cs, %0" : "=r"(cs));
  return cs;
}

[[noreturn]] void bsp_main() noexcept {
  const std::uint64_t t0 = rdtsc();
  serial_init();
  build_idt();
  load_idt();
  register_cpu(0);
  say("ring0: uret ", uret::version_string, " test kernel, cmdline \"", cmdline(), "\"");
  say("ring0: cpu0 runs at CPL ", code_segment() & 3, " in 64-bit mode, exception table has ",
      static_cast<std::uint64_t>(uret::native_extable_end() - uret::native_extable_begin()),
      " entries");

  const std::string_view inject = cmdline_value("ring0.inject");
  if (inject == std::string_view{"hang", sizeof "hang" - 1}) {
    say("ring0: inject=hang: spinning until the host's timeout");
    for (;;) cpu_relax();
  }
  if (inject == std::string_view{"triple", sizeof "triple" - 1}) {
    say("ring0: inject=triple: empty IDT, then a breakpoint");
    const table_register none{0, 0};
    asm volatile("lidt %0\n\tint3" : : "m"(none));
  }

  std::uint32_t n = firmware_cpu_count();
  if (n > max_cpus) {
    say("ring0: firmware reports ", n, " CPUs; the kernel runs the first ", max_cpus);
    n = static_cast<std::uint32_t>(max_cpus);
  }
  const std::uint32_t want = parse_u32(cmdline_value("ring0.cpus"));
  if (want != 0 && want != n) {
    say("ring0: firmware reports ", n, " CPUs, the command line expects ", want);
    say("RING0: FAIL");
    exit_qemu(VERDICT_FAIL);
  }
  test_setup(n);
  if (n > 1) {
    const std::uint32_t got = start_aps(n);
    if (got != n) {
      say("ring0: only ", got, " of ", n, " CPUs started");
      say("RING0: FAIL");
      exit_qemu(VERDICT_FAIL);
    }
  }
  online = n;
  say("ring0: cpus=", n, " online (BSP + ", n - 1, " APs started with INIT-SIPI-SIPI)");
  go.store(true, std::memory_order_release);

  test_run(uret::cpu_id{0});
  const std::uint32_t failed = test_finish();
  const std::uint64_t cycles = rdtsc() - t0;
  say("ring0: kernel entry to verdict: ", cycles, " TSC cycles");
  if (failed != 0) {
    say("RING0: FAIL (", failed, " failed checks)");
    exit_qemu(VERDICT_FAIL);
  }
  say("RING0: PASS");
  exit_qemu(VERDICT_PASS);
}

[[noreturn]] void ap_main(std::uint32_t ticket) noexcept {
  load_idt();
  register_cpu(ticket);
  arrived.fetch_add(1, std::memory_order_release);
  while (!go.load(std::memory_order_acquire)) cpu_relax();
  if (ticket < online) test_run(uret::cpu_id{ticket});
  halt_forever();
}

}  // namespace

// ---------------------------------------------------------------- the kernel's services
void line::put(std::string_view s) noexcept {
  for (const char c : s) {
    if (n_ < sizeof buf_) buf_[n_++] = c;
  }
}
void line::put(const char* s) noexcept {
  while (*s != '\0' && n_ < sizeof buf_) buf_[n_++] = *s++;
}
void line::put(hex h) noexcept {
  char tmp[18];
  std::size_t i = sizeof tmp;
  std::uint64_t v = h.value;
  do {
    tmp[--i] = "0123456789abcdef"[v & 0xf];
    v >>= 4;
  } while (v != 0);
  tmp[--i] = 'x';
  tmp[--i] = '0';
  put(std::string_view{tmp + i, sizeof tmp - i});
}
void line::put_unsigned(std::uint64_t v) noexcept {
  char tmp[20];
  std::size_t i = sizeof tmp;
  do {
    tmp[--i] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0);
  put(std::string_view{tmp + i, sizeof tmp - i});
}
void line::emit() noexcept {
  const bool held = console_lock();
  serial_write(std::string_view{buf_, n_});
  serial_write(std::string_view{"\r\n", 2});
  console_unlock(held);
}

[[noreturn]] void exit_qemu(std::uint8_t verdict) noexcept {
  outb(DEBUG_EXIT_PORT, verdict);
  halt();  // without the device (or on hardware): stay here
}

[[noreturn]] void halt() noexcept { halt_forever(); }

[[noreturn]] void panic(const char* what, const char* file, int line_no) noexcept {
  say("RING0: CRASH panic: ", what, " at ", file, ":", line_no);
  exit_qemu(VERDICT_CRASH);
}

uret::cpu_id current_cpu() noexcept {
  const std::uint8_t v = cpu_by_apic[apic_id()];
  if (v == 0) panic("current_cpu() on a CPU the kernel did not start", __FILE__, __LINE__);
  return uret::cpu_id{v - 1U};
}

std::uint32_t cpus_online() noexcept { return online; }

void barrier() noexcept {
  const std::uint32_t gen = barrier_generation.load(std::memory_order_acquire);
  if (barrier_count.fetch_add(1, std::memory_order_acq_rel) + 1 == online) {
    barrier_count.store(0, std::memory_order_relaxed);
    barrier_generation.fetch_add(1, std::memory_order_release);
    return;
  }
  while (barrier_generation.load(std::memory_order_acquire) == gen) cpu_relax();
}

gp_record gp_stats(uret::cpu_id cpu) noexcept {
  return cpu.value < max_cpus ? gp[cpu.value].rec : gp_record{};
}

std::string_view cmdline_value(const char* key) noexcept {
  // Pointer walking, no std::string_view members that may call strlen or throw.
  const std::string_view all = cmdline();
  const char* p = all.data();
  const char* const end = p + all.size();
  while (p < end) {
    const char* q = p;
    const char* k = key;
    while (q < end && *k != '\0' && *q == *k) ++q, ++k;
    const char* token_end = q;
    while (token_end < end && *token_end != ' ') ++token_end;
    if (*k == '\0' && q < end && *q == '=') {
      return {q + 1, static_cast<std::size_t>(token_end - q - 1)};
    }
    p = token_end + 1;
  }
  return {};
}

}  // namespace ring0

// ---------------------------------------------------------------- entry points from boot.S
extern "C" [[noreturn]] void kernel_entry(std::uint32_t ticket) {
  if (ticket == 0) ring0::bsp_main();
  ring0::ap_main(ticket);
}

// The #GP handler asks native_msr's exception table first, as a host kernel's would; anything
// else, or a #GP outside the table, is a crash.
extern "C" void trap_entry(ring0::trap_frame* f) {
  using namespace ring0;
  if (f->vector == 13) {
    if (const std::uintptr_t fixup = uret::native_msr_fixup(f->rip); fixup != 0) {
      const std::uint32_t cpu = current_cpu().value;
      gp_record& r = gp[cpu].rec;
      ++r.recovered;
      r.rip = f->rip;
      r.fixup = fixup;
      r.msr = static_cast<std::uint32_t>(f->rcx);
      f->rip = fixup;
      return;
    }
  }
  const std::uint8_t v = cpu_by_apic[apic_id()];
  say("RING0: CRASH unhandled exception vector=", f->vector, " error=", hex{f->error},
      " rip=", hex{f->rip}, " insn=", instruction_at(f->rip), " rcx=", hex{f->rcx},
      " edx:eax=", hex{f->rdx & 0xffffffff}, ":", hex{f->rax & 0xffffffff},
      " cpu=", v == 0 ? -1 : v - 1);
  exit_qemu(VERDICT_CRASH);
}
