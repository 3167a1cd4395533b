// SPDX-License-Identifier: MIT
// uret/sim/trace.hpp - the simulator's vocabulary: the simulated MSRs and their slots, task and
// vCPU kinds, events, and a trace (a machine set-up plus an event sequence).
//
// A trace is the one input every part of the simulator shares: the workload generators write
// it, the replay format (uret/sim/replay.hpp) reads and writes it, the simulator
// (uret/sim/simulator.hpp) runs it under a strategy, and the oracle (uret/sim/oracle.hpp)
// prices it. A trace never depends on a strategy, so every strategy sees identical input.
//
// The simulated hypervisor registers seven user-return MSRs, in the order KVM's VMX code adds
// them (vmx_uret_msrs_list in arch/x86/kvm/vmx/vmx.c): SYSCALL_MASK, LSTAR, CSTAR, EFER,
// TSC_AUX, STAR, TSX_CTRL. Host values default to what Linux programs (syscall_init(),
// setup_getcpu(): TSC_AUX = CPU number, so CPU 0's host TSC_AUX equals the TDX module's
// post-exit value 0).
//
// Standard library only; nothing here allocates except the containers of `setup` and `trace`.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "uret/msr.hpp"

namespace uret::sim {

/// Most CPUs a simulated machine has.
inline constexpr std::size_t max_cpus = 64;
/// Number of user-return MSRs the simulated hypervisor registers (slots 0 .. msr_count-1).
inline constexpr std::size_t msr_count = 7;

/// Slot numbers of the simulated MSRs (the order KVM's VMX code adds them).
namespace slots {
inline constexpr unsigned syscall_mask = 0;
inline constexpr unsigned lstar = 1;
inline constexpr unsigned cstar = 2;
inline constexpr unsigned efer = 3;
inline constexpr unsigned tsc_aux = 4;
inline constexpr unsigned star = 5;
inline constexpr unsigned tsx_ctrl = 6;
}  // namespace slots

/// The MSR of each slot.
inline constexpr msr_index slot_msrs[msr_count] = {
    msrs::syscall_mask, msrs::lstar, msrs::cstar,    msrs::efer,
    msrs::tsc_aux,      msrs::star,  msrs::tsx_ctrl,
};

/// A set of slots, bit i = slot i.
using slot_set = std::uint8_t;
inline constexpr slot_set all_slots = (1U << msr_count) - 1;

/// True when `set` holds `slot`.
[[nodiscard]] constexpr bool has(slot_set set, unsigned slot) noexcept {
  return slot < msr_count && ((static_cast<unsigned>(set) >> slot) & 1U) != 0;
}

/// One value per slot.
using msr_values = std::array<std::uint64_t, msr_count>;

/// The slot of `msr`, or nullopt when the simulator does not model it.
[[nodiscard]] constexpr std::optional<unsigned> slot_of(msr_index msr) noexcept {
  for (unsigned s = 0; s < msr_count; ++s) {
    if (slot_msrs[s] == msr) return s;
  }
  return std::nullopt;
}

/// EFER bits KVM leaves to the host (update_transition_efer(): LMA and LME are handled by
/// VM-entry controls), and the TSX_CTRL bit it leaves to the host (TSX_CTRL_CPUID_CLEAR).
inline constexpr std::uint64_t efer_host_bits = (1ULL << 10) | (1ULL << 8);
inline constexpr std::uint64_t tsx_ctrl_host_bits = 1ULL << 1;

/// The mask KVM passes to kvm_set_user_return_msr() for `slot`: bits outside it come from the
/// host value.
[[nodiscard]] constexpr std::uint64_t value_mask(unsigned slot) noexcept {
  if (slot == slots::efer) return ~efer_host_bits;
  if (slot == slots::tsx_ctrl) return ~tsx_ctrl_host_bits;
  return ~std::uint64_t{0};
}

/// What kvm_set_user_return_msr() writes: `guest` inside `mask`, `host` outside it.
[[nodiscard]] constexpr std::uint64_t merged(std::uint64_t guest, std::uint64_t mask,
                                             std::uint64_t host) noexcept {
  return (guest & mask) | (host & ~mask);
}

/// A user-return MSR the TDX module resets on every real TD exit, and the value it leaves
/// there (its architectural INIT value, from the module's exit path). KVM keeps the same list
/// as tdx_uret_msrs[] (arch/x86/kvm/vmx/tdx.c).
struct tdx_reset_msr {
  msr_index index;
  std::uint64_t post_exit;
};

/// The MSRs the TDX module resets: SYSCALL_MASK is left at 0x20200, the others at 0.
inline constexpr tdx_reset_msr tdx_reset_msrs[] = {
    {msrs::star, 0},           {msrs::lstar, 0},   {msrs::syscall_mask, 0x20200},
    {msrs::kernel_gs_base, 0}, {msrs::tsc_aux, 0},
};

namespace detail {
// Index of `msr` in tdx_reset_msrs (its size if absent). An index, not a pointer: GCC's
// -fsanitize=null rejects pointer comparisons in constant expressions.
constexpr std::size_t tdx_reset_index(msr_index msr) noexcept {
  std::size_t i = 0;
  for (const tdx_reset_msr& m : tdx_reset_msrs) {
    if (m.index == msr) return i;
    ++i;
  }
  return i;
}
constexpr bool tdx_resets(unsigned slot) noexcept {
  return tdx_reset_index(slot_msrs[slot]) < std::size(tdx_reset_msrs);
}
constexpr slot_set tdx_clobber_set() noexcept {
  slot_set s = 0;
  for (unsigned i = 0; i < msr_count; ++i) {
    if (tdx_resets(i)) s = static_cast<slot_set>(s | (1U << i));
  }
  return s;
}
}  // namespace detail

/// Slots the TDX module resets on a real TD exit (STAR, LSTAR, SYSCALL_MASK, TSC_AUX).
inline constexpr slot_set tdx_clobbered = detail::tdx_clobber_set();

namespace detail {
constexpr msr_values tdx_post_exit_table() noexcept {
  msr_values v{};
  for (unsigned i = 0; i < msr_count; ++i) {
    v[i] = tdx_resets(i) ? tdx_reset_msrs[tdx_reset_index(slot_msrs[i])].post_exit : 0;
  }
  return v;
}
inline constexpr msr_values tdx_post_exit_values = tdx_post_exit_table();
}  // namespace detail

/// The value the TDX module leaves in `slot` after a real TD exit (0 where it does not reset).
[[nodiscard]] constexpr std::uint64_t tdx_post_exit(unsigned slot) noexcept {
  return slot < msr_count ? detail::tdx_post_exit_values[slot] : 0;
}

/// The host value Linux programs into `slot` on `cpu` (node 0): syscall_init() for the SYSCALL
/// MSRs, setup_getcpu() for TSC_AUX, EFER with SCE|LME|LMA|NX, TSX_CTRL 0.
[[nodiscard]] constexpr std::uint64_t host_default(std::uint32_t cpu, unsigned slot) noexcept {
  switch (slot) {
    case slots::syscall_mask: return 0x257fd5;     // CF PF AF ZF SF TF IF DF OF IOPL NT RF AC ID
    case slots::lstar: return 0xffffffff82000080;  // entry_SYSCALL_64
    case slots::cstar: return 0xffffffff82001c40;  // entry_SYSCALL_compat
    case slots::efer: return 0xd01;
    case slots::tsc_aux: return cpu;
    case slots::star: return 0x0023001000000000;  // __USER32_CS << 48 | __KERNEL_CS << 32
    default: return 0;
  }
}

/// The guest values of the `ordinal`-th vCPU unless a trace says otherwise: a Linux guest on a
/// Linux host, so only LSTAR (the guest kernel's own address) and TSC_AUX (the vCPU number)
/// differ from the host's.
[[nodiscard]] constexpr std::uint64_t guest_default(std::uint32_t ordinal, unsigned slot) noexcept {
  if (slot == slots::lstar) return 0xffffffff9e000080;
  if (slot == slots::tsc_aux) return ordinal;
  return host_default(0, slot);
}

/// What runs on a CPU. The first four are vCPU threads of that kind.
enum class task_kind : std::uint8_t {
  vmx,     ///< a VMX vCPU: KVM loads its user-return MSRs before entry
  svm,     ///< an SVM vCPU: only TSC_AUX is a user-return MSR
  sev_es,  ///< an SEV-ES vCPU: hardware loads TSC_AUX from the host save area on #VMEXIT
  tdx,     ///< a TD vCPU: entry and exit go through the TDX module
  user,    ///< a host user task (a VMM main thread, a shell): returns to user mode
  kernel,  ///< a kernel thread: never returns to user mode
  idle,    ///< an idle-like task: never returns to user mode (each CPU also has its own idle)
};

/// True for the vCPU kinds.
[[nodiscard]] constexpr bool is_vcpu(task_kind k) noexcept { return k <= task_kind::tdx; }

/// Slots the hypervisor writes before entering a vCPU of kind `k` (VMX: all seven; SVM:
/// TSC_AUX; SEV-ES and TDX: none, hardware and the TDX module load the guest's values).
[[nodiscard]] constexpr slot_set loads(task_kind k) noexcept {
  if (k == task_kind::vmx) return all_slots;
  if (k == task_kind::svm) return static_cast<slot_set>(1U << slots::tsc_aux);
  return 0;
}

/// "vmx", "svm", "sev-es", "tdx", "user", "kernel", "idle".
[[nodiscard]] constexpr std::string_view to_string(task_kind k) noexcept {
  switch (k) {
    case task_kind::vmx: return "vmx";
    case task_kind::svm: return "svm";
    case task_kind::sev_es: return "sev-es";
    case task_kind::tdx: return "tdx";
    case task_kind::user: return "user";
    case task_kind::kernel: return "kernel";
    case task_kind::idle: return "idle";
  }
  return "?";
}

/// The kind named `s`, or nullopt.
[[nodiscard]] constexpr std::optional<task_kind> parse_task_kind(std::string_view s) noexcept {
  for (auto k : {task_kind::vmx, task_kind::svm, task_kind::sev_es, task_kind::tdx, task_kind::user,
                 task_kind::kernel, task_kind::idle}) {
    if (to_string(k) == s) return k;
  }
  return std::nullopt;
}

/// A task of the machine (a vCPU thread or a host task). Each CPU also has an implicit idle
/// task, named "idle" in the replay format and `idle_task` in events.
struct task {
  std::string name;
  task_kind kind = task_kind::user;
  std::uint32_t cpu = 0;  ///< the CPU it starts on (changed only by migrate events)
  msr_values guest{};     ///< vCPUs: the values their guest needs (before masking)
};

/// The machine a trace runs on.
struct setup {
  std::uint32_t cpus = 1;
  std::vector<task> tasks;
  std::vector<msr_values> host;  ///< per CPU: the value Linux programmed into each slot
  /// The values guest-msr events set (each event's `task` field indexes this list).
  std::vector<std::uint64_t> values;

  /// The tasks' number of vCPUs before task `t` (the ordinal guest_default() uses).
  [[nodiscard]] std::uint32_t vcpu_ordinal(std::size_t t) const noexcept {
    std::uint32_t n = 0;
    for (std::size_t i = 0; i < t && i < tasks.size(); ++i) n += is_vcpu(tasks[i].kind) ? 1U : 0U;
    return n;
  }
};

/// A machine of `cpus` CPUs (clamped to 1 .. max_cpus) with default host values and no tasks.
[[nodiscard]] inline setup make_setup(std::uint32_t cpus) {
  setup s;
  s.cpus = cpus == 0 ? 1 : (cpus > max_cpus ? static_cast<std::uint32_t>(max_cpus) : cpus);
  s.host.resize(s.cpus);
  for (std::uint32_t c = 0; c < s.cpus; ++c) {
    for (unsigned i = 0; i < msr_count; ++i) s.host[c][i] = host_default(c, i);
  }
  return s;
}

/// Add a task to `s` (a vCPU gets guest_default() values) and return its number.
inline std::uint32_t add_task(setup& s, std::string name, task_kind kind, std::uint32_t cpu) {
  task t;
  t.name = std::move(name);
  t.kind = kind;
  t.cpu = cpu < s.cpus ? cpu : 0;
  const std::uint32_t ordinal = s.vcpu_ordinal(s.tasks.size());
  for (unsigned i = 0; i < msr_count; ++i)
    t.guest[i] = is_vcpu(kind) ? guest_default(ordinal, i) : 0;
  s.tasks.push_back(std::move(t));
  return static_cast<std::uint32_t>(s.tasks.size() - 1);
}

/// Appends `v` to `s.values` (for a guest-msr event) and returns its index.
inline std::uint32_t add_value(setup& s, std::uint64_t v) {
  s.values.push_back(v);
  return static_cast<std::uint32_t>(s.values.size() - 1);
}

/// Events. Each applies to one CPU (migrate: to one task). The replay format spells them as
/// in the comments.
enum class event_kind : std::uint8_t {
  switch_to,  ///< `switch <cpu> <task>`: context switch, no return to user mode
  enter,      ///< `enter <cpu>`: the running vCPU thread enters its guest
  exit,       ///< `exit <cpu> [real|early-fail|zero-step]`: the guest exits to the host kernel
  user,       ///< `user <cpu>`: the running task returns to user mode (notifiers fire)
  migrate,    ///< `migrate <task> <cpu>`: a task that is not running moves to another CPU
  offline,    ///< `offline <cpu>`: CPU hot-unplug (virtualization disabled first)
  online,     ///< `online <cpu>`: CPU hot-plug or virtualization enable (host values captured)
  disable,    ///< `disable <cpu> [now|mid-write|mid-restore]`: virtualization disabled
  unknown,    ///< `unknown <cpu> [MSR...]`: the hypervisor must forget what the CPU's MSRs (those
              ///< named, as a slot set in event::arg; all when 0) hold
  fault,      ///< `fault <cpu> <MSR>`: the next WRMSR of MSR on the CPU faults (once)
  guest_msr,  ///< `guest-msr <cpu> <MSR> <value>`: the vCPU running there (outside guest mode)
              ///< changes its guest value of MSR (a guest WRMSR KVM handles; setup::values
              ///< holds the value, event::task its index, event::arg the slot)
};

/// Outcome of a TD exit (`event::arg` of an exit; meaningless for other vCPU kinds).
enum class exit_outcome : std::uint8_t {
  real = 0,    ///< the guest ran and exited: the TDX module reset the MSRs
  early_fail,  ///< the entry failed early (busy, consistency check): nothing touched
  zero_step,   ///< the zero-step filter synthesised an exit: nothing touched
};

/// When a disable lands (`event::arg` of a disable).
enum class disable_when : std::uint8_t {
  now = 0,      ///< between events
  mid_write,    ///< inside the CPU's next WRMSR window: after the write, before the cache update
  mid_restore,  ///< inside the CPU's next restore (after one of its writes)
};

/// The `task` of a switch to the CPU's idle task.
inline constexpr std::uint32_t idle_task = 0xffffffff;

/// One event: eight bytes, so a million-event trace is 8 MB.
struct event {
  event_kind kind = event_kind::user;
  std::uint8_t arg = 0;    ///< exit_outcome, disable_when, or the slot of a fault
  std::uint16_t cpu = 0;   ///< the CPU (migrate: the destination)
  std::uint32_t task = 0;  ///< switch: the next task (or idle_task); migrate: the task
  friend constexpr bool operator==(const event&, const event&) noexcept = default;
};
static_assert(sizeof(event) == 8);

/// Event constructors, for tests and generators.
namespace ev {
constexpr event switch_to(std::uint32_t cpu, std::uint32_t task) noexcept {
  return {event_kind::switch_to, 0, static_cast<std::uint16_t>(cpu), task};
}
constexpr event enter(std::uint32_t cpu) noexcept {
  return {event_kind::enter, 0, static_cast<std::uint16_t>(cpu), 0};
}
constexpr event exit(std::uint32_t cpu, exit_outcome o = exit_outcome::real) noexcept {
  return {event_kind::exit, static_cast<std::uint8_t>(o), static_cast<std::uint16_t>(cpu), 0};
}
constexpr event user(std::uint32_t cpu) noexcept {
  return {event_kind::user, 0, static_cast<std::uint16_t>(cpu), 0};
}
constexpr event migrate(std::uint32_t task, std::uint32_t cpu) noexcept {
  return {event_kind::migrate, 0, static_cast<std::uint16_t>(cpu), task};
}
constexpr event offline(std::uint32_t cpu) noexcept {
  return {event_kind::offline, 0, static_cast<std::uint16_t>(cpu), 0};
}
constexpr event online(std::uint32_t cpu) noexcept {
  return {event_kind::online, 0, static_cast<std::uint16_t>(cpu), 0};
}
constexpr event disable(std::uint32_t cpu, disable_when w = disable_when::now) noexcept {
  return {event_kind::disable, static_cast<std::uint8_t>(w), static_cast<std::uint16_t>(cpu), 0};
}
constexpr event unknown(std::uint32_t cpu) noexcept {
  return {event_kind::unknown, 0, static_cast<std::uint16_t>(cpu), 0};
}
constexpr event fault(std::uint32_t cpu, unsigned slot) noexcept {
  return {event_kind::fault, static_cast<std::uint8_t>(slot), static_cast<std::uint16_t>(cpu), 0};
}
/// guest-msr: `value_index` is the value's index in setup::values (see add_value()).
constexpr event guest_msr(std::uint32_t cpu, unsigned slot, std::uint32_t value_index) noexcept {
  return {event_kind::guest_msr, static_cast<std::uint8_t>(slot), static_cast<std::uint16_t>(cpu),
          value_index};
}
}  // namespace ev

/// "switch", "enter", "exit", "user", "migrate", "offline", "online", "disable", "unknown",
/// "fault".
[[nodiscard]] constexpr std::string_view to_string(event_kind k) noexcept {
  switch (k) {
    case event_kind::switch_to: return "switch";
    case event_kind::enter: return "enter";
    case event_kind::exit: return "exit";
    case event_kind::user: return "user";
    case event_kind::migrate: return "migrate";
    case event_kind::offline: return "offline";
    case event_kind::online: return "online";
    case event_kind::disable: return "disable";
    case event_kind::unknown: return "unknown";
    case event_kind::fault: return "fault";
    case event_kind::guest_msr: return "guest-msr";
  }
  return "?";
}

/// "real", "early-fail", "zero-step".
[[nodiscard]] constexpr std::string_view to_string(exit_outcome o) noexcept {
  switch (o) {
    case exit_outcome::real: return "real";
    case exit_outcome::early_fail: return "early-fail";
    case exit_outcome::zero_step: return "zero-step";
  }
  return "?";
}

/// "now", "mid-write", "mid-restore".
[[nodiscard]] constexpr std::string_view to_string(disable_when w) noexcept {
  switch (w) {
    case disable_when::now: return "now";
    case disable_when::mid_write: return "mid-write";
    case disable_when::mid_restore: return "mid-restore";
  }
  return "?";
}

/// A WRMSR the real kernel issued (the replay format's `expect-wrmsr`): not an event, carried
/// so that a replay can be compared with what KVM really did.
struct expected_wrmsr {
  std::uint64_t before_event = 0;  ///< number of events that precede it in the trace
  std::uint32_t cpu = 0;
  msr_index msr{};
  std::uint64_t value = 0;
};

/// A machine set-up and the events to run on it.
struct trace {
  sim::setup setup = make_setup(1);
  std::vector<event> events;
  std::vector<expected_wrmsr> expected;
};

}  // namespace uret::sim
