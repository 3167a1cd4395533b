// SPDX-License-Identifier: MIT
// uret/sim/import/comparison.hpp - the comparison of what KVM really wrote (a trace's
// msr:write_msr events) with what a strategy writes on the same events, made as the two arrive:
// ground_truth_comparer takes the events, the traced writes and the predicted writes in trace
// order and keeps only what is still unmatched, so a trace of any length is compared in memory
// that does not grow with it (compare_ground_truth() and check_ground_truth() in
// uret/sim/import/ground_truth.hpp drive it).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <limits>
#include <map>
#include <string_view>
#include <utility>
#include <vector>

#include "uret/detail/assert.hpp"
#include "uret/msr.hpp"
#include "uret/sim/import/imported_trace.hpp"
#include "uret/sim/run_result.hpp"
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

/// Compares traced and predicted writes as they come (see compare_ground_truth() for the rules).
///
/// Each CPU's events are cut into stretches: before its first return to user mode, then
/// between gaps. In a stretch the two sequences of (MSR, value) must be equal. The comparer
/// keeps the writes of the side that is ahead until the other side matches them, so its memory
/// is the lag between the two sides, not the trace; once a stretch differs, only a count per
/// (MSR, value) is kept. One side more than `max_lag` writes ahead of the other within a stretch
/// counts as a difference in order: an exact prediction makes each write at the event KVM made
/// it, a few writes apart at most.
///
/// Feed it in trace order: event() for each event, then predicted() for that event's writes;
/// traced() for each traced write before the event it precedes; then finish() once. Indices out
/// of order, or a call after finish(), fail URET_ASSERT.
class ground_truth_comparer {
 public:
  static constexpr std::size_t max_lag = std::size_t{1} << 16;

  /// `imp` (its set-up, gaps and value changes) must outlive the comparer.
  explicit ground_truth_comparer(const imported_trace& imp)
      : imp_(imp), cpus_(imp.trace.setup.cpus), cpu_(cpus_), has_(cpus_, false) {
    for (auto& c : cpu_) c.open.push_back(stretch{});
  }

  /// Event `index` (0, 1, 2, ... in order), before its predicted writes.
  void event(std::size_t index, const event& e, const event_source& src) {
    URET_ASSERT(!finished_ && index == events_,
                "ground_truth_comparer: events in order, before finish()");
    events_ = index + 1;
    const auto& gaps = imp_.gaps;
    for (; gap_event_ < gaps.size() && gaps[gap_event_].event <= index; ++gap_event_) {
      const auto& g = gaps[gap_event_];
      if (g.cpu >= cpus_) continue;
      cpu_[g.cpu].gap_seen = true;
      cut(g.cpu, false, true, g.event);
    }
    // The traced side passes those gaps too once every traced write before them was seen (so
    // the stretches settle now, not at the next traced write on that CPU, which may never come).
    for (; gap_write_ < gap_event_ && gaps[gap_write_].expected <= traced_; ++gap_write_) {
      if (gaps[gap_write_].cpu < cpus_) cut(gaps[gap_write_].cpu, true, true, 0);
    }
    if (e.kind != event_kind::user || e.cpu >= cpus_) return;
    auto& c = cpu_[e.cpu];
    if (!c.user_seen) {
      c.user_seen = true;
      if (!c.gap_seen) {  // the state the trace began in is unknown until here
        cut(e.cpu, false, false, index);
        cut(e.cpu, true, false, index);
      }
    }
    if (src.origin == event_origin::probable_return) at(e.cpu, c.predicted).probable = true;
  }

  /// A write the strategy made for the event last given to event() (whose source is `src`).
  void predicted(const write_record& w, const event_source& src) {
    URET_ASSERT(!finished_, "ground_truth_comparer::predicted() after finish()");
    if (w.cpu >= cpus_ || w.slot >= msr_count) return;
    if (src.origin == event_origin::untraced) {
      if (out_.unrecordable++ == 0) out_.unrecordable_line = src.line;
      return;
    }
    const msr_index m = slot_msrs[w.slot];
    add(w.cpu, false, {m, w.value}, src.line);
    ++row(m).predicted;
    ++out_.predicted;
  }

  /// Traced write `index` (0, 1, 2, ... in order), at trace line `line`.
  void traced(std::size_t index, const expected_wrmsr& w, std::size_t line) {
    URET_ASSERT(!finished_ && index == traced_,
                "ground_truth_comparer: traced writes in order, before finish()");
    const auto& gaps = imp_.gaps;
    for (; gap_write_ < gaps.size() && gaps[gap_write_].expected <= index; ++gap_write_) {
      if (gaps[gap_write_].cpu < cpus_) cut(gaps[gap_write_].cpu, true, true, 0);
    }
    traced_ = index + 1;
    if (w.cpu >= cpus_) return;
    add(w.cpu, true, {w.msr, w.value}, line);
    ++row(w.msr).actual;
    ++out_.actual;
  }

  /// The end of the trace: the comparison, differences per CPU in trace order.
  [[nodiscard]] ground_truth_comparison finish() {
    URET_ASSERT(!finished_, "ground_truth_comparer::finish() called twice");
    finished_ = true;
    const auto& gaps = imp_.gaps;
    for (; gap_event_ < gaps.size(); ++gap_event_) {
      if (gaps[gap_event_].cpu < cpus_)
        cut(gaps[gap_event_].cpu, false, true, gaps[gap_event_].event);
    }
    for (; gap_write_ < gaps.size(); ++gap_write_) {
      if (gaps[gap_write_].cpu < cpus_) cut(gaps[gap_write_].cpu, true, true, 0);
    }
    for (std::uint32_t c = 0; c < cpus_; ++c) {
      auto& cs = cpu_[c];
      at(c, cs.predicted).end = events_;
      while (!cs.open.empty()) {
        settle(c, cs.open.front());
        cs.open.pop_front();
      }
      out_.cpus_with_writes += has_[c] ? 1U : 0U;
    }
    std::stable_sort(found_.begin(), found_.end(), [](const found& a, const found& b) {
      return a.cpu != b.cpu ? a.cpu < b.cpu : a.stretch < b.stretch;
    });
    for (auto& f : found_) out_.differences.push_back(f.d);
    std::sort(out_.rows.begin(), out_.rows.end(),
              [](const ground_truth_row& a, const ground_truth_row& b) { return a.msr < b.msr; });
    return std::move(out_);
  }

 private:
  struct wref {
    msr_index msr;
    std::uint64_t value;
    friend bool operator==(const wref&, const wref&) = default;
  };
  struct stretch {
    std::size_t k = 0;
    std::size_t begin = 0, end = 0;  // event index range [begin, end)
    bool starts_at_gap = false, ends_at_gap = false, probable = false;
    std::size_t lo = std::numeric_limits<std::size_t>::max(), hi = 0;  // trace lines spanned
    std::deque<wref> pending;  // writes of the side that is ahead, not matched yet
    bool pending_traced = false;
    bool differs = false;  // from then on only `net` counts
    std::map<std::pair<std::uint32_t, std::uint64_t>, std::int64_t> net;  // traced - predicted
  };
  struct cpu_state {
    std::deque<stretch> open;               // from the lower side's stretch to the higher side's
    std::size_t traced = 0, predicted = 0;  // each side's current stretch
    bool gap_seen = false, user_seen = false;
  };
  struct found {
    std::uint32_t cpu;
    std::size_t stretch;
    ground_truth_difference d;
  };

  stretch& at(std::uint32_t c, std::size_t k) {
    auto& open = cpu_[c].open;
    while (open.back().k < k) {
      stretch s;
      s.k = open.back().k + 1;
      open.push_back(std::move(s));
    }
    return open[k - open.front().k];
  }

  // One side of CPU `c` passes its next cut (a gap, or the first return to user mode); the
  // predicted side at event `event`.
  void cut(std::uint32_t c, bool traced, bool gap, std::size_t event) {
    auto& cs = cpu_[c];
    std::size_t& k = traced ? cs.traced : cs.predicted;
    at(c, k).ends_at_gap = gap;
    if (!traced) at(c, k).end = event;
    ++k;
    at(c, k).starts_at_gap = gap;
    if (!traced) at(c, k).begin = event;
    // Both sides are past the oldest stretches: settle them.
    while (cs.open.front().k < std::min(cs.traced, cs.predicted)) {
      settle(c, cs.open.front());
      cs.open.pop_front();
    }
  }

  static void note(stretch& s, const wref& w, bool traced) {
    s.net[{w.msr.value, w.value}] += traced ? 1 : -1;
  }
  static void to_counts(stretch& s) {
    for (const auto& w : s.pending) note(s, w, s.pending_traced);
    s.pending.clear();
    s.differs = true;
  }

  void add(std::uint32_t c, bool traced, const wref& w, std::size_t line) {
    has_[c] = true;
    auto& cs = cpu_[c];
    stretch& s = at(c, traced ? cs.traced : cs.predicted);
    if (line != 0) s.lo = std::min(s.lo, line);
    s.hi = std::max(s.hi, line);
    if (s.differs) {
      note(s, w, traced);
    } else if (s.pending.empty() || s.pending_traced == traced) {
      if (s.pending.size() >= max_lag) {
        to_counts(s);
        note(s, w, traced);
        return;
      }
      s.pending_traced = traced;
      s.pending.push_back(w);
    } else if (s.pending.front() == w) {
      s.pending.pop_front();
    } else {
      to_counts(s);
      note(s, w, traced);
    }
  }

  ground_truth_row& row(msr_index m) {
    for (auto& r : out_.rows) {
      if (r.msr == m) return r;
    }
    out_.rows.push_back({m});
    return out_.rows.back();
  }

  // A stretch both sides are past: nothing when its sequences were equal, else its differences
  // per MSR (a multiset difference of values), or one in order only.
  void settle(std::uint32_t c, stretch& s) {
    if (!s.differs && s.pending.empty()) return;
    to_counts(s);
    auto reason = difference_reason::unexplained;
    if (s.k == 0) {
      reason = difference_reason::trace_start;
    } else if (s.starts_at_gap || s.ends_at_gap) {
      reason = difference_reason::gap;
    } else if (s.probable) {
      reason = difference_reason::probable_return;
    } else {
      for (const auto& vc : imp_.value_changes) {
        if (vc.cpu == c && vc.after > s.begin && vc.after <= s.end) {
          reason = difference_reason::value_changed;
          break;
        }
      }
    }
    const std::size_t lo = s.lo == std::numeric_limits<std::size_t>::max() ? 0 : s.lo;
    bool any = false;
    for (auto it = s.net.begin(); it != s.net.end();) {
      const std::uint32_t m = it->first.first;
      std::size_t extra = 0, missing = 0;
      for (; it != s.net.end() && it->first.first == m; ++it) {
        if (it->second > 0) missing += static_cast<std::size_t>(it->second);
        if (it->second < 0) extra += static_cast<std::size_t>(-it->second);
      }
      if (extra == 0 && missing == 0) continue;
      any = true;
      ground_truth_difference d{reason, c, msr_index{m}, extra, missing, false, lo, s.hi};
      auto& r = row(d.msr);
      if (reason == difference_reason::unexplained) {
        r.unexplained_extra += extra;
        r.unexplained_missing += missing;
      } else {
        r.explained_extra += extra;
        r.explained_missing += missing;
      }
      found_.push_back({c, s.k, d});
    }
    if (!any) found_.push_back({c, s.k, {reason, c, msr_index{}, 0, 0, true, lo, s.hi}});
  }

  const imported_trace& imp_;
  std::uint32_t cpus_;
  std::vector<cpu_state> cpu_;
  std::vector<bool> has_;
  std::size_t events_ = 0, traced_ = 0, gap_event_ = 0, gap_write_ = 0;
  bool finished_ = false;
  std::vector<found> found_;
  ground_truth_comparison out_;
};

}  // namespace uret::sim
