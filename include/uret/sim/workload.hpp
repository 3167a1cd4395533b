// SPDX-License-Identifier: MIT
// uret/sim/workload.hpp - workload generators: a parameterised random machine and event
// stream, reproducible from a seed, and the named workloads the benchmark compares.
//
//     const uret::sim::workload_params* p = uret::sim::find_workload("tdx-flaky");
//     uret::sim::workload_params w = *p;
//     w.cpus = 4;
//     uret::sim::trace t = uret::sim::generate(w, /*seed*/ 7, /*events*/ 1'000'000);
//
//     uret::sim::generator g{w, 7};          // or stream, for runs that do not fit in memory
//     uret::sim::simulator s{g.setup(), uret::sim::strategy::tdx_may_clobber};
//     for (int i = 0; i < 100; ++i) s.step(g.next());
//
// The same parameters and seed give the same trace, whatever strategy runs it. Events are
// always possible in their state (uret/sim/sched.hpp), so nothing is ignored.
//
// The model, per CPU: a vCPU thread enters its guest and exits; after each exit it either
// returns to user mode (probability 1 / (1 + exits_per_user_return)) - itself, with
// probability user_space_exit_share (an exit handled by the VMM), or else through a host user
// task that preempts it (switch, return to user, switch back) - or stays in the kernel and
// re-enters, blocks (switch to idle and later back: HLT) with block_share, or is preempted by
// another task of its CPU with switch_share. Independently, each event is with the given
// rates a migration of a task that is not running, a CPU hot-unplug (back up some events
// later), a virtualization disable (now, mid-write or mid-restore in equal shares), an
// injected WRMSR fault, or a trace gap (`unknown`). A TD exit fails early with
// early_fail_rate and is a zero-step exit with zero_step_rate.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "uret/sim/sched.hpp"
#include "uret/sim/strategy.hpp"
#include "uret/sim/trace.hpp"

namespace uret::sim {

/// How the generator chooses guest values.
enum class guest_values : std::uint8_t {
  linux_guest,   ///< guest_default(): LSTAR and TSC_AUX (= vCPU number) differ from the host
  same_as_host,  ///< every value equals the host's (TSC_AUX = the vCPU's first CPU)
  identical,     ///< every vCPU has vCPU 0's Linux-guest values
  random,        ///< drawn per slot from host values, TDX post-exit values and random values
};

/// The knobs of a generated workload.
struct workload_params {
  std::string_view name = "custom";
  std::uint32_t cpus = 8;
  std::uint32_t vcpus_per_cpu = 1;
  std::uint32_t user_tasks_per_cpu = 1;    ///< host user tasks (e.g. the VMM's main thread)
  std::uint32_t kernel_tasks_per_cpu = 0;  ///< kernel threads (vhost, kworker)
  /// vCPU kinds as weights: vCPU i gets the i-th kind of the repeated pattern
  /// vmx x `vmx`, svm x `svm`, sev-es x `sev_es`, tdx x `tdx`.
  std::uint32_t vmx = 1, svm = 0, sev_es = 0, tdx = 0;
  double exits_per_user_return = 10;  ///< mean guest exits handled in the kernel per return to user
  double user_space_exit_share = 1;   ///< share of returns to user made by the vCPU thread itself
  double block_share = 0;             ///< share of kernel-handled exits that block (HLT)
  double switch_share = 0;            ///< share of kernel-handled exits preempted by another task
  double migration_rate = 0;          ///< per event
  double hotplug_rate = 0;            ///< per event
  double disable_rate = 0;            ///< per event
  double fault_rate = 0;              ///< per event
  double gap_rate = 0;                ///< per event
  double early_fail_rate = 0;         ///< per TD exit
  double zero_step_rate = 0;          ///< per TD exit
  guest_values guests = guest_values::linux_guest;
};

/// A named workload: its parameters and one line on what it shows.
struct named_workload {
  std::string_view description;
  workload_params params;
};

namespace detail {
constexpr workload_params make_workload(std::string_view name) noexcept {
  workload_params p;
  p.name = name;
  return p;
}

inline const std::vector<named_workload>& workload_table() {
  static const std::vector<named_workload> table = [] {
    std::vector<named_workload> w;
    {
      workload_params p = make_workload("exit-storm");
      p.exits_per_user_return = 1000;
      w.push_back({"1000 exits handled in the kernel per return to user", p});
    }
    {
      workload_params p = make_workload("user-exit-storm");
      p.exits_per_user_return = 0;
      w.push_back({"every exit goes to the user-space VMM", p});
    }
    {
      workload_params p = make_workload("idle-bounce");
      p.exits_per_user_return = 1000;
      p.block_share = 1;
      w.push_back({"every kernel-handled exit blocks: vCPU -> idle -> same vCPU", p});
    }
    {
      workload_params p = make_workload("timeshare");
      p.vcpus_per_cpu = 2;
      p.exits_per_user_return = 1000;
      p.switch_share = 0.5;
      p.guests = guest_values::identical;
      w.push_back({"two vCPUs with identical guest values share each CPU", p});
    }
    {
      workload_params p = make_workload("same-values");
      p.exits_per_user_return = 10;
      p.user_space_exit_share = 0.5;
      p.guests = guest_values::same_as_host;
      w.push_back({"guest values equal host values", p});
    }
    {
      workload_params p = make_workload("tdx-clobber");
      p.vmx = 0;
      p.tdx = 1;
      p.exits_per_user_return = 10;
      p.user_space_exit_share = 0.5;
      w.push_back({"TD vCPUs, every entry enters (the TDX module resets its MSRs)", p});
    }
    {
      workload_params p = make_workload("tdx-flaky");
      p.vmx = 0;
      p.tdx = 1;
      p.exits_per_user_return = 2;
      p.user_space_exit_share = 0.5;
      p.early_fail_rate = 0.01;
      p.zero_step_rate = 0.001;
      w.push_back({"TD vCPUs, 1% early entry failures, 0.1% zero-step exits", p});
    }
    {
      workload_params p = make_workload("mixed");
      p.vcpus_per_cpu = 2;
      p.vmx = 1;
      p.tdx = 1;
      p.exits_per_user_return = 20;
      p.user_space_exit_share = 0.5;
      p.block_share = 0.2;
      p.switch_share = 0.1;
      p.migration_rate = 1e-3;
      p.hotplug_rate = 1e-4;
      p.early_fail_rate = 0.01;
      p.zero_step_rate = 0.001;
      w.push_back({"VMX and TD vCPUs sharing CPUs, with migrations and hotplug", p});
    }
    {
      workload_params p = make_workload("stress");
      p.vcpus_per_cpu = 2;
      p.kernel_tasks_per_cpu = 1;
      p.vmx = 2;
      p.svm = 1;
      p.sev_es = 1;
      p.tdx = 2;
      p.exits_per_user_return = 3;
      p.user_space_exit_share = 0.5;
      p.block_share = 0.2;
      p.switch_share = 0.2;
      p.migration_rate = 0.01;
      p.hotplug_rate = 0.002;
      p.disable_rate = 0.005;
      p.fault_rate = 0.005;
      p.gap_rate = 0.002;
      p.early_fail_rate = 0.05;
      p.zero_step_rate = 0.02;
      p.guests = guest_values::random;
      w.push_back({"every event and fault class, random guest values (uret-sim check)", p});
    }
    return w;
  }();
  return table;
}
}  // namespace detail

/// The named workloads: exit-storm, user-exit-storm, idle-bounce, timeshare, same-values,
/// tdx-clobber, tdx-flaky, mixed, stress.
[[nodiscard]] inline std::span<const named_workload> workloads() {
  return detail::workload_table();
}

/// The parameters of the workload named `name` (8 CPUs), or nullptr.
[[nodiscard]] inline const workload_params* find_workload(std::string_view name) {
  for (const named_workload& w : workloads()) {
    if (w.params.name == name) return &w.params;
  }
  return nullptr;
}

/// The `stress` workload restricted to the vCPU kinds `s` handles: what `uret-sim check` runs.
[[nodiscard]] inline workload_params stress_workload(strategy s, std::uint32_t cpus) {
  workload_params p = *find_workload("stress");
  p.cpus = cpus;
  if (!handles(s, task_kind::tdx)) p.tdx = 0;
  if (!handles(s, task_kind::sev_es)) p.sev_es = 0;
  if (!handles(s, task_kind::svm)) p.svm = 0;
  if (!handles(s, task_kind::vmx)) p.vmx = 0;
  return p;
}

/// A reproducible event stream for a workload.
class generator {
 public:
  generator(const workload_params& p, std::uint64_t seed)
      : p_(p), rng_(seed ^ 0x75726574'73696dULL), setup_(make_setup(p.cpus)), sched_(build()) {
    const auto thr = [](double rate) -> std::uint64_t {
      if (!(rate > 0)) return 0;
      if (rate >= 1) return std::uint64_t{1} << 32;
      return static_cast<std::uint64_t>(rate * 4294967296.0);
    };
    std::uint64_t acc = 0;
    thr_migrate_ = acc += thr(p.migration_rate);
    thr_hotplug_ = acc += thr(p.hotplug_rate);
    thr_disable_ = acc += thr(p.disable_rate);
    thr_fault_ = acc += thr(p.fault_rate);
    thr_gap_ = acc + thr(p.gap_rate);
    thr_return_ = thr(1.0 / (1.0 + std::max(0.0, p.exits_per_user_return)));
    thr_user_space_ = thr(p.user_space_exit_share);
    thr_block_ = thr(p.block_share);
    thr_switch_ = thr(p.block_share + p.switch_share);
    thr_early_ = thr(p.early_fail_rate);
    thr_zero_ = thr(p.early_fail_rate + p.zero_step_rate);
    for (std::uint32_t c = 0; c < setup_.cpus; ++c) {
      local_[c].reserve(setup_.tasks.size());  // migrations never allocate
      for (std::uint32_t t = 0; t < setup_.tasks.size(); ++t) {
        if (setup_.tasks[t].cpu == c) local_[c].push_back(t);
      }
    }
    action_.assign(setup_.tasks.size(), action::enter);
  }

  /// The machine the events run on.
  [[nodiscard]] const sim::setup& setup() const noexcept { return setup_; }
  [[nodiscard]] const workload_params& params() const noexcept { return p_; }

  /// The next event.
  event next() {
    event e;
    for (;;) {
      const std::uint64_t r = random();
      const std::uint64_t x = r & 0xffffffff;
      bool have = false;
      if (x < thr_gap_) {
        if (x < thr_migrate_) {
          have = migration(e);
        } else if (x < thr_hotplug_) {
          have = hotplug(e);
        } else if (x < thr_disable_) {
          const std::uint32_t c = pick_up_cpu();
          if (!sched_.in_guest(c)) {
            have = put(e, ev::disable(c, static_cast<disable_when>(random() % 3)));
          }
        } else if (x < thr_fault_) {
          have = put(e, ev::fault(pick_up_cpu(), static_cast<unsigned>(random() % msr_count)));
        } else {
          have = put(e, ev::unknown(pick_up_cpu()));
        }
      }
      if (!have) have = cpu_step(static_cast<std::uint32_t>(((r >> 32) * setup_.cpus) >> 32), e);
      if (have) {
        const sched_step st = sched_.apply(e);
        if (e.kind == event_kind::unknown && st.forced_exit) action_[st.task] = action::enter;
        return e;
      }
    }
  }

  /// Fill `out` with the next events.
  void fill(std::span<event> out) {
    for (event& e : out) e = next();
  }

 private:
  enum class action : std::uint8_t { enter, user, host_user, block, preempt };

  static bool put(event& out, const event& e) noexcept {
    out = e;
    return true;
  }

  std::uint64_t random() noexcept {  // splitmix64
    std::uint64_t z = (rng_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  std::uint32_t below(std::size_t n) noexcept {
    return static_cast<std::uint32_t>(((random() & 0xffffffff) * n) >> 32);
  }
  bool chance(std::uint64_t threshold) noexcept { return (random() & 0xffffffff) < threshold; }

  const sim::setup& build() {
    std::vector<task_kind> pattern;
    pattern.insert(pattern.end(), p_.vmx, task_kind::vmx);
    pattern.insert(pattern.end(), p_.svm, task_kind::svm);
    pattern.insert(pattern.end(), p_.sev_es, task_kind::sev_es);
    pattern.insert(pattern.end(), p_.tdx, task_kind::tdx);
    if (pattern.empty()) pattern.push_back(task_kind::vmx);
    const std::uint32_t vcpus = setup_.cpus * p_.vcpus_per_cpu;
    for (std::uint32_t i = 0; i < vcpus; ++i) {
      const task_kind k = pattern[i % pattern.size()];
      const std::uint32_t cpu = i / p_.vcpus_per_cpu;
      const std::uint32_t t =
          add_task(setup_, std::string(to_string(k)) + "-" + std::to_string(i), k, cpu);
      guest_values_for(setup_.tasks[t], i, cpu);
    }
    for (std::uint32_t c = 0; c < setup_.cpus; ++c) {
      for (std::uint32_t j = 0; j < p_.user_tasks_per_cpu; ++j) {
        add_task(setup_, "vmm-" + std::to_string(c) + "." + std::to_string(j), task_kind::user, c);
      }
      for (std::uint32_t j = 0; j < p_.kernel_tasks_per_cpu; ++j) {
        add_task(setup_, "kworker/" + std::to_string(c) + ":" + std::to_string(j),
                 task_kind::kernel, c);
      }
    }
    return setup_;
  }

  void guest_values_for(task& t, std::uint32_t ordinal, std::uint32_t cpu) {
    switch (p_.guests) {
      case guest_values::linux_guest: break;  // add_task() gave guest_default()
      case guest_values::same_as_host:
        for (unsigned s = 0; s < msr_count; ++s) t.guest[s] = host_default(cpu, s);
        break;
      case guest_values::identical:
        for (unsigned s = 0; s < msr_count; ++s) t.guest[s] = guest_default(0, s);
        break;
      case guest_values::random:
        for (unsigned s = 0; s < msr_count; ++s) {
          switch (random() % 5) {
            case 0: t.guest[s] = host_default(below(setup_.cpus), s); break;
            case 1: t.guest[s] = tdx_post_exit(s); break;
            case 2: t.guest[s] = guest_default(ordinal, s); break;
            case 3: t.guest[s] = host_default(0, s) ^ (random() & ~value_mask(s)); break;
            default: t.guest[s] = random() & 0xffff; break;
          }
        }
        break;
    }
  }

  std::uint32_t pick_up_cpu() noexcept {
    for (int i = 0; i < 8; ++i) {
      const std::uint32_t c = below(setup_.cpus);
      if (sched_.up(c)) return c;
    }
    for (std::uint32_t c = 0; c < setup_.cpus; ++c) {
      if (sched_.up(c)) return c;
    }
    return 0;
  }

  bool migration(event& out) {
    if (setup_.tasks.empty()) return false;
    const std::uint32_t t = below(setup_.tasks.size());
    const std::uint32_t to = pick_up_cpu();
    const std::uint32_t from = sched_.home(t);
    if (to == from || sched_.is_running(t) || !sched_.up(to)) return false;
    auto& list = local_[from];
    list.erase(std::find(list.begin(), list.end(), t));
    local_[to].push_back(t);
    if (return_to_[from] == t) return_to_[from] = idle_task;
    return put(out, ev::migrate(t, to));
  }

  bool hotplug(event& out) {
    const std::uint32_t c = below(setup_.cpus);
    std::uint32_t up = 0;
    for (std::uint32_t i = 0; i < setup_.cpus; ++i) up += sched_.up(i) ? 1U : 0U;
    if (!sched_.up(c) || sched_.in_guest(c) || up < 2) return false;
    down_[c] = 16;
    return_to_[c] = idle_task;
    did_user_[c] = false;
    return put(out, ev::offline(c));
  }

  // A task of `c` other than `not_this`, preferring kind `want` if given; idle_task if none.
  std::uint32_t pick_local(std::uint32_t c, std::uint32_t not_this, bool user_only) noexcept {
    const auto& list = local_[c];
    if (list.empty()) return idle_task;
    const std::uint32_t start = below(list.size());
    for (std::size_t i = 0; i < list.size(); ++i) {
      const std::uint32_t t = list[(start + i) % list.size()];
      if (t == not_this) continue;
      if (user_only && setup_.tasks[t].kind != task_kind::user) continue;
      return t;
    }
    return idle_task;
  }

  bool cpu_step(std::uint32_t c, event& out) {
    if (!sched_.up(c)) {
      if (down_[c] > 0 && --down_[c] > 0) return false;
      return put(out, ev::online(c));
    }
    const std::uint32_t t = sched_.running(c);
    if (sched_.in_guest(c)) {
      exit_outcome o = exit_outcome::real;
      if (setup_.tasks[t].kind == task_kind::tdx) {
        const std::uint64_t x = random() & 0xffffffff;
        if (x < thr_early_) {
          o = exit_outcome::early_fail;
        } else if (x < thr_zero_) {
          o = exit_outcome::zero_step;
        }
      }
      action_[t] = decide();
      return put(out, ev::exit(c, o));
    }
    if (t == idle_task) {
      std::uint32_t next = return_to_[c];
      return_to_[c] = idle_task;
      if (next == idle_task || sched_.home(next) != c) next = pick_local(c, idle_task, false);
      if (next == idle_task) return false;
      return put(out, ev::switch_to(c, next));
    }
    const task_kind k = setup_.tasks[t].kind;
    if (is_vcpu(k)) {
      const action a = action_[t];
      action_[t] = action::enter;
      switch (a) {
        case action::enter: return put(out, ev::enter(c));
        case action::user: return put(out, ev::user(c));
        case action::block: return_to_[c] = t; return put(out, ev::switch_to(c, idle_task));
        case action::preempt:
        case action::host_user: {
          const std::uint32_t other = pick_local(c, t, a == action::host_user);
          if (other == idle_task)
            return put(out, a == action::host_user ? ev::user(c) : ev::enter(c));
          return_to_[c] = t;
          did_user_[c] = false;
          return put(out, ev::switch_to(c, other));
        }
      }
    }
    if (k == task_kind::user && !did_user_[c]) {
      did_user_[c] = true;
      return put(out, ev::user(c));
    }
    did_user_[c] = false;
    std::uint32_t back = return_to_[c];
    return_to_[c] = idle_task;
    if (back == t || (back != idle_task && sched_.home(back) != c)) back = idle_task;
    return put(out, ev::switch_to(c, back));
  }

  action decide() noexcept {
    if (chance(thr_return_)) return chance(thr_user_space_) ? action::user : action::host_user;
    const std::uint64_t x = random() & 0xffffffff;
    if (x < thr_block_) return action::block;
    if (x < thr_switch_) return action::preempt;
    return action::enter;
  }

  workload_params p_;
  std::uint64_t rng_;
  sim::setup setup_;
  sched_state sched_;
  std::uint64_t thr_migrate_ = 0, thr_hotplug_ = 0, thr_disable_ = 0, thr_fault_ = 0, thr_gap_ = 0;
  std::uint64_t thr_return_ = 0, thr_user_space_ = 0, thr_block_ = 0, thr_switch_ = 0;
  std::uint64_t thr_early_ = 0, thr_zero_ = 0;
  std::array<std::vector<std::uint32_t>, max_cpus> local_{};
  std::array<std::uint32_t, max_cpus> return_to_ = filled(idle_task);
  std::array<std::uint32_t, max_cpus> down_{};
  std::array<bool, max_cpus> did_user_{};
  std::vector<action> action_;

  static constexpr std::array<std::uint32_t, max_cpus> filled(std::uint32_t v) noexcept {
    std::array<std::uint32_t, max_cpus> a{};
    for (auto& x : a) x = v;
    return a;
  }
};

/// `events` events of workload `p` from `seed`, with the machine they run on.
[[nodiscard]] inline trace generate(const workload_params& p, std::uint64_t seed,
                                    std::uint64_t events) {
  generator g{p, seed};
  trace t;
  t.setup = g.setup();
  t.events.resize(events);
  g.fill(t.events);
  return t;
}

}  // namespace uret::sim
