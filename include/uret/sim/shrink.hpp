// SPDX-License-Identifier: MIT
// uret/sim/shrink.hpp - shrink a failing trace to a short one that still fails the same way.
//
//     uret::sim::trace small = uret::sim::shrink(failing, strategy, uret::sim::invariant::i2);
//     std::fputs(uret::sim::write_replay(small).c_str(), stdout);
//
// "Fails the same way" = running it under the same strategy violates the same invariant. Any
// subsequence of a trace is a valid trace (impossible events are ignored), so the shrinker
// may drop events freely: it cuts the trace after the first violation, tries ever longer
// suffixes run from a fresh machine, drops other CPUs' events, then removes chunks of halving
// size until no single event can go, drops unused tasks and CPUs, and puts guest values the
// failure does not need back to their defaults. Each step keeps
// a change only if the result still fails; the runs and the events simulated are bounded, so a
// huge trace whose failure needs its whole history comes back only partly shrunk.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "uret/sim/checker.hpp"
#include "uret/sim/simulator.hpp"
#include "uret/sim/strategy.hpp"
#include "uret/sim/trace.hpp"

namespace uret::sim {

/// Limits of shrink().
struct shrink_options {
  std::size_t max_runs = 4000;             ///< simulator runs at most
  std::uint64_t max_events = 100'000'000;  ///< events simulated at most, over all runs
};

namespace detail {

class shrinker {
 public:
  shrinker(strategy s, invariant target, const run_options& base, const shrink_options& o)
      : strategy_(s), target_(target), opts_(base), limit_(o.max_runs), event_limit_(o.max_events) {
    opts_.check = true;
    opts_.oracle = false;
    opts_.record_writes = false;
    opts_.max_reports = 0;
  }

  // Index of the first violation of the target, or no_event.
  std::uint64_t first(const setup& s, const std::vector<event>& events) {
    ++runs_;
    events_run_ += events.size();
    simulator sim{s, strategy_, opts_};
    sim.run(events);
    return sim.result().first_violation[static_cast<std::size_t>(target_)];
  }
  bool fails(const setup& s, const std::vector<event>& events) {
    return first(s, events) != no_event;
  }
  [[nodiscard]] bool budget() const noexcept {
    return runs_ < limit_ && events_run_ < event_limit_;
  }

  trace run(const trace& in) {
    trace t;
    t.setup = in.setup;
    t.events = in.events;
    const std::uint64_t at = first(t.setup, t.events);
    if (at == no_event) return in;
    t.events.resize(static_cast<std::size_t>(at) + 1);
    const std::uint32_t cpu = at < in.events.size() ? in.events[at].cpu : 0;

    // Shortest power-of-two suffix that fails from a fresh machine.
    for (std::size_t len = 8; len < t.events.size() && budget(); len *= 2) {
      std::vector<event> suffix(t.events.end() - static_cast<std::ptrdiff_t>(len), t.events.end());
      if (fails(t.setup, suffix)) {
        t.events = std::move(suffix);
        break;
      }
    }
    // Events of other CPUs (migrations towards the failing CPU stay).
    {
      std::vector<event> mine;
      for (const event& e : t.events) {
        if (e.cpu == cpu) mine.push_back(e);
      }
      if (mine.size() < t.events.size() && budget() && fails(t.setup, mine))
        t.events = std::move(mine);
    }
    // Chunks of halving size.
    bool progress = true;
    while (progress && budget()) {
      progress = false;
      for (std::size_t chunk = std::max<std::size_t>(1, t.events.size() / 2);
           chunk >= 1 && budget(); chunk /= 2) {
        for (std::size_t i = 0; i < t.events.size() && budget();) {
          std::vector<event> cut;
          cut.reserve(t.events.size());
          cut.insert(cut.end(), t.events.begin(),
                     t.events.begin() + static_cast<std::ptrdiff_t>(i));
          const std::size_t j = std::min(t.events.size(), i + chunk);
          cut.insert(cut.end(), t.events.begin() + static_cast<std::ptrdiff_t>(j), t.events.end());
          if (!cut.empty() && fails(t.setup, cut)) {
            t.events = std::move(cut);
            progress = true;
          } else {
            i += chunk;
          }
        }
        if (chunk == 1) break;
      }
    }
    // Cut after the (possibly earlier) first violation.
    const std::uint64_t end = first(t.setup, t.events);
    if (end != no_event) t.events.resize(static_cast<std::size_t>(end) + 1);
    return compact(t);
  }

 private:
  // Drop tasks no event names and CPUs above the highest one used; keep it only if it fails.
  trace compact(const trace& t) {
    std::vector<std::uint32_t> remap(t.setup.tasks.size(), idle_task);
    std::uint32_t cpus = 1;
    for (const event& e : t.events) {
      cpus = std::max<std::uint32_t>(cpus, e.cpu + 1U);
      if ((e.kind == event_kind::switch_to || e.kind == event_kind::migrate) &&
          e.task < remap.size()) {
        remap[e.task] = 0;
      }
    }
    trace out;
    out.setup = make_setup(cpus);
    for (std::uint32_t c = 0; c < cpus; ++c) out.setup.host[c] = t.setup.host[c];
    for (std::size_t i = 0; i < remap.size(); ++i) {
      if (remap[i] == idle_task) continue;
      task tk = t.setup.tasks[i];
      if (tk.cpu >= cpus) continue;
      remap[i] = static_cast<std::uint32_t>(out.setup.tasks.size());
      out.setup.tasks.push_back(std::move(tk));
    }
    for (event e : t.events) {
      if ((e.kind == event_kind::switch_to || e.kind == event_kind::migrate) &&
          e.task != idle_task) {
        if (e.task >= remap.size() || remap[e.task] == idle_task) return t;
        e.task = remap[e.task];
      }
      out.events.push_back(e);
    }
    if (!fails(out.setup, out.events)) return t;
    // Guest values back to their defaults where the failure does not need them, so the
    // reproducer writes no `guest` line it does not need.
    std::uint32_t ordinal = 0;
    for (task& tk : out.setup.tasks) {
      if (!is_vcpu(tk.kind)) continue;
      for (unsigned slot = 0; slot < msr_count && budget(); ++slot) {
        const std::uint64_t was = tk.guest[slot];
        if (was == guest_default(ordinal, slot)) continue;
        tk.guest[slot] = guest_default(ordinal, slot);
        if (!fails(out.setup, out.events)) tk.guest[slot] = was;
      }
      ++ordinal;
    }
    return out;
  }

  strategy strategy_;
  invariant target_;
  run_options opts_;
  std::size_t limit_;
  std::uint64_t event_limit_;
  std::size_t runs_ = 0;
  std::uint64_t events_run_ = 0;
};

}  // namespace detail

/// A short trace that still violates `target` under `s` (`failing` itself if it does not).
[[nodiscard]] inline trace shrink(const trace& failing, strategy s, invariant target,
                                  const run_options& options = {},
                                  const shrink_options& limits = {}) {
  return detail::shrinker{s, target, options, limits}.run(failing);
}

}  // namespace uret::sim
