// SPDX-License-Identifier: MIT
// tools/sim/import_cmd.cpp - `uret-sim import`: a kernel trace (ftrace text, trace-cmd report,
// perf script) to the replay format, with import statistics and, on request, the ground-truth
// check of the user-return strategy against the trace's msr:write_msr events.
#include "import_cmd.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include "common/trace_input.hpp"
#include "uret/sim/import.hpp"
#include "uret/sim/replay.hpp"

namespace {

constexpr const char* usage_text =
    "usage: uret-sim import FILE [-o OUT] [options]\n"
    "  FILE                    ftrace text (trace / trace_pipe), `trace-cmd report` or\n"
    "                          `perf script` output, or a trace-cmd trace.dat (read through\n"
    "                          libtracecmd when built with it); - reads standard input\n"
    "  -o, --output OUT        write the replay (uret-replay 1) to OUT instead of stdout\n"
    "  --stats                 detailed import statistics and timing on stderr\n"
    "  --check                 replay under the user-return strategy (KVM's) and compare its\n"
    "                          WRMSRs with the trace's msr:write_msr lines (ground truth) on\n"
    "                          stderr; exit status 1 unless the prediction is exact\n"
    "  --write-msr-recorded    msr:write_msr was recorded: a trace without user-return writes\n"
    "                          is ground truth of none (scripts/record-kvm-trace.sh says so in\n"
    "                          the trace itself)\n"
    "  --strategy NAME         the strategy --check replays (default user-return)\n"
    "  --no-switch-heuristic   a switch to a user task is not a probable return to user mode\n"
    "  --vcpu-kind KIND        vmx, svm, sev-es or tdx for every vCPU (default: svm when the\n"
    "                          exit reasons are SVM's, else vmx)\n"
    "  --kernel-thread PREFIX  task names starting with PREFIX are kernel threads (repeatable)\n"
    "  --differ MSR[,MSR...]   without msr:write_msr: MSRs whose guest value differs from the\n"
    "                          host's (default LSTAR,TSC_AUX)\n"
    "  --no-line-comments      no '# line N' comment after each event\n"
    "Unparsed lines are counted and the first few shown on stderr; they are never fatal.\n"
    "Exit status: 0 success (with --check: the prediction is exact), 1 --check found a\n"
    "difference, 2 usage or input error, 3 --check: no ground truth in the trace.\n";

int usage(const char* why) {
  std::fprintf(stderr, "uret-sim import: %s (uret-sim import --help for usage)\n", why);
  return 2;
}

void print_stats(const uret::sim::imported_trace& imp, std::size_t bytes) {
  const auto& st = imp.stats;
  const double secs = st.seconds > 0 ? st.seconds : 1e-9;
  std::fprintf(stderr, "  lines: %zu (%zu comment/header, %zu parsed, %zu ignored, %zu unparsed)\n",
               st.lines, st.comments, st.parsed, st.ignored, st.unparsed);
  std::fprintf(stderr, "  line forms: %zu comm-tid (ftrace, trace-cmd), %zu comm tid (perf)\n",
               st.dash_form_lines, st.perf_form_lines);
  std::fprintf(stderr,
               "  events: %zu (returns %zu from the trace, %zu probable; %zu synthesised; %zu "
               "dropped beyond %zu CPUs)\n",
               st.events, st.returns, st.probable_returns, st.synthetic, st.dropped_cpu_events,
               uret::sim::max_cpus);
  std::fprintf(stderr,
               "  msr:write_msr: %zu ground truth, %zu other MSRs, %zu faulted, %zu unclassified; "
               "value changes: %zu host, %zu guest\n",
               st.msr_writes, st.other_msr_writes, st.faulted_msr_writes,
               st.unclassified_msr_writes, st.host_value_changes, st.guest_value_changes);
  std::fprintf(stderr,
               "  returns: %zu shown by the restore write, %zu syscall exits preempted before "
               "user mode; %zu guest value changes; %zu records of the previous task after a "
               "switch; %zu CPU offline/online the kernel did not trace\n",
               st.confirmed_returns, st.interrupted_returns, st.guest_value_events,
               st.after_switch_records, st.untraced_hotplugs);
  for (const auto& w : imp.other_writes) {
    std::fprintf(stderr, "  not user-return traffic: line %zu, CPU %u, %s = 0x%llx: %s\n", w.line,
                 w.cpu, uret::sim::msr_token(w.msr).c_str(),
                 static_cast<unsigned long long>(w.value),
                 std::string(uret::sim::to_string(w.reason)).c_str());
  }
  for (const auto& g : imp.gaps) {
    std::fprintf(stderr, "  gap: CPU %u, line %zu: %s\n", g.cpu, g.line,
                 std::string(uret::sim::to_string(g.kind)).c_str());
  }
  std::fprintf(stderr, "  time: %.1f ms for %.2f MB (%.2f M lines/s, %.0f MB/s)\n", secs * 1e3,
               static_cast<double>(bytes) / 1e6, static_cast<double>(st.lines) / secs / 1e6,
               static_cast<double>(bytes) / secs / 1e6);
}

}  // namespace

int import_command(int argc, char** argv) {
  std::string file, out;
  bool stats = false;
  bool check = false;
  auto strategy = uret::sim::strategy::user_return;
  uret::sim::import_options opt;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    auto value = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    if (a == "-h" || a == "--help") {
      std::fputs(usage_text, stdout);
      return 0;
    } else if (a == "-o" || a == "--output") {
      const char* v = value();
      if (v == nullptr) return usage("-o needs a file name");
      out = v;
    } else if (a == "--stats") {
      stats = true;
    } else if (a == "--check") {
      check = true;
    } else if (a == "--strategy") {
      const char* v = value();
      const auto s = v != nullptr ? uret::sim::parse_strategy(v) : std::nullopt;
      if (!s) return usage("--strategy: unknown strategy (see uret-sim list)");
      strategy = *s;
    } else if (a == "--no-switch-heuristic") {
      opt.switch_to_user_task_returns = false;
    } else if (a == "--vcpu-kind") {
      const char* v = value();
      const auto k = v != nullptr ? uret::sim::parse_task_kind(v) : std::nullopt;
      if (!k || !uret::sim::is_vcpu(*k)) return usage("--vcpu-kind: vmx, svm, sev-es or tdx");
      opt.vcpu_kind = *k;
    } else if (a == "--kernel-thread") {
      const char* v = value();
      if (v == nullptr) return usage("--kernel-thread needs a prefix");
      opt.kernel_thread_prefixes.emplace_back(v);
    } else if (a == "--differ") {
      const char* v = value();
      if (v == nullptr) return usage("--differ needs a list of MSRs");
      opt.differing_msrs.clear();
      std::string_view list = v;
      while (!list.empty()) {
        const auto comma = list.find(',');
        const auto name = list.substr(0, comma);
        const auto m = uret::sim::parse_msr(name);
        if (!m) return usage("--differ: unknown MSR name");
        opt.differing_msrs.push_back(*m);
        list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
      }
    } else if (a == "--write-msr-recorded") {
      opt.write_msr_recorded = true;
    } else if (a == "--no-line-comments") {
      opt.line_comments = false;
    } else if (a.size() > 1 && a[0] == '-') {
      std::string why = "unknown option ";
      why += a;
      return usage(why.c_str());
    } else if (file.empty()) {
      file = std::string(a);
    } else {
      return usage("one trace file at a time");
    }
  }
  if (file.empty()) return usage("no trace file");

  // One pass over the input a piece at a time (a file mapped, a pipe read), the replay written as
  // it is made; for --check the events wait in a temporary file, read back for the run.
  opt.source = file == "-" ? std::string("standard input") : file;
  uret::sim::trace_stream stream(opt);
  std::size_t bytes = 0;
  if (const int rc = uret_tools::feed_trace("uret-sim import", file, stream, bytes)) return rc;
  std::FILE* dest = out.empty() ? stdout : std::fopen(out.c_str(), "wb");
  if (dest == nullptr) {
    std::fprintf(stderr, "uret-sim import: cannot write %s\n", out.c_str());
    return 2;
  }
  const auto imp =
      stream.finish(dest, check ? uret::sim::events_kept::in_file : uret::sim::events_kept::none);
  const bool written = (dest == stdout ? std::fflush(dest) == 0 : std::fclose(dest) == 0);
  if (!written || imp.io_failed) {
    std::fprintf(stderr, "uret-sim import: cannot write %s%s\n",
                 out.empty() ? "standard output" : out.c_str(),
                 written ? " (or a temporary file)" : "");
    return 2;
  }
  std::fputs(uret::sim::format_import_summary(imp, file).c_str(), stderr);
  if (stats) print_stats(imp, bytes);
  if (!check) return 0;
  if (!imp.has_ground_truth()) {
    std::fprintf(
        stderr,
        "uret-sim import: --check: no ground truth: the trace has no msr:write_msr of a "
        "user-return MSR (record it: see docs/traces.md; --write-msr-recorded if it was)\n");
    return 3;
  }
  const auto gt = uret::sim::check_ground_truth(imp, strategy);
  if (!gt.read_ok) {
    std::fprintf(stderr, "uret-sim import: --check: cannot read back a temporary file\n");
    return 2;
  }
  std::fputs(gt.block.c_str(), stderr);
  if (gt.run.violations != 0) {
    std::fprintf(stderr, "  (%s: %llu invariant violations in this run)\n",
                 std::string(uret::sim::to_string(strategy)).c_str(),
                 static_cast<unsigned long long>(gt.run.violations));
  }
  return gt.comparison.exact() ? 0 : 1;
}
