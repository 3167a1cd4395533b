// SPDX-License-Identifier: MIT
// uret/sim/import/detail/importer.hpp - the trace importer: both stages, then the simulator's
// set-up (host and guest values, tasks), the event list, and the replay text, written by
// uret/sim/replay_writer.hpp's writer with the importer's comments (where each line came from):
// the set-up first, then the events as they are read back, into a string or streamed to a file.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "uret/msr.hpp"
#include "uret/sim/import/detail/item_file.hpp"
#include "uret/sim/import/detail/mapper.hpp"
#include "uret/sim/import/detail/text.hpp"
#include "uret/sim/import/imported_trace.hpp"
#include "uret/sim/replay.hpp"
#include "uret/sim/trace.hpp"

namespace uret::sim::detail {

/// A replay name that needs no quoting: the traced name with blanks, '#', '=', '"' and '\\'
/// replaced by '_', then "-<tid>" (so two threads with one name stay apart).
inline std::string replay_task_name(std::string_view comm, std::uint32_t tid) {
  if (comm.empty() || comm == "<...>") comm = "task";
  std::string n;
  n.reserve(comm.size() + 12);
  for (char c : comm) {
    const bool ok = c > ' ' && c < 0x7f && c != '#' && c != '=' && c != '"' && c != '\\';
    n.push_back(ok ? c : '_');
  }
  n.push_back('-');
  n += std::to_string(tid);
  return n;
}

/// The comments the importer adds to the replay text: the statistics on top, each task's
/// traced name, and (import_options::line_comments) the trace line of each event and
/// expect-wrmsr.
struct import_comments {
  const imported_trace& imp;
  const import_options& opt;

  void head(std::string& s) const {
    const auto& st = imp.stats;
    cat(s, {"# imported by uret-sim import from ", opt.source, "\n# lines ", dec(st.lines),
            ", parsed ", dec(st.parsed), ", ignored ", dec(st.ignored), ", unparsed ",
            dec(st.unparsed), ", gaps ", dec(st.gaps), "\n"});
  }
  void task(std::string& s, std::size_t i) const { cat(s, {"  # ", imp.tasks[i].comm}); }
  void event(std::string& s, const event_source& src) const {
    if (!opt.line_comments) return;
    s += "  # line ";
    append_dec(s, src.line);
    switch (src.origin) {
      case event_origin::trace: break;
      case event_origin::probable_return: s += ", probable return (switch to a user task)"; break;
      case event_origin::trace_start: s += ", vCPU was in guest mode when the trace began"; break;
      case event_origin::gap_repair: s += ", after a gap"; break;
      case event_origin::confirmed_return:
        s += ", return to user mode shown by the restore write";
        break;
      case event_origin::cancelled_entry:
        s += ", entry cancelled after the guest values were loaded";
        break;
      case event_origin::untraced:
        s += ", CPU offline/online the kernel did not trace (shown by the next write)";
        break;
    }
  }
  void expected(std::string& s, std::size_t line) const {
    if (!opt.line_comments) return;
    s += "  # line ";
    append_dec(s, line);
  }
};

/// Where the replay text goes: a string (`file` null), or a file it is written to as it grows.
struct replay_sink {
  std::FILE* file = nullptr;
  std::string text;
  bool failed = false;

  void step() {
    if (file != nullptr && text.size() >= (std::size_t{1} << 16)) flush();
  }
  void flush() {
    if (file == nullptr || text.empty()) return;
    if (std::fwrite(text.data(), 1, text.size(), file) != text.size()) failed = true;
    text.clear();
  }
};

/// The importer; one object per import. The text comes in pieces of any size (feed()); the
/// records, events and expect-wrmsr lines wait in spools, in temporary files when `streaming`.
class trace_importer : import_mapper {
 public:
  /// `spool_items`: with `streaming`, items written to or read from a temporary file at a time.
  explicit trace_importer(const import_options& o, bool streaming = false,
                          std::size_t spool_items = std::size_t{1} << 14)
      : import_mapper(o), t0_(std::chrono::steady_clock::now()) {
    if (!streaming) return;
    spooled_ = records_.to_file(spool_items) && events_.to_file(spool_items) &&
               expects_.to_file(spool_items);
  }

  /// The next piece of the text (lines may continue in the next piece).
  void feed(std::string_view text) { import_scanner::feed(text); }

  /// The end of the text: maps it, writes the replay text to `out` (nullptr: into
  /// imported_trace::replay) and keeps the events where `keep` says.
  imported_trace finish_import(std::FILE* out, events_kept keep) {
    end_of_text();
    classify();
    map();
    replay_sink sink{out, {}, false};
    if (keep == events_kept::in_file) {
      out_.items = std::make_shared<item_file>();
      if (!out_.items->open()) {
        out_.items.reset();
        keep = events_kept::in_memory;  // no temporary file: memory it is
      }
    }
    finish(sink, keep);
    sink.flush();
    if (out == nullptr) out_.replay = std::move(sink.text);
    const bool items_failed = out_.items != nullptr && out_.items->failed();
    out_.io_failed =
        sink.failed || records_.failed() || events_.failed() || expects_.failed() || items_failed;
    out_.stats.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
    return std::move(out_);
  }

  imported_trace import_text(std::string_view text) {
    feed(text);
    return finish_import(nullptr, events_kept::in_memory);
  }

  /// The spools are temporary files (a streaming import whose files could be created).
  [[nodiscard]] bool spooled() const noexcept { return spooled_; }

 private:
  std::chrono::steady_clock::time_point t0_;
  bool spooled_ = false;
  std::unordered_map<std::uint64_t, std::uint32_t> value_index_;  // guest-msr value -> index

  void finish(replay_sink& sink, events_kept keep) {
    const bool keep_events = keep == events_kept::in_memory;
    item_file* file = keep == events_kept::in_file ? out_.items.get() : nullptr;
    auto& tr = out_.trace;
    const auto cpus = static_cast<std::uint32_t>(std::min<std::size_t>(cpus_, max_cpus));
    tr.setup = make_setup(cpus);
    // Host values: what the restores wrote, else what KVM read at CPU online, else (for the
    // MSRs Linux programs alike on every CPU, i.e. all but TSC_AUX) another CPU's value, else
    // Linux's defaults.
    msr_values shared{};
    slot_set shared_known = 0;
    for (std::uint32_t c = 0; c < cpus; ++c) {
      for (unsigned s = 0; s < msr_count; ++s) {
        if (has(cpu_[c].host_known, s))
          static_cast<void>(learn(shared, shared_known, s, cpu_[c].host[s]));
      }
    }
    out_.host_from_trace.assign(cpus, 0);
    for (std::uint32_t c = 0; c < cpus; ++c) {
      const auto& cs = cpu_[c];
      for (unsigned s = 0; s < msr_count; ++s) {
        auto& h = tr.setup.host[c][s];
        if (has(cs.host_known, s)) {
          h = cs.host[s];
        } else if (has(cs.host_read_known, s)) {
          h = cs.host_read[s];
        } else if (s != slots::tsc_aux && has(shared_known, s)) {
          h = shared[s];
          continue;
        } else {
          continue;
        }
        out_.host_from_trace[c] = static_cast<slot_set>(out_.host_from_trace[c] | (1U << s));
      }
    }
    // Tasks: those that ever ran (or were placed by a migration), in the order first seen.
    out_.write_msr_recorded = out_.write_msr_recorded || opt_.write_msr_recorded;
    const bool ground_truth = !expects_.empty() || out_.write_msr_recorded;
    for (std::size_t i = 1; i < tasks_.size(); ++i) {
      auto& t = tasks_[i];
      if (t.first_cpu < 0 || t.first_cpu >= static_cast<std::int64_t>(cpus)) continue;
      const auto cpu = static_cast<std::uint32_t>(t.first_cpu);
      t.sim_index = add_task(tr.setup, replay_task_name(t.comm, t.tid), t.kind, cpu);
      out_.tasks.push_back({t.comm, t.tid, t.vcpu_id});
      out_.guest_from_trace.push_back(t.guest_known);
      if (t.r != role::vcpu) continue;
      auto& g = tr.setup.tasks[t.sim_index].guest;
      const auto ordinal = tr.setup.vcpu_ordinal(t.sim_index);
      for (unsigned s = 0; s < msr_count; ++s) {
        const std::uint64_t host = tr.setup.host[cpu][s];
        const bool differs = std::find(opt_.differing_msrs.begin(), opt_.differing_msrs.end(),
                                       slot_msrs[s]) != opt_.differing_msrs.end();
        if (has(t.guest_known, s)) {
          g[s] = t.guest_first[s];
        } else if (ground_truth || !differs || !has(user_return_, s)) {
          g[s] = host;  // the trace shows no write: the guest's value needs none
        } else if (s == slots::tsc_aux) {
          g[s] = t.vcpu_id >= 0 ? static_cast<std::uint64_t>(t.vcpu_id) : ordinal;
        } else if (s == slots::lstar) {
          g[s] = guest_default(ordinal, s);
        } else {
          g[s] = host ^ (std::uint64_t{1} << 32);
        }
      }
    }
    // The replay text: the set-up, then events and expect-wrmsr lines as they are read back,
    // dropping those the simulator cannot hold (CPUs beyond max_cpus). Gaps and value changes
    // count the events kept before them.
    const import_comments notes{out_, opt_};
    write_replay_setup(sink.text, tr.setup, notes);
    events_.rewind();
    expects_.rewind();
    auto& gaps = out_.gaps;
    auto& changes = out_.value_changes;
    std::size_t kept = 0, kept_expected = 0, x = 0, gap_event = 0, gap_expected = 0, change = 0;
    for (std::size_t i = 0;; ++i) {
      for (; gap_event < gaps.size() && gaps[gap_event].event <= i; ++gap_event) {
        gaps[gap_event].event = kept;
      }
      for (; change < changes.size() && changes[change].after <= i; ++change) {
        changes[change].after = kept;
      }
      for (;; ++x) {
        for (; gap_expected < gaps.size() && gaps[gap_expected].expected <= x; ++gap_expected) {
          gaps[gap_expected].expected = kept_expected;
        }
        const pending_expect* px = expects_.at(x);
        if (px == nullptr || px->after > i) break;
        const pending_expect pe = *px;
        expects_.release(x + 1);
        if (pe.cpu >= cpus) continue;
        const expected_wrmsr w{kept, pe.cpu, pe.msr, pe.value};
        format_expected(sink.text, w);
        notes.expected(sink.text, pe.line);
        sink.text += '\n';
        sink.step();
        ++kept_expected;
        if (file != nullptr) {
          stored_item it;
          it.line = pe.line;
          it.value = pe.value;
          it.ev.cpu = static_cast<std::uint16_t>(pe.cpu);
          it.msr = pe.msr.value;
          it.write = 1;
          file->push_back(it);
        }
        if (!keep_events) continue;
        tr.expected.push_back(w);
        out_.expected_lines.push_back(pe.line);
      }
      const pending_event* next = events_.at(i);
      if (next == nullptr) break;
      const pending_event e = *next;
      events_.release(i + 1);
      const auto& task = tasks_[e.task];
      const bool task_ok = e.task == 0 || task.sim_index != idle_task;
      if (e.cpu >= cpus ||
          ((e.kind == event_kind::switch_to || e.kind == event_kind::migrate) && !task_ok)) {
        ++out_.stats.dropped_cpu_events;
        continue;
      }
      event ev{e.kind, 0, static_cast<std::uint16_t>(e.cpu), 0};
      if (e.kind == event_kind::switch_to) ev.task = e.task == 0 ? idle_task : task.sim_index;
      if (e.kind == event_kind::migrate) ev.task = task.sim_index;
      if (e.kind == event_kind::exit && task.kind == task_kind::tdx) {
        ev.arg = static_cast<std::uint8_t>(e.outcome);
      }
      if (e.kind == event_kind::unknown) ev.arg = e.arg;
      if (e.kind == event_kind::guest_msr) {
        // One entry per distinct value, so the set-up does not grow with the trace.
        ev.arg = e.arg;
        const auto [at, added] =
            value_index_.try_emplace(e.value, static_cast<std::uint32_t>(tr.setup.values.size()));
        if (added) static_cast<void>(add_value(tr.setup, e.value));
        ev.task = at->second;
      }
      append_event(sink.text, ev, tr.setup);
      notes.event(sink.text, {e.line, e.origin});
      sink.text += '\n';
      sink.step();
      ++kept;
      if (file != nullptr) {
        stored_item it;
        it.line = e.line;
        it.ev = ev;
        it.origin = static_cast<std::uint8_t>(e.origin);
        it.reason = e.reason;
        file->push_back(it);
      }
      if (!keep_events) continue;
      tr.events.push_back(ev);
      out_.sources.push_back({e.line, e.origin, e.reason});
    }
    if (file != nullptr) file->close_writing();
    out_.stats.events = kept;
    out_.expected_count = kept_expected;
  }
};

}  // namespace uret::sim::detail
