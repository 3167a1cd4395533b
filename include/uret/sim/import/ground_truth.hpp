// SPDX-License-Identifier: MIT
// uret/sim/import/ground_truth.hpp - what KVM really wrote (the trace's msr:write_msr events)
// against what a strategy writes on the same events: the comparison per CPU, per MSR and per
// stretch between gaps, each difference explained where the import knows why, and the block
// `uret-bench --trace` and `uret-sim import --check` print.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "uret/detail/assert.hpp"
#include "uret/msr.hpp"
#include "uret/sim/import/comparison.hpp"
#include "uret/sim/import/detail/text.hpp"
#include "uret/sim/import/imported_trace.hpp"
#include "uret/sim/import/items.hpp"
#include "uret/sim/replay.hpp"
#include "uret/sim/simulator.hpp"
#include "uret/sim/strategy.hpp"
#include "uret/sim/trace.hpp"

namespace uret::sim {

/// Compares the msr:write_msr ground truth of `imp` with the writes a strategy issued when the
/// simulator ran `imp.trace` (run_options::record_writes; `predicted` in the order issued).
///
/// Each CPU's events are cut into stretches: before its first return to user mode (the state
/// the trace began in is unknown), then between gaps. In each stretch the traced and predicted
/// writes are compared as sequences of (MSR, value); a stretch that differs is explained by the
/// first that applies of: trace start, a gap at either end, a probable return inside it, a value
/// change inside it; otherwise the difference is unexplained. The work is ground_truth_comparer's
/// (uret/sim/import/comparison.hpp), fed in trace order.
[[nodiscard]] inline ground_truth_comparison compare_ground_truth(
    const imported_trace& imp, std::span<const write_record> predicted) {
  ground_truth_comparer cmp(imp);
  std::size_t w = 0;
  static_cast<void>(visit_items(
      imp,
      [&](std::size_t i, const event& e, const event_source& src) {
        cmp.event(i, e, src);
        for (; w < predicted.size() && predicted[w].event <= i; ++w)
          cmp.predicted(predicted[w], src);
      },
      [&](std::size_t x, const expected_wrmsr& ew, std::size_t line) { cmp.traced(x, ew, line); }));
  for (; w < predicted.size(); ++w) cmp.predicted(predicted[w], event_source{});
  return cmp.finish();
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
  run_result run;  ///< the run (its writes went to the comparison; `run.writes` stays empty)
  ground_truth_comparison comparison;
  std::string block;  ///< format_ground_truth() of the comparison
  /// False when a streaming import's temporary file could not be read back whole: the run and
  /// the comparison then cover only a prefix of the trace and mean nothing.
  bool read_ok = true;
};

/// Runs `imp`'s events under `s` (user-return: what KVM VMX/SVM does) and compares each event's
/// writes with the trace's msr:write_msr ground truth as they are made, so memory does not grow
/// with the trace when the events are in a file (events_kept::in_file). This is what
/// `uret-bench --trace` and `uret-sim import --check` print. `imp` must hold its events
/// (has_items()).
///
///     auto imp = uret::sim::import_trace(text);
///     if (imp.has_ground_truth()) {
///       auto gt = uret::sim::check_ground_truth(imp);
///       std::fputs(gt.block.c_str(), stdout);           // zero difference: gt.comparison.exact()
///     }
[[nodiscard]] inline ground_truth_check check_ground_truth(const imported_trace& imp,
                                                           strategy s = strategy::user_return,
                                                           run_options options = {}) {
  URET_ASSERT(has_items(imp), "check_ground_truth(): the import did not keep its events");
  options.record_writes = true;
  ground_truth_comparer cmp(imp);
  auto sim = std::make_unique<simulator>(imp.trace.setup, s, options);
  ground_truth_check r;
  r.read_ok = visit_items(
      imp,
      [&](std::size_t i, const event& e, const event_source& src) {
        cmp.event(i, e, src);
        sim->step(e);
        for (const auto& w : sim->writes()) cmp.predicted(w, src);
        sim->clear_writes();
      },
      [&](std::size_t x, const expected_wrmsr& w, std::size_t line) { cmp.traced(x, w, line); });
  r.run = sim->result();
  r.comparison = cmp.finish();
  r.block = format_ground_truth(imp, r.comparison, to_string(s));
  return r;
}

}  // namespace uret::sim
