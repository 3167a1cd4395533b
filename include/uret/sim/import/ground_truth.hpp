// SPDX-License-Identifier: MIT
// uret/sim/import/ground_truth.hpp - what KVM really wrote (the trace's msr:write_msr events)
// against what a strategy writes on the same events: the comparison per CPU, per MSR and per
// stretch between gaps, each difference explained where the import knows why, and the block
// `uret-bench --trace` and `uret-sim import --check` print.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "uret/msr.hpp"
#include "uret/sim/import/detail/text.hpp"
#include "uret/sim/import/imported_trace.hpp"
#include "uret/sim/replay.hpp"
#include "uret/sim/simulator.hpp"
#include "uret/sim/strategy.hpp"
#include "uret/sim/trace.hpp"

namespace uret::sim {

/// Why predicted and traced writes differ in one stretch of one CPU's events.
enum class difference_reason : std::uint8_t {
  trace_start,      ///< before the CPU's first return to user or gap: the state the trace
                    ///< began in is unknown
  gap,              ///< the stretch begins or ends at a gap (`unknown`)
  probable_return,  ///< the stretch holds a return guessed from a switch to a user task
  value_changed,    ///< a host or guest value changed where the replay keeps one value
  unexplained,      ///< none of the above: the model and KVM disagree
};

/// A short English description of `r`.
[[nodiscard]] constexpr std::string_view to_string(difference_reason r) noexcept {
  switch (r) {
    case difference_reason::trace_start: return "trace start";
    case difference_reason::gap: return "gap";
    case difference_reason::probable_return: return "probable return";
    case difference_reason::value_changed: return "value changed";
    case difference_reason::unexplained: return "unexplained";
  }
  return "unexplained";
}

/// A difference for one MSR in one stretch of one CPU's events (between gaps).
struct ground_truth_difference {
  difference_reason reason = difference_reason::unexplained;
  std::uint32_t cpu = 0;
  msr_index msr{};
  std::size_t extra = 0;       ///< predicted writes the trace does not have
  std::size_t missing = 0;     ///< traced writes the strategy did not predict
  bool order_only = false;     ///< same writes, different order
  std::size_t first_line = 0;  ///< trace lines the stretch spans
  std::size_t last_line = 0;
};

/// Traced against predicted writes of one MSR.
struct ground_truth_row {
  msr_index msr{};
  std::size_t actual = 0;     ///< msr:write_msr events (KVM's real writes)
  std::size_t predicted = 0;  ///< the strategy's writes in the simulator
  std::size_t explained_extra = 0, explained_missing = 0;
  std::size_t unexplained_extra = 0, unexplained_missing = 0;
};

/// The result of compare_ground_truth().
struct ground_truth_comparison {
  std::vector<ground_truth_row> rows;  ///< one per MSR, ascending index
  std::vector<ground_truth_difference> differences;
  std::size_t actual = 0;
  std::size_t predicted = 0;
  std::uint32_t cpus_with_writes = 0;
  /// Writes of the model at a CPU offline/online the kernel could not trace (Linux before 6.3
  /// runs KVM's CPU callbacks where tracepoints are off): made, but never recordable, so not
  /// compared. The first one's trace line.
  std::size_t unrecordable = 0;
  std::size_t unrecordable_line = 0;

  /// Every traced write predicted, with the same value, in the same order per CPU, and nothing
  /// more.
  [[nodiscard]] bool exact() const noexcept { return differences.empty(); }
  /// Differences no gap, trace start, heuristic or value change accounts for.
  [[nodiscard]] std::size_t unexplained() const noexcept {
    std::size_t n = 0;
    for (const auto& d : differences) {
      if (d.reason == difference_reason::unexplained)
        n += d.extra + d.missing + (d.order_only ? 1 : 0);
    }
    return n;
  }
};

/// Compares the msr:write_msr ground truth of `imp` with the writes a strategy issued when the
/// simulator ran `imp.trace` (run_options::record_writes; `predicted` in the order issued).
///
/// Each CPU's events are cut into stretches: before its first return to user mode (the state
/// the trace began in is unknown), then between gaps. In each stretch the traced and predicted
/// writes are compared as sequences of (MSR, value); a stretch that differs is explained by the
/// first that applies of: trace start, a gap at either end, a probable return inside it, a value
/// change inside it; otherwise the difference is unexplained.
[[nodiscard]] inline ground_truth_comparison compare_ground_truth(
    const imported_trace& imp, std::span<const write_record> predicted) {
  struct write_ref {
    msr_index msr;
    std::uint64_t value;
    std::size_t line;
  };
  struct stretch {
    std::vector<write_ref> actual, predicted;
    std::size_t begin = 0, end = 0;  // event index range [begin, end)
    bool starts_at_gap = false, ends_at_gap = false, first = false;
  };
  ground_truth_comparison out;
  const auto& events = imp.trace.events;
  const std::size_t cpus = imp.trace.setup.cpus;
  // Cut points per CPU: the first `user` event, then every gap. A cut is an event index (the
  // predicted writes of that event and later ones are after it) and an index into the traced
  // writes (that one and later ones are after it).
  struct cut {
    std::size_t event, expected;
    bool gap;
  };
  std::vector<std::vector<cut>> cuts(cpus);
  {
    std::vector<std::size_t> first_user(cpus, events.size());
    for (std::size_t i = 0; i < events.size(); ++i) {
      const auto& e = events[i];
      if (e.cpu < cpus && e.kind == event_kind::user && first_user[e.cpu] == events.size()) {
        first_user[e.cpu] = i;
      }
    }
    for (std::size_t c = 0; c < cpus; ++c) {
      std::size_t first_gap = events.size() + 1;
      for (const auto& g : imp.gaps) {
        if (g.cpu == c) {
          first_gap = g.event;
          break;
        }
      }
      if (first_user[c] < events.size() && first_user[c] < first_gap) {
        std::size_t x = 0;
        while (x < imp.trace.expected.size() && imp.trace.expected[x].before_event <= first_user[c])
          ++x;
        cuts[c].push_back({first_user[c], x, false});
      }
    }
    for (const auto& g : imp.gaps) {
      if (g.cpu < cpus) cuts[g.cpu].push_back({g.event, g.expected, true});
    }
  }
  std::vector<std::vector<stretch>> st(cpus);
  for (std::size_t c = 0; c < cpus; ++c) {
    st[c].resize(cuts[c].size() + 1);
    for (std::size_t k = 0; k < st[c].size(); ++k) {
      auto& s = st[c][k];
      s.first = k == 0;
      s.begin = k == 0 ? 0 : cuts[c][k - 1].event;
      s.end = k < cuts[c].size() ? cuts[c][k].event : events.size();
      s.starts_at_gap = k > 0 && cuts[c][k - 1].gap;
      s.ends_at_gap = k < cuts[c].size() && cuts[c][k].gap;
    }
  }
  // Stretch of a predicted write at event e: the number of cuts at or before e. Of the traced
  // write number x: the number of cuts at or before x.
  auto stretch_of = [&](std::size_t c, std::size_t pos, bool traced) -> stretch& {
    std::size_t k = 0;
    for (const auto& ct : cuts[c]) k += (traced ? ct.expected : ct.event) <= pos ? 1 : 0;
    return st[c][k];
  };
  std::vector<msr_index> msrs_seen;
  auto row = [&](msr_index m) -> ground_truth_row& {
    for (auto& r : out.rows) {
      if (r.msr == m) return r;
    }
    out.rows.push_back({m});
    return out.rows.back();
  };
  std::vector<bool> cpu_has(cpus, false);
  for (std::size_t i = 0; i < imp.trace.expected.size(); ++i) {
    const auto& w = imp.trace.expected[i];
    if (w.cpu >= cpus) continue;
    const std::size_t line = i < imp.expected_lines.size() ? imp.expected_lines[i] : 0;
    stretch_of(w.cpu, i, true).actual.push_back({w.msr, w.value, line});
    ++row(w.msr).actual;
    ++out.actual;
    cpu_has[w.cpu] = true;
  }
  for (const auto& w : predicted) {
    if (w.cpu >= cpus || w.slot >= msr_count) continue;
    const auto ev = static_cast<std::size_t>(w.event);
    const std::size_t line = ev < imp.sources.size() ? imp.sources[ev].line : 0;
    if (ev < imp.sources.size() && imp.sources[ev].origin == event_origin::untraced) {
      if (out.unrecordable++ == 0) out.unrecordable_line = line;
      continue;
    }
    const msr_index m = slot_msrs[w.slot];
    stretch_of(w.cpu, ev, false).predicted.push_back({m, w.value, line});
    ++row(m).predicted;
    ++out.predicted;
    cpu_has[w.cpu] = true;
  }
  for (bool b : cpu_has) out.cpus_with_writes += b ? 1u : 0u;
  std::sort(out.rows.begin(), out.rows.end(),
            [](const ground_truth_row& a, const ground_truth_row& b) { return a.msr < b.msr; });

  auto same = [](const write_ref& a, const write_ref& b) {
    return a.msr == b.msr && a.value == b.value;
  };
  for (std::uint32_t c = 0; c < cpus; ++c) {
    for (const auto& s : st[c]) {
      if (s.actual.size() == s.predicted.size() &&
          std::equal(s.actual.begin(), s.actual.end(), s.predicted.begin(), same)) {
        continue;
      }
      auto reason = difference_reason::unexplained;
      if (s.first) {
        reason = difference_reason::trace_start;
      } else if (s.starts_at_gap || s.ends_at_gap) {
        reason = difference_reason::gap;
      } else {
        for (std::size_t i = s.begin; i < s.end && i < imp.sources.size(); ++i) {
          const auto& e = events[i];
          if (e.cpu == c && e.kind == event_kind::user &&
              imp.sources[i].origin == event_origin::probable_return) {
            reason = difference_reason::probable_return;
            break;
          }
        }
        if (reason == difference_reason::unexplained) {
          for (const auto& vc : imp.value_changes) {
            if (vc.cpu == c && vc.after > s.begin && vc.after <= s.end) {
              reason = difference_reason::value_changed;
              break;
            }
          }
        }
      }
      std::size_t lo = static_cast<std::size_t>(-1), hi = 0;
      for (const auto* v : {&s.actual, &s.predicted}) {
        for (const auto& w : *v) {
          if (w.line != 0) lo = std::min(lo, w.line);
          hi = std::max(hi, w.line);
        }
      }
      if (lo == static_cast<std::size_t>(-1)) lo = 0;
      // Per MSR: multiset difference of values; an order-only mismatch when it is empty.
      msrs_seen.clear();
      for (const auto* v : {&s.actual, &s.predicted}) {
        for (const auto& w : *v) {
          if (std::find(msrs_seen.begin(), msrs_seen.end(), w.msr) == msrs_seen.end()) {
            msrs_seen.push_back(w.msr);
          }
        }
      }
      std::sort(msrs_seen.begin(), msrs_seen.end());
      bool any = false;
      for (auto m : msrs_seen) {
        std::vector<std::uint64_t> a, p;
        for (const auto& w : s.actual) {
          if (w.msr == m) a.push_back(w.value);
        }
        for (const auto& w : s.predicted) {
          if (w.msr == m) p.push_back(w.value);
        }
        std::sort(a.begin(), a.end());
        std::sort(p.begin(), p.end());
        std::size_t common = 0;
        for (std::size_t i = 0, j = 0; i < a.size() && j < p.size();) {
          if (a[i] == p[j]) {
            ++common, ++i, ++j;
          } else if (a[i] < p[j]) {
            ++i;
          } else {
            ++j;
          }
        }
        ground_truth_difference d{reason, c,  m, p.size() - common, a.size() - common,
                                  false,  lo, hi};
        if (d.extra == 0 && d.missing == 0) continue;
        any = true;
        auto& r = row(m);
        if (reason == difference_reason::unexplained) {
          r.unexplained_extra += d.extra;
          r.unexplained_missing += d.missing;
        } else {
          r.explained_extra += d.extra;
          r.explained_missing += d.missing;
        }
        out.differences.push_back(d);
      }
      if (!any) {
        out.differences.push_back({reason, c, msr_index{}, 0, 0, true, lo, hi});
      }
    }
  }
  return out;
}

/// The block's last line: whether the trace is complete (no gap) and whether the prediction is
/// exact. A difference is never a pass, whatever it is attributed to.
[[nodiscard]] inline std::string verdict_line(const imported_trace& imp,
                                              const ground_truth_comparison& cmp) {
  using detail::cat, detail::dec;
  std::string o = "  verdict: trace ";
  if (imp.complete()) {
    o += "complete (no gap)";
  } else {
    cat(o, {"incomplete (", dec(imp.gaps.size()), imp.gaps.size() == 1 ? " gap)" : " gaps)"});
  }
  if (cmp.exact()) {
    o += ", prediction exact";
  } else {
    std::size_t n = 0;
    for (const auto& d : cmp.differences) n += d.extra + d.missing + (d.order_only ? 1 : 0);
    cat(o, {", prediction not exact (", dec(n), " write(s) differ, ", dec(cmp.unexplained()),
            " unexplained)"});
  }
  if (imp.stats.probable_returns != 0) {
    cat(o, {"; ", dec(imp.stats.probable_returns), " return(s) guessed by the switch heuristic"});
  }
  o += "\n";
  return o;
}

/// The ground-truth block `uret-bench --trace` prints: per MSR, KVM's writes (msr:write_msr)
/// beside the strategy's, then each difference with its explanation. Plain text, one table.
[[nodiscard]] inline std::string format_ground_truth(const imported_trace& imp,
                                                     const ground_truth_comparison& cmp,
                                                     std::string_view strategy = "user-return") {
  using detail::cat, detail::dec, detail::pad, detail::plus_minus;
  auto signed_diff = [](std::size_t p, std::size_t a) {
    return p >= a ? cat({"+", dec(p - a)}) : cat({"-", dec(a - p)});
  };
  std::string o =
      cat({"Ground truth: KVM's WRMSRs (msr:write_msr) vs the ", strategy, " strategy\n"});
  const std::size_t w = std::max<std::size_t>(12, strategy.size());
  cat(o, {"  ", pad("MSR", 14, false), pad("KVM", 8, true), "  ", pad(strategy, w, true),
          pad("diff", 8, true), pad("explained", 12, true), pad("unexplained", 14, true), "\n"});
  for (const auto& r : cmp.rows) {
    cat(o, {"  ", pad(msr_token(r.msr), 14, false), pad(dec(r.actual), 8, true), "  ",
            pad(dec(r.predicted), w, true), pad(signed_diff(r.predicted, r.actual), 8, true),
            pad(plus_minus(r.explained_extra, r.explained_missing), 12, true),
            pad(plus_minus(r.unexplained_extra, r.unexplained_missing), 14, true), "\n"});
  }
  cat(o, {"  ", pad("all", 14, false), pad(dec(cmp.actual), 8, true), "  ",
          pad(dec(cmp.predicted), w, true), pad(signed_diff(cmp.predicted, cmp.actual), 8, true),
          "\n"});
  // Writes that are no user-return traffic, and what the model wrote where no tracepoint can.
  for (auto why : {other_write_reason::probe, other_write_reason::svm_enable,
                   other_write_reason::svm_disable, other_write_reason::not_user_return}) {
    std::size_t n = 0, first = 0;
    for (const auto& x : imp.other_writes) {
      if (x.reason != why) continue;
      if (n++ == 0) first = x.line;
    }
    if (n != 0) {
      cat(o, {"  not compared: ", dec(n), " write(s), ", to_string(why), " (first at line ",
              dec(first), ")\n"});
    }
  }
  if (cmp.unrecordable != 0) {
    cat(o, {"  not compared: ", dec(cmp.unrecordable),
            " restore(s) of the model at a CPU offline the kernel cannot trace (line ",
            dec(cmp.unrecordable_line), ")\n"});
  }
  const std::string verdict = verdict_line(imp, cmp);
  if (cmp.exact()) {
    cat(o, {"  difference: none. Every traced WRMSR predicted, same value, same order (",
            dec(cmp.actual), " writes on ", dec(cmp.cpus_with_writes), " CPUs).\n", verdict});
    return o;
  }
  // One line per stretch (consecutive differences share CPU, lines and reason), at most 12.
  o += "  differences (+ predicted only, - traced only), by stretch of a CPU's events:\n";
  std::size_t shown = 0, stretches = 0;
  for (std::size_t i = 0; i < cmp.differences.size();) {
    const auto& d = cmp.differences[i];
    std::size_t j = i, extra = 0, missing = 0;
    std::string per_msr;
    for (; j < cmp.differences.size(); ++j) {
      const auto& e = cmp.differences[j];
      if (e.cpu != d.cpu || e.first_line != d.first_line || e.last_line != d.last_line ||
          e.reason != d.reason) {
        break;
      }
      extra += e.extra;
      missing += e.missing;
      if (e.order_only) {
        per_msr += " same writes in another order";
      } else {
        cat(per_msr, {" ", msr_token(e.msr), " ", plus_minus(e.extra, e.missing)});
      }
    }
    ++stretches;
    if (shown < 12) {
      ++shown;
      cat(o,
          {"    ", pad(to_string(d.reason), 16, false), "CPU ", dec(d.cpu), "  ",
           plus_minus(extra, missing), "  trace lines ", dec(d.first_line), "-", dec(d.last_line)});
      if (d.reason == difference_reason::gap) {
        for (const auto& g : imp.gaps) {
          if (g.cpu == d.cpu && g.line + 1 >= d.first_line && g.line <= d.last_line + 1) {
            cat(o, {" (", to_string(g.kind), " at line ", dec(g.line), ")"});
            break;
          }
        }
      }
      cat(o, {":", per_msr, "\n"});
    }
    i = j;
  }
  if (stretches > shown) cat(o, {"    ... ", dec(stretches - shown), " more stretches\n"});
  for (auto reason : {difference_reason::trace_start, difference_reason::gap,
                      difference_reason::probable_return, difference_reason::value_changed}) {
    std::size_t extra = 0, missing = 0;
    for (const auto& d : cmp.differences) {
      if (d.reason == reason) extra += d.extra, missing += d.missing;
    }
    if (extra + missing == 0) continue;
    cat(o, {"  explained by ", to_string(reason), ": ", plus_minus(extra, missing), "\n"});
  }
  cat(o, {"  unexplained: ", dec(cmp.unexplained()), " write(s)\n", verdict});
  return o;
}

/// A strategy's run on an imported trace and its comparison with the trace's ground truth.
struct ground_truth_check {
  run_result run;  ///< the run (with every write recorded)
  ground_truth_comparison comparison;
  std::string block;  ///< format_ground_truth() of the comparison
};

/// Runs `imp.trace` under `s` (user-return: what KVM VMX/SVM does) with every write recorded and
/// compares the writes with the trace's msr:write_msr ground truth. This is what
/// `uret-bench --trace` prints below its table.
///
///     auto imp = uret::sim::import_trace(text);
///     if (imp.has_ground_truth()) {
///       auto gt = uret::sim::check_ground_truth(imp);
///       std::fputs(gt.block.c_str(), stdout);           // zero difference: gt.comparison.exact()
///     }
[[nodiscard]] inline ground_truth_check check_ground_truth(const imported_trace& imp,
                                                           strategy s = strategy::user_return,
                                                           run_options options = {}) {
  options.record_writes = true;
  ground_truth_check r{run(imp.trace, s, options), {}, {}};
  r.comparison = compare_ground_truth(imp, r.run.writes);
  r.block = format_ground_truth(imp, r.comparison, to_string(s));
  return r;
}

}  // namespace uret::sim
