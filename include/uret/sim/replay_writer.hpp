// SPDX-License-Identifier: MIT
// uret/sim/replay_writer.hpp - the one writer of the replay format (`uret-replay 1`,
// docs/replay-format.md): events as lines, a whole trace as text, with optional comments (the
// importer notes the trace line each event came from). uret/sim/replay.hpp reads it back.
#pragma once

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "uret/msr.hpp"
#include "uret/sim/trace.hpp"

namespace uret::sim {

/// The name the replay format writes for `msr` (its well-known name, or hex).
[[nodiscard]] inline std::string msr_token(msr_index msr) {
  const std::string_view n = msr_name(msr);
  if (!n.empty()) return std::string(n);
  char buf[16];
  const auto r = std::to_chars(buf, buf + sizeof buf, msr.value, 16);
  return "0x" + std::string(buf, r.ptr);
}

namespace detail {

inline std::string hex(std::uint64_t v) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, v, 16);
  return "0x" + std::string(buf, r.ptr);
}

inline std::string quote(std::string_view name) {
  bool plain = !name.empty();
  for (char c : name) {
    if (c == ' ' || c == '\t' || c == '"' || c == '#' || c == '\\' || c == '=') plain = false;
  }
  if (plain) return std::string(name);
  std::string s = "\"";
  for (char c : name) {
    if (c == '"' || c == '\\') s += '\\';
    s += c;
  }
  return s + "\"";
}

}  // namespace detail

namespace detail {

/// Appends `v` in decimal.
inline void append_dec(std::string& out, std::uint64_t v) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

}  // namespace detail

/// Appends one event as a replay line (no newline) to `out`: the writer's hot path, no
/// temporary strings for the common events.
inline void append_event(std::string& out, const event& e, const setup& s) {
  auto task_name = [&](std::uint32_t t) {
    if (t == idle_task) {
      out += "idle";
    } else if (t < s.tasks.size()) {
      out += detail::quote(s.tasks[t].name);
    } else {
      out += '?';
      detail::append_dec(out, t);
    }
  };
  out += to_string(e.kind);
  out += ' ';
  switch (e.kind) {
    case event_kind::switch_to:
      detail::append_dec(out, e.cpu);
      out += ' ';
      task_name(e.task);
      return;
    case event_kind::migrate:
      task_name(e.task);
      out += ' ';
      detail::append_dec(out, e.cpu);
      return;
    case event_kind::exit:
      detail::append_dec(out, e.cpu);
      if (e.arg != 0) {
        out += ' ';
        out += to_string(static_cast<exit_outcome>(e.arg));
      }
      return;
    case event_kind::disable:
      detail::append_dec(out, e.cpu);
      if (e.arg != 0) {
        out += ' ';
        out += to_string(static_cast<disable_when>(e.arg));
      }
      return;
    case event_kind::fault:
      detail::append_dec(out, e.cpu);
      out += ' ';
      out += e.arg < msr_count ? msr_token(slot_msrs[e.arg]) : std::string("?");
      return;
    case event_kind::unknown:
      detail::append_dec(out, e.cpu);
      for (unsigned slot = 0; slot < msr_count; ++slot) {
        if (!has(static_cast<slot_set>(e.arg), slot)) continue;
        out += ' ';
        out += msr_token(slot_msrs[slot]);
      }
      return;
    case event_kind::guest_msr:
      detail::append_dec(out, e.cpu);
      out += ' ';
      out += e.arg < msr_count ? msr_token(slot_msrs[e.arg]) : std::string("?");
      out += ' ';
      out += e.task < s.values.size() ? detail::hex(s.values[e.task]) : std::string("?");
      return;
    default: detail::append_dec(out, e.cpu); return;
  }
}

/// One event as a replay line (no newline).
[[nodiscard]] inline std::string format_event(const event& e, const setup& s) {
  std::string line;
  append_event(line, e, s);
  return line;
}

/// The comments write_replay() adds by default: none. A writer that annotates its replay text
/// passes an object with these four members instead (the importer notes where each line came
/// from: uret/sim/import/detail/importer.hpp).
struct no_replay_comments {
  void head(std::string&) const noexcept {}                   ///< comment lines on top
  void task(std::string&, std::size_t) const noexcept {}      ///< after task i's line
  void event(std::string&, std::size_t) const noexcept {}     ///< after event i's line
  void expected(std::string&, std::size_t) const noexcept {}  ///< after expect-wrmsr i's line
};

/// The set-up part of a replay text: `comments`' head, the magic line, `cpus`, `host`, `vcpu` /
/// `task` and `guest` lines, appended to `out`. The events follow (format_event(),
/// format_expected()); a writer that streams its events writes this part first.
template <class Comments = no_replay_comments>
void write_replay_setup(std::string& out, const setup& s, const Comments& comments = {}) {
  comments.head(out);
  out += "uret-replay 1\ncpus ";
  out += std::to_string(s.cpus);
  out += '\n';
  for (unsigned slot = 0; slot < msr_count; ++slot) {
    bool all_same = true;
    bool any = false;
    for (std::uint32_t c = 0; c < s.cpus; ++c) {
      any = any || s.host[c][slot] != host_default(c, slot);
      all_same = all_same && s.host[c][slot] == s.host[0][slot];
    }
    if (!any) continue;
    const std::string assign = msr_token(slot_msrs[slot]) + "=";
    if (all_same && s.cpus > 1) {
      out += "host * " + assign + detail::hex(s.host[0][slot]) + "\n";
      continue;
    }
    for (std::uint32_t c = 0; c < s.cpus; ++c) {
      if (s.host[c][slot] != host_default(c, slot)) {
        out += "host " + std::to_string(c) + " " + assign + detail::hex(s.host[c][slot]) + "\n";
      }
    }
  }
  std::uint32_t ordinal = 0;
  for (std::size_t i = 0; i < s.tasks.size(); ++i) {
    const task& tk = s.tasks[i];
    out += is_vcpu(tk.kind) ? "vcpu " : "task ";
    out += detail::quote(tk.name);
    out += ' ';
    out += to_string(tk.kind);
    out += ' ';
    out += std::to_string(tk.cpu);
    comments.task(out, i);
    out += '\n';
    if (!is_vcpu(tk.kind)) continue;
    std::string g;
    for (unsigned slot = 0; slot < msr_count; ++slot) {
      if (tk.guest[slot] != guest_default(ordinal, slot)) {
        g += ' ';  // appends only: `"literal" + std::string&&` trips GCC 12's -Wrestrict
        g += msr_token(slot_msrs[slot]);
        g += '=';
        g += detail::hex(tk.guest[slot]);
      }
    }
    ++ordinal;
    if (g.empty()) continue;
    out += "guest ";
    out += detail::quote(tk.name);
    out += g;
    out += '\n';
  }
}

/// One expect-wrmsr as a replay line (no newline), appended to `out`.
inline void format_expected(std::string& out, const expected_wrmsr& w) {
  out += "expect-wrmsr ";
  detail::append_dec(out, w.cpu);
  out += ' ';
  out += msr_token(w.msr);
  out += ' ';
  out += detail::hex(w.value);
}

/// The replay text of `t` (parse_replay() gives back an equal trace), with `comments`' notes.
/// The one writer of the format: uret-sim, the shrinker's output and the importer all use it.
template <class Comments = no_replay_comments>
[[nodiscard]] std::string write_replay(const trace& t, const Comments& comments = {}) {
  const setup& s = t.setup;
  std::string out;
  write_replay_setup(out, s, comments);
  std::size_t x = 0;
  for (std::size_t i = 0; i <= t.events.size(); ++i) {
    for (; x < t.expected.size() && t.expected[x].before_event == i; ++x) {
      format_expected(out, t.expected[x]);
      comments.expected(out, x);
      out += '\n';
    }
    if (i < t.events.size()) {
      append_event(out, t.events[i], s);
      comments.event(out, i);
      out += '\n';
    }
  }
  return out;
}

}  // namespace uret::sim
