// SPDX-License-Identifier: MIT
// The oracle proven: on thousands of small random traces, uret::sim::oracle's WRMSR count equals
// the minimum found by an exhaustive search over every schedule of writes that keeps the
// invariants the oracle promises (I3 at every return to user mode, G at every VMX/SVM entry).
//
// The search is written from the specification (docs/design.md, docs/simulator.md), not from the
// oracle: per CPU, the state is the value of every slot plus the SEV-ES host save area; between
// any two events a CPU that is up and not in guest mode may write any subset of its slots with
// any candidate value (one WRMSR each); the events do what hardware and firmware do:
//  - a real TD exit (or an `unknown` that forces one) resets STAR, LSTAR, SYSCALL_MASK, TSC_AUX
//    to the TDX module's post-exit values; an early-fail or zero-step exit touches nothing;
//  - SEV-ES: the entry saves TSC_AUX into the host save area (sev_es_prepare_switch_to_guest()
//    stores what the CPU holds), VMRUN loads the guest's TSC_AUX, #VMEXIT loads the save area;
//  - a CPU coming up holds its host values (syscall_init(), setup_getcpu());
//  - an entry of a VMX/SVM guest requires, in every slot its kind loads, the guest's bits inside
//    the mask and the host's outside (what kvm_set_user_return_msr() merges);
//  - a return to user mode requires the host value in every slot (kvm_on_user_return()).
// Event validity comes from sched_state, the one definition every consumer shares.
// The candidate values (host, post-exit, each guest's merged value) are every value a constraint
// or an event can ask for, so restricting writes to them loses no optimal schedule.
#include <uret/sim/oracle.hpp>
#include <uret/sim/sched.hpp>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

namespace sim = uret::sim;

namespace {

constexpr std::uint64_t inf = std::numeric_limits<std::uint64_t>::max() / 4;

struct cpu_space {
  std::vector<std::vector<std::uint64_t>> cand;  // per slot: candidate values
  std::size_t states = 1;                        // product of the sizes, times the save area's
  std::vector<std::size_t> stride;               // per slot, then the save area last

  [[nodiscard]] std::size_t index_of(unsigned s, std::uint64_t v) const {
    const auto& c = cand[s];
    const auto it = std::find(c.begin(), c.end(), v);
    // The candidate set is closed under what events do; anything else is a bug of this test.
    if (it == c.end()) throw std::logic_error("value outside the candidate set");
    return static_cast<std::size_t>(it - c.begin());
  }
  [[nodiscard]] std::size_t digit(std::size_t state, std::size_t k) const {
    const std::size_t size = k < sim::msr_count ? cand[k].size() : cand[sim::slots::tsc_aux].size();
    return (state / stride[k]) % size;
  }
  [[nodiscard]] std::uint64_t value(std::size_t state, unsigned s) const {
    return cand[s][digit(state, s)];
  }
  [[nodiscard]] std::uint64_t save_area(std::size_t state) const {
    return cand[sim::slots::tsc_aux][digit(state, sim::msr_count)];
  }
  [[nodiscard]] std::size_t with(std::size_t state, std::size_t k, std::size_t d) const {
    return state - digit(state, k) * stride[k] + d * stride[k];
  }
};

cpu_space make_space(const sim::setup& s, std::uint32_t c) {
  cpu_space sp;
  sp.cand.resize(sim::msr_count);
  for (unsigned i = 0; i < sim::msr_count; ++i) {
    auto& v = sp.cand[i];
    auto add = [&v](std::uint64_t x) {
      if (std::find(v.begin(), v.end(), x) == v.end()) v.push_back(x);
    };
    add(s.host[c][i]);
    if (sim::has(sim::tdx_clobbered, i)) add(sim::tdx_post_exit(i));
    for (const sim::task& t : s.tasks) {
      if (sim::has(sim::loads(t.kind), i))
        add(sim::merged(t.guest[i], sim::value_mask(i), s.host[c][i]));
      if (t.kind == sim::task_kind::sev_es && i == sim::slots::tsc_aux) add(t.guest[i]);
    }
  }
  sp.stride.resize(sim::msr_count + 1);
  for (std::size_t k = 0; k <= sim::msr_count; ++k) {
    sp.stride[k] = sp.states;
    sp.states *= k < sim::msr_count ? sp.cand[k].size() : sp.cand[sim::slots::tsc_aux].size();
  }
  return sp;
}

// The minimum number of WRMSRs on `c` over every schedule that keeps I3 and G.
std::uint64_t search_cpu(const sim::trace& t, std::uint32_t c) {
  const sim::setup& s = t.setup;
  const cpu_space sp = make_space(s, c);
  std::vector<std::uint64_t> dist(sp.states, inf);
  std::size_t start = 0;
  for (unsigned i = 0; i < sim::msr_count; ++i)
    start = sp.with(start, i, sp.index_of(i, s.host[c][i]));
  dist[start] = 0;

  // Every schedule of writes in one gap: any subset of slots, any candidate each, one WRMSR per
  // slot written. Relaxing slot by slot is exactly "min over every target state of cost plus
  // the number of slots that differ".
  auto writes = [&]() {
    for (unsigned i = 0; i < sim::msr_count; ++i) {
      std::vector<std::uint64_t> next = dist;
      for (std::size_t st = 0; st < sp.states; ++st) {
        if (dist[st] >= inf) continue;
        for (std::size_t d = 0; d < sp.cand[i].size(); ++d) {
          const std::size_t to = sp.with(st, i, d);
          next[to] = std::min(next[to], dist[st] + 1);
        }
      }
      dist = std::move(next);
    }
  };
  // Apply a deterministic hardware effect to every state.
  auto effect = [&](auto&& f) {
    std::vector<std::uint64_t> next(sp.states, inf);
    for (std::size_t st = 0; st < sp.states; ++st) {
      if (dist[st] >= inf) continue;
      const std::size_t to = f(st);
      next[to] = std::min(next[to], dist[st]);
    }
    dist = std::move(next);
  };
  // Keep only the states where `ok` holds.
  auto require = [&](auto&& ok) {
    for (std::size_t st = 0; st < sp.states; ++st) {
      if (dist[st] < inf && !ok(st)) dist[st] = inf;
    }
  };
  auto real_td_exit = [&](std::size_t st) {
    for (unsigned i = 0; i < sim::msr_count; ++i) {
      if (sim::has(sim::tdx_clobbered, i))
        st = sp.with(st, i, sp.index_of(i, sim::tdx_post_exit(i)));
    }
    return st;
  };
  auto vmexit = [&](std::uint32_t task, sim::exit_outcome o) {
    const sim::task_kind k = s.tasks[task].kind;
    if (k == sim::task_kind::tdx && o == sim::exit_outcome::real) effect(real_td_exit);
    if (k == sim::task_kind::sev_es) {
      effect([&](std::size_t st) {
        return sp.with(st, sim::slots::tsc_aux, sp.index_of(sim::slots::tsc_aux, sp.save_area(st)));
      });
    }
  };

  sim::sched_state sched{s};
  for (const sim::event& e : t.events) {
    if (sched.up(c) && !sched.in_guest(c)) writes();
    const sim::sched_step step = sched.apply(e);
    if (!step.valid || e.cpu != c) continue;
    switch (e.kind) {
      case sim::event_kind::enter: {
        const sim::task& tk = s.tasks[step.task];
        if (tk.kind == sim::task_kind::sev_es) {
          const std::size_t guest = sp.index_of(sim::slots::tsc_aux, tk.guest[sim::slots::tsc_aux]);
          effect([&](std::size_t st) {
            const std::size_t saved = sp.digit(st, sim::slots::tsc_aux);
            return sp.with(sp.with(st, sim::msr_count, saved), sim::slots::tsc_aux, guest);
          });
          break;
        }
        require([&](std::size_t st) {
          for (unsigned i = 0; i < sim::msr_count; ++i) {
            if (!sim::has(sim::loads(tk.kind), i)) continue;
            if (sp.value(st, i) != sim::merged(tk.guest[i], sim::value_mask(i), s.host[c][i]))
              return false;
          }
          return true;
        });
        break;
      }
      case sim::event_kind::exit: vmexit(step.task, static_cast<sim::exit_outcome>(e.arg)); break;
      case sim::event_kind::unknown:
        if (step.forced_exit) vmexit(step.task, sim::exit_outcome::real);
        break;
      case sim::event_kind::user:
        require([&](std::size_t st) {
          for (unsigned i = 0; i < sim::msr_count; ++i) {
            if (sp.value(st, i) != s.host[c][i]) return false;
          }
          return true;
        });
        break;
      case sim::event_kind::online:
        if (step.came_up) {
          effect([&](std::size_t st) {
            for (unsigned i = 0; i < sim::msr_count; ++i)
              st = sp.with(st, i, sp.index_of(i, s.host[c][i]));
            return st;
          });
        }
        break;
      default: break;
    }
  }
  const std::uint64_t best = *std::min_element(dist.begin(), dist.end());
  REQUIRE(best < inf);  // some schedule always exists: write what is needed when it is needed
  return best;
}

std::uint64_t exhaustive_min_writes(const sim::trace& t) {
  std::uint64_t n = 0;
  for (std::uint32_t c = 0; c < t.setup.cpus; ++c) n += search_cpu(t, c);
  return n;
}

// A small random machine: 1-3 CPUs, 2-5 tasks of every kind, 1-2 slots whose values differ
// (drawn from a small pool, so that guest, host and post-exit values often coincide); every other
// slot holds one value everywhere (the TDX module's post-exit value where it resets the slot).
sim::trace random_trace(std::mt19937_64& rng) {
  auto below = [&rng](std::uint64_t n) { return static_cast<std::uint32_t>(rng() % n); };
  sim::trace t;
  t.setup = sim::make_setup(1 + below(3));
  sim::setup& s = t.setup;
  // TSC_AUX (loaded for SVM, saved by SEV-ES) is live half the time.
  unsigned live[2] = {below(2) == 0 ? sim::slots::tsc_aux : below(sim::msr_count),
                      below(sim::msr_count)};
  const bool two = below(2) == 1;
  auto is_live = [&](unsigned i) { return i == live[0] || (two && i == live[1]); };
  auto pool = [&](unsigned i) -> std::uint64_t {
    switch (below(5)) {
      case 0: return sim::tdx_post_exit(i);
      case 1: return sim::host_default(0, i);
      case 2: return sim::host_default(0, i) ^ ~sim::value_mask(i);  // differs outside the mask
      default: return below(3);
    }
  };
  for (std::uint32_t c = 0; c < s.cpus; ++c) {
    for (unsigned i = 0; i < sim::msr_count; ++i) {
      const std::uint64_t fixed =
          sim::has(sim::tdx_clobbered, i) ? sim::tdx_post_exit(i) : sim::host_default(0, i);
      s.host[c][i] = is_live(i) ? pool(i) : fixed;
    }
  }
  const sim::task_kind kinds[] = {sim::task_kind::vmx,    sim::task_kind::svm,
                                  sim::task_kind::sev_es, sim::task_kind::tdx,
                                  sim::task_kind::user,   sim::task_kind::kernel};
  const std::uint32_t ntasks = 2 + below(4);
  for (std::uint32_t k = 0; k < ntasks; ++k) {
    const auto id = sim::add_task(s, "t", kinds[below(6)], below(s.cpus));
    for (unsigned i = 0; i < sim::msr_count; ++i) {
      s.tasks[id].guest[i] = is_live(i) ? pool(i) : s.host[0][i];
    }
  }
  // Up to a dozen events: mostly the vCPU run cycle (switch in, enter, exit, return to user),
  // with every other kind mixed in; an impossible event is kept now and then (all ignore it).
  sim::sched_state sched{s};
  const std::uint32_t n = 1 + below(12);
  for (std::uint32_t k = 0; k < n; ++k) {
    sim::event e{};
    for (int attempt = 0; attempt < 10; ++attempt) {
      const std::uint32_t c = below(s.cpus);
      if (below(3) != 0) {  // the run cycle
        const std::uint32_t run = sched.running(c);
        if (sched.in_guest(c)) {
          e = sim::ev::exit(c, static_cast<sim::exit_outcome>(below(3)));
        } else if (run != sim::idle_task && sim::is_vcpu(s.tasks[run].kind) && below(4) != 0) {
          e = sim::ev::enter(c);
        } else if (run != sim::idle_task && below(2) == 0) {
          e = sim::ev::user(c);
        } else {
          e = sim::ev::switch_to(c, below(ntasks));
        }
      } else {
        switch (below(10)) {
          case 0: e = sim::ev::switch_to(c, below(3) == 0 ? sim::idle_task : below(ntasks)); break;
          case 1: e = sim::ev::exit(c, static_cast<sim::exit_outcome>(below(3))); break;
          case 2: e = sim::ev::user(c); break;
          case 3: e = sim::ev::migrate(below(ntasks), c); break;
          case 4: e = sim::ev::offline(c); break;
          case 5: e = sim::ev::online(c); break;
          case 6: e = sim::ev::disable(c, static_cast<sim::disable_when>(below(3))); break;
          case 7:
          case 8: e = sim::ev::unknown(c); break;
          default: e = sim::ev::fault(c, below(sim::msr_count)); break;
        }
      }
      if (sched.possible(e) || below(10) == 0) break;
    }
    static_cast<void>(sched.apply(e));
    t.events.push_back(e);
  }
  return t;
}

}  // namespace

TEST_CASE("the exhaustive search prices hand-made traces as the specification says",
          "[sim/oracle][exhaustive]") {
  // The search itself must be right before it can judge the oracle.
  sim::trace t;
  t.setup = sim::make_setup(2);
  const auto vm = sim::add_task(t.setup, "vm", sim::task_kind::vmx, 1);
  t.events = {sim::ev::switch_to(1, vm), sim::ev::enter(1), sim::ev::exit(1), sim::ev::user(1)};
  CHECK(exhaustive_min_writes(t) == 4);  // LSTAR and TSC_AUX there and back
  t.events = {sim::ev::switch_to(1, vm), sim::ev::enter(1), sim::ev::exit(1), sim::ev::enter(1),
              sim::ev::exit(1)};
  CHECK(exhaustive_min_writes(t) == 2);

  sim::trace td;
  td.setup = sim::make_setup(1);
  const auto d = sim::add_task(td.setup, "td", sim::task_kind::tdx, 0);
  // CPU 0: post-exit TSC_AUX 0 equals host; LSTAR, STAR, SYSCALL_MASK post-exit differ.
  std::uint64_t differ = 0;
  for (unsigned i = 0; i < sim::msr_count; ++i) {
    if (sim::has(sim::tdx_clobbered, i) && sim::tdx_post_exit(i) != td.setup.host[0][i]) ++differ;
  }
  td.events = {sim::ev::switch_to(0, d), sim::ev::enter(0), sim::ev::exit(0), sim::ev::user(0)};
  CHECK(exhaustive_min_writes(td) == differ);
  td.events = {sim::ev::switch_to(0, d), sim::ev::enter(0),
               sim::ev::exit(0, sim::exit_outcome::early_fail), sim::ev::user(0)};
  CHECK(exhaustive_min_writes(td) == 0);
  td.events = {sim::ev::switch_to(0, d), sim::ev::enter(0),
               sim::ev::exit(0, sim::exit_outcome::zero_step), sim::ev::user(0)};
  CHECK(exhaustive_min_writes(td) == 0);
  td.events = {sim::ev::switch_to(0, d), sim::ev::enter(0), sim::ev::unknown(0), sim::ev::user(0)};
  CHECK(exhaustive_min_writes(td) == differ);  // unknown in guest: an implicit real exit
}

TEST_CASE("the oracle equals the exhaustive minimum on thousands of small random traces",
          "[sim/oracle][exhaustive]") {
  std::mt19937_64 rng{20261130};
  int traces = 0;
  int nonzero = 0;
  int with_exits = 0;
  for (int i = 0; i < 20000; ++i) {
    const sim::trace t = random_trace(rng);
    const std::uint64_t best = exhaustive_min_writes(t);
    const std::uint64_t oracle = sim::oracle_writes(t);
    if (oracle != best) {
      std::string text =
          "trace " + std::to_string(i) + ", " + std::to_string(t.setup.cpus) + " CPUs:";
      for (const auto& tk : t.setup.tasks)
        text += " " + std::string(sim::to_string(tk.kind)) + "@" + std::to_string(tk.cpu);
      for (const auto& e : t.events)
        text += " | " + std::string(sim::to_string(e.kind)) + " " + std::to_string(e.cpu) + " " +
                std::to_string(e.arg) + " " + std::to_string(e.task);
      INFO(text);
      REQUIRE(oracle == best);
    }
    ++traces;
    nonzero += best > 0 ? 1 : 0;
    for (const auto& e : t.events) {
      if (e.kind == sim::event_kind::exit) {
        ++with_exits;
        break;
      }
    }
  }
  CHECK(traces == 20000);
  // The traces exercise the oracle: many need writes, many have exits.
  CHECK(nonzero > 2000);
  CHECK(with_exits > 5000);
}
