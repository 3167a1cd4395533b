// SPDX-License-Identifier: MIT
// uret/sim/import/detail/parse.hpp - the text grammar of kernel trace output, for the trace
// importer (uret/sim/import/detail/scanner.hpp).
//
// Three tools print tracepoints as text, each line a task, a CPU, a timestamp, an event name and
// the event's payload:
//
//     ftrace, trace-cmd:  <comm>-<tid> [(<tgid>)] [<cpu>] [<flags>] <secs>.<frac>: <event>:
//                         <payload>
//     perf script:        <comm> [<pid>/]<tid> [<cpu>] <secs>.<frac>: <system>:<event>:
//                         <payload>
//
// Task names may hold spaces, dashes, slashes and colons ("CPU 0/KVM", "kworker/1:0", "<...>"),
// so a line is anchored on the first "[<digits>]" that is followed by a timestamp, and the task
// is whatever stands before it. Payloads come in the kernel's own TP_printk form or in the form
// of libtraceevent's plugins (trace-cmd and perf load them unless told not to); each parser
// below accepts both; the lexical pieces are in uret/sim/import/detail/lex.hpp. Everything
// here is a pure function over std::string_view: no allocation, no exceptions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "uret/sim/import/detail/lex.hpp"

namespace uret::sim::detail {

/// How the task column of a line was written.
enum class line_form : std::uint8_t {
  comm_dash_tid,   ///< ftrace and trace-cmd report: "comm-tid"
  comm_space_tid,  ///< perf script: "comm tid" or "comm pid/tid"
};

/// The common part of one trace line.
struct trace_line {
  std::string_view comm;     ///< task name as printed ("<...>" when the tracer did not know it)
  std::uint32_t tid = 0;     ///< thread id (0 is the idle task of the CPU)
  std::uint32_t cpu = 0;     ///< CPU the event was recorded on
  std::string_view system;   ///< "kvm" in perf's "kvm:kvm_exit"; empty where not printed
  std::string_view event;    ///< "kvm_exit"
  std::string_view payload;  ///< the rest of the line, trimmed
  std::string_view time;     ///< the timestamp as printed, without its ':' ("1000.000120")
  line_form form = line_form::comm_dash_tid;
  bool tgid_column = false;   ///< ftrace's "(tgid)" column was present
  bool flags_column = false;  ///< a latency-flags column ("d..2." / "....") was present
};

/// A timestamp token: "<digits>[.<digits>]:".
constexpr bool is_timestamp(std::string_view tok) noexcept {
  if (tok.size() < 2 || tok.back() != ':') return false;
  tok.remove_suffix(1);
  auto whole = leading_digits(tok);
  if (whole.empty()) return false;
  tok.remove_prefix(whole.size());
  if (tok.empty()) return true;
  if (tok.front() != '.') return false;
  tok.remove_prefix(1);
  return !tok.empty() && leading_digits(tok).size() == tok.size();
}

/// The latency-flags column of ftrace (4 characters, 5 since the migrate-disable column).
constexpr bool is_flags_token(std::string_view tok) noexcept {
  if (tok.size() < 3 || tok.size() > 6) return false;
  for (char c : tok) {
    if (c == ':' || c == '[' || c == ']') return false;
  }
  return true;
}

/// The next blank-separated token of `s` starting at `i` (after blanks); `i` moves past it.
constexpr std::string_view next_token(std::string_view s, std::size_t& i) noexcept {
  i = s.size() - trim_left(from(s, i)).size();
  std::size_t b = i;
  i = b + token_length(from(s, b));
  return {s.data() + b, i - b};
}

/// Splits the task column (everything before "[cpu]") into name and thread id.
[[gnu::always_inline]] inline bool parse_task_column(std::string_view t, trace_line& out) noexcept {
  t = trim_right(t);
  if (!t.empty() && t.back() == ')') {  // ftrace's optional TGID column: "(   1234)" / "(-------)"
    auto lp = t.rfind('(');
    if (lp == std::string_view::npos) return false;
    t = trim_right(t.substr(0, lp));
    out.tgid_column = true;
  }
  std::size_t n = t.size();
  while (n > 0 && is_digit(t[n - 1])) --n;
  if (n == t.size()) return false;
  std::uint64_t tid = 0;
  if (!parse_dec(from(t, n), tid) || tid > 0xffffffffu) return false;
  out.tid = static_cast<std::uint32_t>(tid);
  if (n == 0) return false;
  char sep = t[n - 1];
  if (sep == '-') {
    out.form = line_form::comm_dash_tid;
    out.comm = trim_left(first(t, n - 1));
    return true;
  }
  if (sep == '/') {  // perf's "pid/tid"
    std::size_t m = n - 1;
    while (m > 0 && is_digit(t[m - 1])) --m;
    if (m == n - 1 || (m > 0 && !is_blank(t[m - 1]))) return false;
    n = m;
    sep = n > 0 ? t[n - 1] : ' ';
    if (n == 0) return false;
  }
  if (!is_blank(sep)) return false;
  out.form = line_form::comm_space_tid;
  out.comm = trim(t.substr(0, n));
  return !out.comm.empty();
}

/// Parses the common part of an event line. False for anything else (headers, comments,
/// function-graph output, lines without a CPU column).
inline bool parse_trace_line(std::string_view line, trace_line& out) noexcept {
  for (std::size_t lb = line.find('['); lb != std::string_view::npos; lb = line.find('[', lb + 1)) {
    auto cpu_digits = leading_digits(from(line, lb + 1));
    std::size_t rb = lb + 1 + cpu_digits.size();
    if (cpu_digits.empty() || rb >= line.size() || line[rb] != ']') continue;
    if (rb + 1 >= line.size() || !is_blank(line[rb + 1])) continue;
    std::size_t i = rb + 1;
    auto tok = next_token(line, i);
    bool flags = false;
    if (!is_timestamp(tok)) {
      if (!is_flags_token(tok)) continue;
      flags = true;
      tok = next_token(line, i);
      if (!is_timestamp(tok)) continue;
    }
    trace_line r{};
    std::uint64_t cpu = 0;
    if (!parse_dec(cpu_digits, cpu) || cpu > 0xffffu) return false;
    r.cpu = static_cast<std::uint32_t>(cpu);
    r.flags_column = flags;
    r.time = first(tok, tok.size() - 1);
    if (!parse_task_column(first(line, lb), r)) return false;
    // The event name: up to the first ':' followed by a blank or the end of the line, with no
    // blank before it; a ':' inside it splits perf's "system:event". One pass over the name.
    auto rest = trim_left(from(line, i));
    std::size_t colon = 0;
    std::size_t sc = std::string_view::npos;
    for (;; ++colon) {
      // Letters and '_' (the bytes above ':') are neither a ':' nor a blank: skipped first.
      while (colon < rest.size() && rest[colon] > ':') ++colon;
      if (colon == rest.size()) return false;
      const char c = rest[colon];
      if (c == ':') {
        if (colon + 1 == rest.size() || is_blank(rest[colon + 1])) break;
        if (sc == std::string_view::npos) sc = colon;
      } else if (is_blank(c)) {
        return false;
      }
    }
    if (colon == 0) return false;
    if (sc != std::string_view::npos) {
      r.system = first(rest, sc);
      r.event = {rest.data() + sc + 1, colon - sc - 1};
    } else {
      r.event = first(rest, colon);
    }
    r.payload = trim(from(rest, colon + 1));
    out = r;
    return true;
  }
  return false;
}

/// A timestamp ("<seconds>[.<fraction>]") as nanoseconds (fraction digits past nine are
/// dropped; the seconds saturate), for ordering the records of one CPU.
constexpr std::uint64_t timestamp_ns(std::string_view t) noexcept {
  std::uint64_t sec = 0;
  std::size_t i = 0;
  for (; i < t.size() && t[i] >= '0' && t[i] <= '9'; ++i) {
    if (sec < 18'000'000'000ULL) sec = sec * 10 + static_cast<std::uint64_t>(t[i] - '0');
  }
  std::uint64_t frac = 0;
  std::size_t digits = 0;
  if (i < t.size() && t[i] == '.') {
    // Digits past the ninth change nothing: the loop stops there.
    for (++i; digits < 9 && i < t.size() && t[i] >= '0' && t[i] <= '9'; ++i) {
      frac = frac * 10 + static_cast<std::uint64_t>(t[i] - '0'), ++digits;
    }
  }
  for (; digits < 9; ++digits) frac *= 10;
  return sec * 1'000'000'000ULL + frac;
}

/// The CPU of a line that could not be parsed, where it still shows one: the first "[<digits>]"
/// followed by a blank or the end of the line.
inline bool readable_cpu(std::string_view line, std::uint32_t& cpu) noexcept {
  for (std::size_t lb = line.find('['); lb != std::string_view::npos; lb = line.find('[', lb + 1)) {
    auto d = leading_digits(line.substr(lb + 1));
    const std::size_t rb = lb + 1 + d.size();
    if (d.empty() || d.size() > 5 || rb >= line.size() || line[rb] != ']') continue;
    if (rb + 1 < line.size() && !is_blank(line[rb + 1])) continue;
    std::uint64_t c = 0;
    if (!parse_dec(d, c) || c > 0xffffu) continue;
    cpu = static_cast<std::uint32_t>(c);
    return true;
  }
  return false;
}

/// A line that reports lost events on one CPU: ftrace's and trace-cmd's
/// "CPU:3 [LOST 12 EVENTS]", trace-cmd's "CPU:3 [12 EVENTS DROPPED]", and ftrace's
/// "##### CPU 3 buffer started ####" (the events before it on that CPU were overwritten).
inline bool parse_lost_line(std::string_view line, std::uint32_t& cpu) noexcept {
  line = trim(line);
  std::uint64_t c = 0;
  if (starts_with(line, "CPU:")) {
    auto d = leading_digits(line.substr(4));
    auto tail = line.substr(4 + d.size());
    bool lost = find_key(tail, "LOST") != std::string_view::npos ||
                find_key(tail, "DROPPED") != std::string_view::npos;
    if (!lost || !parse_dec(d, c)) return false;
  } else if (starts_with(line, "#####") &&
             find_key(line, "buffer started") != std::string_view::npos) {
    auto at = find_key(line, "CPU ");
    if (at == std::string_view::npos || !parse_dec(leading_digits(line.substr(at + 4)), c)) {
      return false;
    }
  } else {
    return false;
  }
  if (c > 0xffffu) return false;
  cpu = static_cast<std::uint32_t>(c);
  return true;
}

// ---- payloads ------------------------------------------------------------------------------

/// kvm:kvm_entry. Kernel: "vcpu 0" (before v5.7), "vcpu 0, rip 0xffffffff81000000",
/// "vcpu 0, rip 0x...[immediate exit]" (v6.9+); plugin: "vcpu 0 rip 0x... [func+0x12]".
struct kvm_entry_payload {
  std::int64_t vcpu = -1;
  bool immediate_exit = false;
};

inline bool parse_kvm_entry(std::string_view p, kvm_entry_payload& out) noexcept {
  out = {};
  bool any = false;
  if (starts_with(p, "vcpu ")) {
    std::uint64_t v = 0;
    if (!parse_dec(leading_digits(p.substr(5)), v)) return false;
    out.vcpu = static_cast<std::int64_t>(v);
    any = true;
  }
  if (auto r = find_key(p, "rip 0x"); r != std::string_view::npos) {
    any = true;
  }
  out.immediate_exit = find_key(p, "[immediate exit]") != std::string_view::npos;
  return any;
}

/// kvm:kvm_exit, every historical payload:
///   "reason EXTERNAL_INTERRUPT rip 0x... info 0 800000ec"                     (to v5.6)
///   "vcpu 1 reason HLT rip 0x... info 0 0"                                     (v5.7 - v5.9)
///   "vcpu 1 reason EPT_VIOLATION rip 0x... info1 0x... info2 0x... intr_info 0x... error_code
///   0x..." "reason EPT_MISCONFIG rip 0x... [func+0x..] info 0 0"                      (plugin, no
///   vcpu)
/// VMX reasons are upper case, possibly followed by flags ("FAILED_VMENTRY"); SVM reasons are
/// lower case in the kernel's form ("npf", "hlt") and "EXIT_NPF" in the plugin's.
struct kvm_exit_payload {
  std::int64_t vcpu = -1;
  std::string_view reason;      ///< reason text, flags included
  bool svm = false;             ///< the reason is one of SVM's names
  bool failed_vmentry = false;  ///< VMX reported a failed VM entry
};

inline bool parse_kvm_exit(std::string_view p, kvm_exit_payload& out) noexcept {
  out = {};
  if (starts_with(p, "vcpu ")) {
    std::uint64_t v = 0;
    auto d = leading_digits(p.substr(5));
    if (!parse_dec(d, v)) return false;
    out.vcpu = static_cast<std::int64_t>(v);
    p = trim_left(p.substr(5 + d.size()));
  }
  if (!starts_with(p, "reason ")) return false;
  p.remove_prefix(7);
  auto end = find_key(p, " rip ");
  if (end == std::string_view::npos) end = find_key(p, " info");
  out.reason = trim(p.substr(0, end));
  if (out.reason.empty()) return false;
  out.svm = is_lower(out.reason.front()) || starts_with(out.reason, "EXIT_");
  out.failed_vmentry = find_key(out.reason, "FAILED_VMENTRY") != std::string_view::npos;
  return true;
}

/// kvm:kvm_userspace_exit: "reason KVM_EXIT_MMIO (6)", "reason restart (4)" (the run was
/// interrupted by a signal: -EINTR), "reason error (14)" (any other errno), or an unnamed
/// reason printed as a number.
struct kvm_userspace_exit_payload {
  std::string_view reason;
  std::uint64_t code = 0;
};

inline bool parse_kvm_userspace_exit(std::string_view p, kvm_userspace_exit_payload& out) noexcept {
  out = {};
  if (!starts_with(p, "reason ")) return false;
  p = trim(p.substr(7));
  if (p.empty() || p.back() != ')') return false;
  auto lp = p.rfind('(');
  if (lp == std::string_view::npos) return false;
  if (!parse_dec(p.substr(lp + 1, p.size() - lp - 2), out.code)) return false;
  out.reason = trim(p.substr(0, lp));
  return !out.reason.empty();
}

/// kvm:kvm_fpu: "load" or "unload". Sets `load`.
inline bool parse_kvm_fpu(std::string_view p, bool& load) noexcept {
  if (p == "load") {
    load = true;
    return true;
  }
  if (p == "unload") {
    load = false;
    return true;
  }
  return false;
}

/// sched:sched_switch. Kernel: "prev_comm=CPU 0/KVM prev_pid=4321 prev_prio=120 prev_state=S
/// ==> next_comm=swapper/2 next_pid=0 next_prio=120"; plugin: "CPU 0/KVM:4321 [120] S ==>
/// swapper/2:0 [120]".
struct sched_switch_payload {
  std::string_view prev_comm;
  std::uint32_t prev_tid = 0;
  std::string_view prev_state;
  std::string_view next_comm;
  std::uint32_t next_tid = 0;
};

/// "comm:tid" with the tid after the last ':' (names like "kworker/1:0" hold colons).
inline bool split_comm_colon_tid(std::string_view s, std::string_view& comm,
                                 std::uint32_t& tid) noexcept {
  s = trim(s);
  auto c = s.rfind(':');
  if (c == std::string_view::npos) return false;
  std::uint64_t v = 0;
  if (!parse_dec(s.substr(c + 1), v) || v > 0xffffffffu) return false;
  comm = s.substr(0, c);
  tid = static_cast<std::uint32_t>(v);
  return true;
}

inline bool parse_sched_switch(std::string_view p, sched_switch_payload& out) noexcept {
  out = {};
  auto arrow = find_key(p, " ==> ");
  if (arrow == std::string_view::npos) return false;
  auto left = p.substr(0, arrow);
  auto right = trim(p.substr(arrow + 5));
  std::uint64_t v = 0;
  if (starts_with(left, "prev_comm=")) {
    auto pp = rfind_key(left, " prev_pid=");
    if (pp == std::string_view::npos || pp < 10) return false;
    out.prev_comm = left.substr(10, pp - 10);
    if (!parse_dec(leading_digits(left.substr(pp + 10)), v) || v > 0xffffffffu) return false;
    out.prev_tid = static_cast<std::uint32_t>(v);
    if (auto ps = rfind_key(left, " prev_state="); ps != std::string_view::npos) {
      out.prev_state = trim(left.substr(ps + 12));
    }
    if (!starts_with(right, "next_comm=")) return false;
    auto np = rfind_key(right, " next_pid=");
    if (np == std::string_view::npos || np < 10) return false;
    out.next_comm = right.substr(10, np - 10);
    if (!parse_dec(leading_digits(right.substr(np + 10)), v) || v > 0xffffffffu) return false;
    out.next_tid = static_cast<std::uint32_t>(v);
    return true;
  }
  // Plugin form. Left: "comm:tid [prio] STATE"; right: "comm:tid [prio]".
  left = trim(left);
  auto sp = left.rfind(' ');
  if (sp == std::string_view::npos) return false;
  out.prev_state = left.substr(sp + 1);
  left = trim_right(left.substr(0, sp));
  if (!left.empty() && left.back() == ']') {
    auto lb = rfind_key(left, " [");
    if (lb == std::string_view::npos) return false;
    left = left.substr(0, lb);
  }
  if (!split_comm_colon_tid(left, out.prev_comm, out.prev_tid)) return false;
  if (!right.empty() && right.back() == ']') {
    auto lb = rfind_key(right, " [");
    if (lb == std::string_view::npos) return false;
    right = right.substr(0, lb);
  }
  return split_comm_colon_tid(right, out.next_comm, out.next_tid);
}

/// sched:sched_migrate_task: "comm=CPU 1/KVM pid=4322 prio=120 orig_cpu=1 dest_cpu=3".
struct sched_migrate_payload {
  std::string_view comm;
  std::uint32_t tid = 0;
  std::uint32_t orig_cpu = 0;
  std::uint32_t dest_cpu = 0;
};

inline bool parse_sched_migrate(std::string_view p, sched_migrate_payload& out) noexcept {
  out = {};
  if (!starts_with(p, "comm=")) return false;
  auto pp = rfind_key(p, " pid=");
  if (pp == std::string_view::npos || pp < 5) return false;
  out.comm = p.substr(5, pp - 5);
  std::uint64_t tid = 0, orig = 0, dest = 0;
  if (!parse_dec(leading_digits(p.substr(pp + 5)), tid) || tid > 0xffffffffu) return false;
  if (!field_after(p, "orig_cpu=", orig) || !field_after(p, "dest_cpu=", dest)) return false;
  if (orig > 0xffffu || dest > 0xffffu) return false;
  out.tid = static_cast<std::uint32_t>(tid);
  out.orig_cpu = static_cast<std::uint32_t>(orig);
  out.dest_cpu = static_cast<std::uint32_t>(dest);
  return true;
}

/// msr:write_msr / msr:read_msr: "c0000082, value ffffffff81e00080", " #GP" appended when the
/// access faulted.
struct msr_payload {
  std::uint32_t msr = 0;
  std::uint64_t value = 0;
  bool faulted = false;
};

inline bool parse_msr_access(std::string_view p, msr_payload& out) noexcept {
  out = {};
  auto comma = p.find(',');
  if (comma == std::string_view::npos) return false;
  std::uint64_t msr = 0;
  if (!parse_hex(trim(p.substr(0, comma)), msr) || msr > 0xffffffffu) return false;
  auto rest = trim(p.substr(comma + 1));
  if (!starts_with(rest, "value ")) return false;
  rest = trim(rest.substr(6));
  if (auto gp = find_key(rest, " #GP"); gp != std::string_view::npos) {
    out.faulted = true;
    rest = trim_right(rest.substr(0, gp));
  } else if (rest.size() >= 3 && rest.substr(rest.size() - 3) == "#GP") {
    out.faulted = true;
    rest = trim_right(rest.substr(0, rest.size() - 3));
  }
  out.msr = static_cast<std::uint32_t>(msr);
  return parse_hex(rest, out.value);
}

/// raw_syscalls:sys_exit: "NR 16 = 0"; syscalls:sys_exit_<name>: "0x0".
inline bool parse_sys_exit(std::string_view p) noexcept {
  if (starts_with(p, "NR ")) return find_key(p, " = ") != std::string_view::npos;
  std::uint64_t v = 0;
  return parse_hex(p, v) || (starts_with(p, "-") && parse_hex(p.substr(1), v));
}

}  // namespace uret::sim::detail
