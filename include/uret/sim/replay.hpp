// SPDX-License-Identifier: MIT
// uret/sim/replay.hpp - the replay format (`uret-replay 1`): a trace as plain text, one item a
// line. docs/replay-format.md is the specification; this header reads it, and brings the
// writer (uret/sim/replay_writer.hpp).
//
//     uret::sim::parse_result p = uret::sim::parse_replay(text);
//     for (const uret::sim::parse_error& e : p.errors) {
//       std::printf("line %zu: %s\n", e.line, e.message.c_str());
//     }
//     std::string again = uret::sim::write_replay(p.trace);  // parses back to the same trace
//
// Parsing never throws and never stops at the first error: every bad line is reported with its
// number and skipped, and the rest is kept. write_replay() writes only what differs from the
// defaults (host_default(), guest_default() by vCPU order), so its output is short and parses
// back to an equal trace.
#pragma once

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "uret/msr.hpp"
#include "uret/sim/replay_writer.hpp"
#include "uret/sim/trace.hpp"

namespace uret::sim {

/// One problem in a replay text.
struct parse_error {
  std::size_t line = 0;  ///< 1-based
  std::string message;
};

/// A parsed replay: the trace, and every line that could not be used.
struct parse_result {
  sim::trace trace;
  std::vector<parse_error> errors;
  [[nodiscard]] bool ok() const noexcept { return errors.empty(); }
};

namespace detail {

/// `s` as a number: decimal, or hex after 0x; the whole of `s` or nothing.
inline std::optional<std::uint64_t> parse_u64(std::string_view s) noexcept {
  std::uint64_t v = 0;
  const char* b = s.data();
  const char* e = s.data() + s.size();
  int base = 10;
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    b += 2;
    base = 16;
  }
  const auto r = std::from_chars(b, e, v, base);
  if (r.ec != std::errc{} || r.ptr != e || b == e) return std::nullopt;
  return v;
}

}  // namespace detail

/// The MSR named `s`: a name (STAR, LSTAR, CSTAR, SYSCALL_MASK or FMASK or SFMASK, TSC_AUX,
/// EFER, TSX_CTRL or IA32_TSX_CTRL, KERNEL_GS_BASE; any case; an optional MSR_ prefix) or a
/// number (0xC0000082).
[[nodiscard]] inline std::optional<msr_index> parse_msr(std::string_view s) noexcept {
  auto upper = [](std::string_view in, char* out, std::size_t cap) -> std::string_view {
    std::size_t n = 0;
    for (char ch : in) {
      if (n == cap) return {};
      out[n++] = (ch >= 'a' && ch <= 'z') ? static_cast<char>(ch - 'a' + 'A') : ch;
    }
    return {out, n};
  };
  char buf[32];
  std::string_view u = upper(s, buf, sizeof buf);
  if (u.substr(0, 4) == "MSR_") u.remove_prefix(4);
  struct alias {
    std::string_view name;
    msr_index msr;
  };
  static constexpr alias aliases[] = {
      {"STAR", msrs::star},
      {"LSTAR", msrs::lstar},
      {"CSTAR", msrs::cstar},
      {"SYSCALL_MASK", msrs::syscall_mask},
      {"FMASK", msrs::syscall_mask},
      {"SFMASK", msrs::syscall_mask},
      {"TSC_AUX", msrs::tsc_aux},
      {"EFER", msrs::efer},
      {"TSX_CTRL", msrs::tsx_ctrl},
      {"IA32_TSX_CTRL", msrs::tsx_ctrl},
      {"KERNEL_GS_BASE", msrs::kernel_gs_base},
  };
  for (const alias& a : aliases) {
    if (a.name == u) return a.msr;
  }
  const auto v = detail::parse_u64(s);
  if (!v || *v > 0xFFFFFFFFU) return std::nullopt;
  return msr_index{static_cast<std::uint32_t>(*v)};
}

namespace detail {

// Split a line into tokens: blanks separate, "double quotes" group (\" and \\ escape inside),
// `#` outside quotes ends the line. Returns false on an unterminated quote.
inline bool tokenize(std::string_view line, std::vector<std::string>& out) {
  out.clear();
  std::size_t i = 0;
  while (i < line.size()) {
    const char ch = line[i];
    if (ch == ' ' || ch == '\t' || ch == '\r') {
      ++i;
      continue;
    }
    if (ch == '#') break;
    std::string tok;
    if (ch == '"') {
      ++i;
      bool closed = false;
      while (i < line.size()) {
        char c = line[i++];
        if (c == '\\' && i < line.size()) {
          tok += line[i++];
        } else if (c == '"') {
          closed = true;
          break;
        } else {
          tok += c;
        }
      }
      if (!closed) return false;
    } else {
      while (i < line.size() && line[i] != ' ' && line[i] != '\t' && line[i] != '\r' &&
             line[i] != '#') {
        tok += line[i++];
      }
    }
    out.push_back(std::move(tok));
  }
  return true;
}

}  // namespace detail

/// Parse a replay text.
[[nodiscard]] inline parse_result parse_replay(std::string_view text) {
  parse_result out;
  trace& t = out.trace;
  t.setup = make_setup(1);
  bool have_magic = false;
  bool have_cpus = false;
  std::unordered_map<std::string, std::uint32_t> names;
  std::vector<std::string> tok;
  std::size_t lineno = 0;

  auto error = [&](std::string msg) { out.errors.push_back({lineno, std::move(msg)}); };
  auto cpu_arg = [&](const std::string& s) -> std::optional<std::uint32_t> {
    const auto v = detail::parse_u64(s);
    if (!v || *v >= t.setup.cpus) {
      error("CPU '" + s + "' is not a number below cpus (" + std::to_string(t.setup.cpus) + ")");
      return std::nullopt;
    }
    return static_cast<std::uint32_t>(*v);
  };
  auto task_arg = [&](const std::string& s, bool allow_idle) -> std::optional<std::uint32_t> {
    if (s == "idle") {
      if (allow_idle) return idle_task;
      error("'idle' is each CPU's own idle task and cannot be named here");
      return std::nullopt;
    }
    const auto it = names.find(s);
    if (it == names.end()) {
      error("unknown task '" + s + "' (declare it with vcpu or task first)");
      return std::nullopt;
    }
    return it->second;
  };
  // MSR=value pairs of guest and host lines; false on a bad pair.
  auto assignments = [&](std::size_t from, auto&& apply) {
    for (std::size_t i = from; i < tok.size(); ++i) {
      const std::size_t eq = tok[i].find('=');
      if (eq == std::string::npos) {
        error("expected MSR=value, got '" + tok[i] + "'");
        continue;
      }
      const auto msr = parse_msr(std::string_view(tok[i]).substr(0, eq));
      const auto slot = msr ? slot_of(*msr) : std::nullopt;
      const auto value = detail::parse_u64(std::string_view(tok[i]).substr(eq + 1));
      if (!slot) {
        error("'" + tok[i].substr(0, eq) +
              "' is not a simulated MSR (SYSCALL_MASK LSTAR CSTAR EFER TSC_AUX STAR TSX_CTRL)");
      } else if (!value) {
        error("bad value '" + tok[i].substr(eq + 1) + "'");
      } else {
        apply(*slot, *value);
      }
    }
  };

  std::size_t pos = 0;
  while (pos <= text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    ++lineno;
    if (!detail::tokenize(line, tok)) {
      error("unterminated quote");
      continue;
    }
    if (tok.empty()) continue;
    const std::string& w = tok[0];
    if (!have_magic) {
      if (w == "uret-replay" && tok.size() == 2 && tok[1] == "1") {
        have_magic = true;
      } else {
        error("the first line must be 'uret-replay 1'");
        return out;
      }
      continue;
    }
    if (w == "cpus") {
      const auto v = tok.size() == 2 ? detail::parse_u64(tok[1]) : std::nullopt;
      if (have_cpus) {
        error("cpus given twice");
      } else if (!v || *v == 0 || *v > max_cpus) {
        error("cpus must be 1 .. " + std::to_string(max_cpus));
      } else {
        t.setup = make_setup(static_cast<std::uint32_t>(*v));
        have_cpus = true;
      }
      continue;
    }
    if (!have_cpus) {
      error("'cpus N' must come before '" + w + "'");
      continue;
    }
    if (w == "vcpu" || w == "task") {
      if (tok.size() < 3 || tok.size() > 4) {
        error(w + " <name> <kind> [cpu]");
        continue;
      }
      const auto kind = parse_task_kind(tok[2]);
      if (!kind || is_vcpu(*kind) != (w == "vcpu")) {
        error(w == "vcpu" ? "vcpu kind must be vmx, svm, sev-es or tdx"
                          : "task kind must be user, kernel or idle");
        continue;
      }
      if (tok[1] == "idle" || names.count(tok[1]) != 0) {
        error("task name '" + tok[1] + "' is taken");
        continue;
      }
      std::uint32_t cpu = 0;
      if (tok.size() == 4) {
        const auto c = cpu_arg(tok[3]);
        if (!c) continue;
        cpu = *c;
      }
      names.emplace(tok[1], add_task(t.setup, tok[1], *kind, cpu));
      continue;
    }
    if (w == "guest") {
      if (tok.size() < 2) {
        error("guest <vcpu> MSR=value ...");
        continue;
      }
      const auto id = task_arg(tok[1], false);
      if (!id) continue;
      task& tk = t.setup.tasks[*id];
      if (!is_vcpu(tk.kind)) {
        error("'" + tok[1] + "' is not a vcpu");
        continue;
      }
      assignments(2, [&](unsigned slot, std::uint64_t v) { tk.guest[slot] = v; });
      continue;
    }
    if (w == "host") {
      if (tok.size() < 2) {
        error("host <cpu|*> MSR=value ...");
        continue;
      }
      std::uint32_t first = 0;
      std::uint32_t last = t.setup.cpus - 1;
      if (tok[1] != "*") {
        const auto c = cpu_arg(tok[1]);
        if (!c) continue;
        first = last = *c;
      }
      assignments(2, [&](unsigned slot, std::uint64_t v) {
        for (std::uint32_t c = first; c <= last; ++c) t.setup.host[c][slot] = v;
      });
      continue;
    }
    if (w == "expect-wrmsr") {
      if (tok.size() != 4) {
        error("expect-wrmsr <cpu> <MSR> <value>");
        continue;
      }
      const auto c = cpu_arg(tok[1]);
      const auto msr = parse_msr(tok[2]);
      const auto v = detail::parse_u64(tok[3]);
      if (!msr) error("unknown MSR '" + tok[2] + "'");
      if (!v) error("bad value '" + tok[3] + "'");
      if (c && msr && v) t.expected.push_back({t.events.size(), *c, *msr, *v});
      continue;
    }
    // Events.
    auto want = [&](std::size_t lo, std::size_t hi, const char* usage) {
      if (tok.size() < lo || tok.size() > hi) {
        error(std::string("usage: ") + usage);
        return false;
      }
      return true;
    };
    // The optional third token of `exit` and `disable`: the name (to_string) of one of the
    // `count` values of their enumeration, `first` when absent.
    auto option_arg = [&](auto first, unsigned count,
                          const char* problem) -> std::optional<decltype(first)> {
      if (tok.size() < 3) return first;
      for (unsigned i = 0; i < count; ++i) {
        const auto v = static_cast<decltype(first)>(i);
        if (tok[2] == to_string(v)) return v;
      }
      error(problem);
      return std::nullopt;
    };
    if (w == "switch") {
      if (!want(3, 3, "switch <cpu> <task|idle>")) continue;
      const auto c = cpu_arg(tok[1]);
      const auto id = task_arg(tok[2], true);
      if (c && id) t.events.push_back(ev::switch_to(*c, *id));
    } else if (w == "unknown" && tok.size() > 2) {
      const auto c = cpu_arg(tok[1]);
      unsigned set = 0;
      bool bad = false;
      for (std::size_t k = 2; k < tok.size(); ++k) {
        const auto msr = parse_msr(tok[k]);
        const auto slot = msr ? slot_of(*msr) : std::nullopt;
        if (!slot) {
          error("'" + tok[k] + "' is not a simulated MSR");
          bad = true;
          break;
        }
        set |= 1U << *slot;
      }
      if (c && !bad) {
        event e = ev::unknown(*c);
        e.arg = static_cast<std::uint8_t>(set);
        t.events.push_back(e);
      }
    } else if (w == "enter" || w == "user" || w == "offline" || w == "online" || w == "unknown") {
      if (!want(2, 2, "<event> <cpu>")) continue;
      const auto c = cpu_arg(tok[1]);
      if (!c) continue;
      if (w == "enter") t.events.push_back(ev::enter(*c));
      if (w == "user") t.events.push_back(ev::user(*c));
      if (w == "offline") t.events.push_back(ev::offline(*c));
      if (w == "online") t.events.push_back(ev::online(*c));
      if (w == "unknown") t.events.push_back(ev::unknown(*c));
    } else if (w == "exit") {
      if (!want(2, 3, "exit <cpu> [real|early-fail|zero-step]")) continue;
      const auto c = cpu_arg(tok[1]);
      if (!c) continue;
      const auto o =
          option_arg(exit_outcome::real, 3, "exit outcome must be real, early-fail or zero-step");
      if (o) t.events.push_back(ev::exit(*c, *o));
    } else if (w == "migrate") {
      if (!want(3, 3, "migrate <task> <cpu>")) continue;
      const auto id = task_arg(tok[1], false);
      const auto c = cpu_arg(tok[2]);
      if (id && c) t.events.push_back(ev::migrate(*id, *c));
    } else if (w == "disable") {
      if (!want(2, 3, "disable <cpu> [now|mid-write|mid-restore]")) continue;
      const auto c = cpu_arg(tok[1]);
      if (!c) continue;
      const auto d =
          option_arg(disable_when::now, 3, "disable timing must be now, mid-write or mid-restore");
      if (d) t.events.push_back(ev::disable(*c, *d));
    } else if (w == "fault") {
      if (!want(3, 3, "fault <cpu> <MSR>")) continue;
      const auto c = cpu_arg(tok[1]);
      const auto msr = parse_msr(tok[2]);
      const auto slot = msr ? slot_of(*msr) : std::nullopt;
      if (!slot) {
        error("'" + tok[2] + "' is not a simulated MSR");
        continue;
      }
      if (c) t.events.push_back(ev::fault(*c, *slot));
    } else if (w == "guest-msr") {
      if (!want(4, 4, "guest-msr <cpu> <MSR> <value>")) continue;
      const auto c = cpu_arg(tok[1]);
      const auto msr = parse_msr(tok[2]);
      const auto slot = msr ? slot_of(*msr) : std::nullopt;
      const auto v = detail::parse_u64(tok[3]);
      if (!slot) {
        error("'" + tok[2] + "' is not a simulated MSR");
        continue;
      }
      if (!v) {
        error("bad value '" + tok[3] + "'");
        continue;
      }
      if (c) t.events.push_back(ev::guest_msr(*c, *slot, add_value(t.setup, *v)));
    } else {
      error("unknown item '" + w + "'");
    }
  }
  if (!have_magic) {
    lineno = 0;
    error("empty input: the first line must be 'uret-replay 1'");
  }
  return out;
}

}  // namespace uret::sim
