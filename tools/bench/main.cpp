// SPDX-License-Identifier: MIT
// uret-bench - how many WRMSRs each user-return MSR restoration strategy costs, how far each is
// from the fewest possible (the oracle), and which ones are wrong, on reproducible workloads.
//
//   uret-bench                                  every workload, every strategy, tables on stdout
//   uret-bench --json rows.json --svg chart.svg also the rows as JSON and a chart
//   uret-bench --trace FILE                     every strategy on a recorded kernel trace
//   uret-bench --scaling                        simulator and slot-table throughput, 1 and 2
//                                               threads
//   uret-bench --help                           the options and their defaults
//
// See docs/benchmarks.md for the workloads, the cost model and the JSON schema.
#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "bench.hpp"
#include "common/file_io.hpp"
#include "common/number.hpp"
#include "common/trace_input.hpp"
#include "common/tracedat.hpp"
#include "common/version.hpp"
#include "report.hpp"
#include "scaling.hpp"
#include "uret/sim/import.hpp"
#include "uret/sim/sim.hpp"

namespace {

namespace sim = uret::sim;
using uret_bench::row;

// The workloads of the benchmark, in table order (uret-sim's `stress` is for checking, not
// comparing, but --workload stress runs it too).
constexpr std::string_view default_workloads[] = {
    "exit-storm",  "user-exit-storm", "idle-bounce", "timeshare",
    "same-values", "tdx-clobber",     "tdx-flaky",   "mixed",
};

constexpr std::uint64_t default_events = 1'000'000;
constexpr std::uint64_t default_seed = 1;
// Each workload's trace is generated whole (8 bytes an event) before it runs: 800 MB at most.
constexpr std::uint64_t max_events = 100'000'000;
// Modelled cycles per MSR access: bounded so that every total stays a finite JSON number.
constexpr double max_cycles = 1e9;

struct cli {
  std::vector<std::string> workloads;
  std::vector<sim::strategy> strategies;
  std::uint64_t events = default_events;
  std::uint64_t seed = default_seed;
  std::optional<std::uint32_t> cpus;
  uret_bench::bench_options bench;
  std::string json_path;
  std::string csv_path;
  std::string svg_path;
  std::FILE* human = stdout;  // tables; stderr when an output file is standard output
  bool scaling = false;
  bool quiet = false;
  std::string trace_path;  // --trace: a recorded kernel trace instead of generated workloads
  sim::import_options import;
};

void usage(std::FILE* out) {
  fmt::print(
      out,
      "usage: uret-bench [options]\n"
      "  --workload W[,W...]   workloads (default: all {}; `list` lists them)\n"
      "  --strategy S[,S...]   strategies (default: all {}; `list` lists them)\n"
      "  --events N            events per workload trace (default {})\n"
      "  --seed X              generator seed (default {})\n"
      "  --cpus C              CPUs per machine (default: the workload's, 8)\n"
      "  --wrmsr-cycles X      modelled cycles per WRMSR (default {})\n"
      "  --rdmsr-cycles X      modelled cycles per RDMSR (default {})\n"
      "  --json FILE           write the rows as JSON (schema: docs/benchmarks.md); - for\n"
      "                        standard output (the tables then go to standard error)\n"
      "  --csv FILE            write the rows as CSV (the JSON's columns); - as for --json\n"
      "  --svg FILE            write a chart of WRMSR per 1000 events (log scale)\n"
      "  --no-timing           skip the timed second run (ns/event column is 0)\n"
      "  --scaling             print throughput at 1 and 2 threads and the per-CPU record size\n"
      "  --quiet               no tables; one summary line on stderr\n"
      "  --trace FILE          every strategy on a kernel trace (ftrace, trace-cmd report or\n"
      "                        perf script text; docs/traces.md), plus a ground-truth block\n"
      "                        when it has msr:write_msr events\n"
      "  --no-switch-heuristic (with --trace) a switch to another user task is not taken as\n"
      "                        a probable return to user mode\n"
      "  --version             the version\n"
      "Numbers: 1000000, 1e6 or 0x10; --events 1 .. {}, --seed 0 .. 2^63-1, cycles 0 .. 1e9.\n"
      "Exit status: 0 success (--trace: the user-return prediction is exact), 1 --trace: it is\n"
      "not, 2 usage or input error (--trace: no VM entries), 3 --trace: no ground truth.\n",
      std::size(default_workloads), std::size(sim::all_strategies), default_events, default_seed,
      uret_bench::bench_options{}.wrmsr_cycles, uret_bench::bench_options{}.rdmsr_cycles,
      max_events);
}

[[noreturn]] void fail(const std::string& message) {
  fmt::print(stderr, "uret-bench: {}\n", message);
  std::exit(2);
}

// A usage error: one line, with the way to the usage.
[[noreturn]] void usage_error(const std::string& message) {
  fail(message + " (uret-bench --help for usage)");
}

std::vector<std::string> split(std::string_view s) {
  std::vector<std::string> out;
  while (!s.empty()) {
    const auto comma = s.find(',');
    out.emplace_back(s.substr(0, comma));
    if (comma == std::string_view::npos) break;
    s.remove_prefix(comma + 1);
  }
  return out;
}

std::uint64_t parse_u64(std::string_view option, const char* text, std::uint64_t lo,
                        std::uint64_t hi, std::string_view why = {}) {
  const std::optional<std::uint64_t> v = uret_tools::parse_whole(text);  // 1000000, 1e6, 0x10
  if (!v || *v < lo || *v > hi) {
    usage_error(
        fmt::format("{} needs a whole number in {} .. {}{}, not '{}'", option, lo, hi, why, text));
  }
  return *v;
}

double parse_double(std::string_view option, const char* text) {
  const std::optional<double> v = uret_tools::parse_nonnegative(text);
  if (!v || *v > max_cycles) {
    usage_error(fmt::format("{} needs a number in 0 .. {:g}, not '{}'", option, max_cycles, text));
  }
  return *v;
}

cli parse(int argc, char** argv) {
  cli c;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    const auto value = [&]() -> const char* {
      if (i + 1 >= argc) usage_error(fmt::format("{} needs a value", a));
      return argv[++i];
    };
    if (a == "-h" || a == "--help") {
      usage(stdout);
      std::exit(0);
    } else if (a == "--workload") {
      const std::string_view v = value();
      if (v == "list") {
        for (const sim::named_workload& w : sim::workloads()) {
          fmt::print("{:<16} {}\n", w.params.name, w.description);
        }
        std::exit(0);
      }
      for (const std::string& w : split(v)) {
        if (sim::find_workload(w) == nullptr)
          usage_error(fmt::format("unknown workload '{}' (try --workload list)", w));
        c.workloads.push_back(w);
      }
    } else if (a == "--strategy") {
      const std::string_view v = value();
      if (v == "list") {
        for (const sim::strategy s : sim::all_strategies) {
          fmt::print("{:<22} {}\n", sim::to_string(s), sim::describe(s));
        }
        std::exit(0);
      }
      for (const std::string& s : split(v)) {
        const std::optional<sim::strategy> st = sim::parse_strategy(s);
        if (!st) usage_error(fmt::format("unknown strategy '{}' (try --strategy list)", s));
        c.strategies.push_back(*st);
      }
    } else if (a == "--version") {
      fmt::print("{}", uret_tools::version_line("uret-bench"));
      std::exit(0);
    } else if (a == "--events") {
      c.events = parse_u64(a, value(), 1, max_events,
                           " (each trace is generated in memory, 8 bytes an event)");
    } else if (a == "--seed") {
      c.seed = parse_u64(a, value(), 0, ~std::uint64_t{0} >> 1);
    } else if (a == "--cpus") {
      c.cpus = static_cast<std::uint32_t>(parse_u64(a, value(), 1, sim::max_cpus));
    } else if (a == "--wrmsr-cycles") {
      c.bench.wrmsr_cycles = parse_double(a, value());
    } else if (a == "--rdmsr-cycles") {
      c.bench.rdmsr_cycles = parse_double(a, value());
    } else if (a == "--json") {
      c.json_path = value();
    } else if (a == "--csv") {
      c.csv_path = value();
    } else if (a == "--svg") {
      c.svg_path = value();
    } else if (a == "--no-timing") {
      c.bench.timing = false;
    } else if (a == "--scaling") {
      c.scaling = true;
    } else if (a == "--quiet") {
      c.quiet = true;
    } else if (a == "--trace") {
      c.trace_path = value();
    } else if (a == "--no-switch-heuristic") {
      c.import.switch_to_user_task_returns = false;
    } else {
      usage_error(fmt::format("unknown option '{}'", a));
    }
  }
  // Output paths are checked now, not after every run.
  for (const std::string* path : {&c.json_path, &c.csv_path, &c.svg_path}) {
    if (path->empty()) continue;
    if (const auto why = uret_tools::unwritable(*path))
      fail(fmt::format("cannot write {}: {}", *path, *why));
    if (*path == "-") c.human = stderr;
  }
  if (c.workloads.empty()) {
    for (const std::string_view w : default_workloads) c.workloads.emplace_back(w);
  }
  if (c.strategies.empty())
    c.strategies.assign(std::begin(sim::all_strategies), std::end(sim::all_strategies));
  return c;
}

/// The progress line: silent for the first second, then one line on stderr, rewritten in place
/// on a terminal, else printed once per workload.
class progress_line {
 public:
  explicit progress_line(std::size_t total) : total_(total), tty_(isatty(STDERR_FILENO) != 0) {}

  void update(std::string_view workload, std::string_view strategy, std::size_t done) {
    const double s = elapsed();
    if (s < 1.0) return;
    const std::string line = fmt::format("uret-bench: [{}/{}] {} / {}  {:.0f} s", done + 1, total_,
                                         workload, strategy, s);
    if (tty_) {
      fmt::print(stderr, "\r{}\033[K", line);
      shown_ = true;
    } else if (workload != last_workload_) {
      fmt::print(stderr, "{}\n", line);
    }
    last_workload_ = std::string(workload);
  }
  void finish() {
    if (shown_) fmt::print(stderr, "\r\033[K");
    if (elapsed() >= 1.0)
      fmt::print(stderr, "uret-bench: {} runs in {:.1f} s\n", total_, elapsed());
  }
  void clear() {
    if (shown_) fmt::print(stderr, "\r\033[K");
    shown_ = false;
  }

 private:
  double elapsed() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  std::size_t total_;
  bool tty_;
  bool shown_ = false;
  std::string last_workload_;
};

const row* find(const std::vector<row>& rows, std::string_view w, std::string_view s) {
  for (const row& r : rows) {
    if (r.workload == w && r.strategy == s) return &r;
  }
  return nullptr;
}

/// The done-when claims, checked on this run's rows where the run has them. The same
/// checks run on the JSON in tools/bench/check_claims.cmake (CTest label `bench`).
std::string format_claims(const std::vector<row>& rows) {
  std::string out;
  const auto line = [&](bool ok, const std::string& what) {
    out += fmt::format("  {:<4} {}\n", ok ? "yes" : "NO", what);
  };
  if (const row* m = find(rows, "tdx-clobber", "tdx-may-clobber")) {
    line(m->wrmsr == m->oracle_wrmsr && m->violations == 0,
         fmt::format("tdx-clobber: tdx-may-clobber issues the oracle's WRMSRs ({} vs {}), {} "
                     "violations",
                     m->wrmsr, m->oracle_wrmsr, m->violations));
  }
  if (const row* m = find(rows, "tdx-flaky", "tdx-may-clobber")) {
    const double excess = m->ratio() - 1;
    line(excess <= 0.05 && m->violations == 0,
         fmt::format("tdx-flaky: tdx-may-clobber within 5% of the oracle ({:+.2f}%), {} violations",
                     100 * excess, m->violations));
    if (const row* b = find(rows, "tdx-flaky", "tdx-set-before-entry")) {
      const double q =
          b->wrmsr == 0 ? INFINITY : static_cast<double>(m->wrmsr) / static_cast<double>(b->wrmsr);
      line(q <= 0.55, fmt::format("tdx-flaky: tdx-may-clobber / tdx-set-before-entry = {:.3f} "
                                  "(claim: <= 0.55)",
                                  q));
    }
  }
  if (const row* u = find(rows, "tdx-flaky", "tdx-update-after-run")) {
    line(u->violations > 0,
         fmt::format("tdx-flaky: tdx-update-after-run is caught ({} violations)", u->violations));
  }
  const row* e = find(rows, "exit-storm", "eager");
  const row* l = find(rows, "exit-storm", "user-return");
  if (e != nullptr && l != nullptr) {
    const double q =
        l->wrmsr == 0 ? INFINITY : static_cast<double>(e->wrmsr) / static_cast<double>(l->wrmsr);
    line(q >= 100, fmt::format("exit-storm: eager / user-return = {:.1f} (claim: >= 100)", q));
  }
  return out.empty() ? out : "claims (docs/benchmarks.md):\n" + out;
}

void write_file(const std::string& path, const std::string& text) {
  if (!uret_tools::write_file(path, text)) fail(fmt::format("cannot write {}", path));
}

void write_outputs(const cli& c, const std::vector<row>& rows,
                   const std::vector<std::string>& workloads, const std::string& title) {
  if (!c.json_path.empty()) {
    write_file(c.json_path,
               uret_bench::format_json(rows, c.bench.wrmsr_cycles, c.bench.rdmsr_cycles));
  }
  if (!c.csv_path.empty()) {
    write_file(c.csv_path,
               uret_bench::format_csv(rows, c.bench.wrmsr_cycles, c.bench.rdmsr_cycles));
  }
  if (!c.svg_path.empty()) {
    std::vector<std::string> names;
    for (const sim::strategy s : c.strategies) names.emplace_back(sim::to_string(s));
    write_file(c.svg_path, uret_bench::format_svg(rows, workloads, names, title));
  }
}

// --quiet: what the run found, in one line on stderr, where the tables would have been.
void quiet_summary(const cli& c, const std::vector<row>& rows, std::string_view what) {
  std::size_t wrong = 0;
  for (const row& r : rows) wrong += r.violations != 0 ? 1 : 0;
  std::string outputs;
  for (const auto& [flag, path] : {std::pair<const char*, const std::string*>{"json", &c.json_path},
                                   {"csv", &c.csv_path},
                                   {"svg", &c.svg_path}}) {
    if (!path->empty()) outputs += fmt::format("{}{} {}", outputs.empty() ? "" : ", ", flag, *path);
  }
  fmt::print(stderr, "uret-bench: {} runs on {}, {} with invariant violations; {}\n", rows.size(),
             what, wrong,
             outputs.empty() ? std::string("no tables (--quiet) and no --json/--csv/--svg file")
                             : "rows written to " + outputs);
}

/// Who a strategy's WRMSRs on a trace were for: per CPU; per vCPU (the last vCPU thread that
/// ran on the CPU before the write: its guest values are what the write loads or replaces); per
/// exit reason (that of the last VM exit on the CPU before the write, as kvm:kvm_exit printed
/// it: the exit that sent the vCPU back to user space before a restore, or the one before the
/// re-entry that loads guest values).
struct breakdown {
  std::vector<std::uint64_t> by_cpu;
  std::vector<std::pair<std::string, std::uint64_t>> by_vcpu;  // vCPU task name, WRMSRs
  std::uint64_t no_vcpu = 0;  ///< writes on a CPU no vCPU had run on yet
  std::vector<std::pair<std::string, std::uint64_t>> by_exit_reason;  // reason, WRMSRs
  std::uint64_t no_exit_reason = 0;  ///< writes on a CPU with no exit (with a reason) yet
};

// One more run of `s` over the imported events, its writes counted as they are made (memory
// does not grow with the trace). Fails (exit 2) when the events cannot be read back.
breakdown break_down(const sim::imported_trace& imp, sim::strategy s) {
  const sim::setup& setup = imp.trace.setup;
  sim::run_options ro;
  ro.record_writes = true;
  ro.check = false;
  ro.oracle = false;
  breakdown b;
  b.by_cpu.assign(setup.cpus, 0);
  std::vector<std::uint64_t> per_task(setup.tasks.size(), 0);
  std::vector<std::uint64_t> per_reason(imp.exit_reasons.size(), 0);
  std::vector<std::uint32_t> last_vcpu(setup.cpus, sim::idle_task);
  std::vector<std::uint16_t> last_reason(setup.cpus, 0);
  bool ok = true;
  static_cast<void>(sim::run_with_writes(
      imp, s, ro,
      [&](std::span<const sim::write_record> writes, std::size_t, const sim::event& e,
          const sim::event_source& src) {
        if (e.cpu < setup.cpus) {
          if (e.kind == sim::event_kind::switch_to && e.task < setup.tasks.size() &&
              sim::is_vcpu(setup.tasks[e.task].kind)) {
            last_vcpu[e.cpu] = e.task;
          }
          if (e.kind == sim::event_kind::exit) last_reason[e.cpu] = src.exit_reason;
        }
        for (const auto& w : writes) {
          if (w.cpu >= setup.cpus) continue;
          ++b.by_cpu[w.cpu];
          if (last_vcpu[w.cpu] == sim::idle_task) {
            ++b.no_vcpu;
          } else {
            ++per_task[last_vcpu[w.cpu]];
          }
          const std::uint16_t r = last_reason[w.cpu];
          if (r == 0 || r >= per_reason.size()) {
            ++b.no_exit_reason;
          } else {
            ++per_reason[r];
          }
        }
      },
      &ok));
  if (!ok) fail("cannot read back the imported events (a temporary file)");
  for (std::size_t k = 0; k < per_task.size(); ++k) {
    if (sim::is_vcpu(setup.tasks[k].kind)) b.by_vcpu.emplace_back(setup.tasks[k].name, per_task[k]);
  }
  for (std::size_t k = 1; k < per_reason.size(); ++k) {
    if (per_reason[k] != 0) b.by_exit_reason.emplace_back(imp.exit_reasons[k], per_reason[k]);
  }
  return b;
}

std::string breakdown_json(const breakdown& b) {
  std::string cpus, vcpus, reasons;
  for (std::size_t i = 0; i < b.by_cpu.size(); ++i)
    cpus += fmt::format("{}\"{}\": {}", i == 0 ? "" : ", ", i, b.by_cpu[i]);
  for (std::size_t i = 0; i < b.by_vcpu.size(); ++i) {
    vcpus += fmt::format("{}{}: {}", i == 0 ? "" : ", ",
                         uret_tools::json_string(b.by_vcpu[i].first), b.by_vcpu[i].second);
  }
  for (std::size_t i = 0; i < b.by_exit_reason.size(); ++i) {
    reasons +=
        fmt::format("{}{}: {}", i == 0 ? "" : ", ",
                    uret_tools::json_string(b.by_exit_reason[i].first), b.by_exit_reason[i].second);
  }
  return fmt::format(
      ", \"wrmsr_by_cpu\": {{{}}}, \"wrmsr_by_vcpu\": {{{}}}, "
      "\"wrmsr_no_vcpu\": {}, \"wrmsr_by_exit_reason\": {{{}}}, \"wrmsr_no_exit_reason\": {}",
      cpus, vcpus, b.no_vcpu, reasons, b.no_exit_reason);
}

std::string breakdown_table(const std::vector<sim::strategy>& strategies,
                            const std::vector<breakdown>& bs) {
  std::string out =
      "WRMSRs by CPU, by vCPU (the last vCPU thread to run on the CPU) and by exit reason (of the "
      "last VM exit on the CPU)\n";
  for (std::size_t i = 0; i < bs.size(); ++i) {
    std::string cpus, vcpus, reasons;
    for (std::size_t k = 0; k < bs[i].by_cpu.size(); ++k) {
      if (bs[i].by_cpu[k] != 0) cpus += fmt::format(" cpu{}={}", k, bs[i].by_cpu[k]);
    }
    for (const auto& [name, n] : bs[i].by_vcpu) vcpus += fmt::format(" {}={}", name, n);
    if (bs[i].no_vcpu != 0) vcpus += fmt::format(" (no vCPU yet)={}", bs[i].no_vcpu);
    for (const auto& [name, n] : bs[i].by_exit_reason) reasons += fmt::format(" {}={}", name, n);
    if (bs[i].no_exit_reason != 0)
      reasons += fmt::format(" (no exit yet)={}", bs[i].no_exit_reason);
    out += fmt::format("  {:<22} CPUs:{}  vCPUs:{}  exits:{}\n", sim::to_string(strategies[i]),
                       cpus.empty() ? " none" : cpus, vcpus.empty() ? " none" : vcpus,
                       reasons.empty() ? " none" : reasons);
  }
  return out;
}

// --trace: import a recorded kernel trace, price every strategy on it, and where the trace
// carries msr:write_msr, compare the user-return strategy with what KVM really wrote.
int run_trace(cli c) {
  c.import.source = c.trace_path;
  // One pass over the trace text; the events wait in a temporary file that every strategy's run
  // reads back, so memory does not grow with the trace (nor do the text, records or replay).
  sim::trace_stream stream(c.import);
  std::size_t bytes = 0;
  if (const int rc = uret_tools::feed_trace("uret-bench", c.trace_path, stream, bytes)) return rc;
  std::FILE* discard = std::fopen("/dev/null", "wb");
  if (discard == nullptr) fail("cannot open /dev/null");
  const sim::imported_trace imp = stream.finish(discard, sim::events_kept::in_file);
  std::fclose(discard);
  if (imp.io_failed) fail("cannot write or read back a temporary file (is /tmp full?)");
  fmt::print(stderr, "{}", sim::format_import_summary(imp, c.trace_path));
  // No VM entry: nothing to price (the summary said so). Exit status 2: an input error.
  if (imp.stats.entries == 0 || imp.stats.events == 0) {
    fail(fmt::format("{}: no VM entries to price", c.trace_path));
  }
  const std::string w = "trace";
  const uret_bench::run_fn run_imported = [&imp](sim::strategy s, const sim::run_options& o) {
    bool ok = true;
    sim::run_result r = sim::run(imp, s, o, &ok);
    if (!ok) fail("cannot read back the imported events (a temporary file)");
    return r;
  };
  std::vector<row> rows = uret_bench::run_all_strategies(
      run_imported, imp.trace.setup.cpus, imp.stats.events, w, 0, c.strategies, c.bench, {});
  // The JSON names the trace and carries the ground-truth verdict and the breakdown.
  std::string verdict = "null";
  std::optional<sim::ground_truth_check> gt;
  if (imp.has_ground_truth()) {
    gt = sim::check_ground_truth(imp);
    if (!gt->read_ok) fail("cannot read back the imported events (a temporary file)");
    const auto& cmp = gt->comparison;
    verdict = fmt::format(
        "{{\"strategy\": \"user-return\", \"recorded\": {}, \"predicted\": {}, \"exact\": {}, "
        "\"unexplained\": {}}}",
        cmp.actual, cmp.predicted, cmp.exact() ? "true" : "false", cmp.unexplained());
  }
  std::vector<breakdown> bs;
  for (std::size_t i = 0; i < rows.size() && i < c.strategies.size(); ++i) {
    bs.push_back(break_down(imp, c.strategies[i]));
    rows[i].extra_json =
        fmt::format(", \"trace\": {}, \"ground_truth\": {}{}",
                    uret_tools::json_string(c.trace_path), verdict, breakdown_json(bs.back()));
  }
  if (c.quiet) quiet_summary(c, rows, "trace " + c.trace_path);
  if (!c.quiet) {
    uret_bench::table_heading h;
    h.workload = w;
    h.description = fmt::format("imported from {} ({} lines, {} gaps, {} unparsed)", c.trace_path,
                                imp.stats.lines, imp.stats.gaps, imp.stats.unparsed);
    h.events = imp.stats.events;
    h.cpus = imp.trace.setup.cpus;
    h.oracle_wrmsr = rows.empty() ? 0 : rows.front().oracle_wrmsr;
    fmt::print(c.human, "{}\n", uret_bench::format_table(h, rows));
    fmt::print(c.human, "{}\n", breakdown_table(c.strategies, bs));
  }
  // Exit status: 0 the user-return prediction is exact, 1 it is not (whatever the differences
  // are attributed to), 3 the trace has no ground truth (as `uret-sim import --check`).
  int status = 3;
  if (gt) {
    fmt::print(c.human, "{}", gt->block);
    status = gt->comparison.exact() ? 0 : 1;
  } else if (!c.quiet) {
    fmt::print(c.human,
               "no msr:write_msr events of user-return MSRs in the trace: no ground truth\n");
  }
  write_outputs(c, rows, {w}, fmt::format("uret-bench: WRMSRs by strategy on {}", c.trace_path));
  return status;
}

sim::workload_params params_for(const std::string& name, const cli& c) {
  sim::workload_params p = *sim::find_workload(name);
  if (c.cpus) p.cpus = *c.cpus;
  return p;
}

std::string load_average() {
  std::FILE* f = std::fopen("/proc/loadavg", "r");
  if (f == nullptr) return "unknown";
  char buf[64] = {};
  const bool ok = std::fgets(buf, sizeof buf, f) != nullptr;
  std::fclose(f);
  std::string_view v = ok ? std::string_view(buf) : std::string_view("unknown");
  return std::string(v.substr(0, v.find(' ', v.find(' ', v.find(' ') + 1) + 1)));
}

int run_scaling(const cli& c) {
  const std::string& w = c.workloads.size() == 1 ? c.workloads.front() : std::string("mixed");
  const sim::workload_params p = params_for(w, c);
  constexpr unsigned reps = 3;
  fmt::print(
      "scaling: workload {}, {} events per thread, {} CPUs per thread (each thread its own "
      "machine), strategy tdx-may-clobber, best of {}\n"
      "machine: {} hardware threads, load average {} (1, 5, 15 min)\n",
      w, uret_bench::group_digits(c.events), p.cpus, reps, std::thread::hardware_concurrency(),
      load_average());
  fmt::print("  {:<40} {:>11} {:>11} {:>8}   {:>11} {:>11} {:>6}\n", "", "1 thread", "2 threads",
             "speed-up", "1 thr/CPU-s", "2 thr/CPU-s", "ratio");
  const auto print = [](std::string_view what, uret_bench::throughput one,
                        uret_bench::throughput two) {
    fmt::print("  {:<40} {:>9.2f} M {:>9.2f} M {:>7.2f}x   {:>9.2f} M {:>9.2f} M {:>6.2f}\n", what,
               one.per_wall_second / 1e6, two.per_wall_second / 1e6,
               two.per_wall_second / one.per_wall_second, one.per_cpu_second / 1e6,
               two.per_cpu_second / 1e6, two.per_cpu_second / one.per_cpu_second);
  };
  for (const bool checked : {false, true}) {
    print(checked ? "simulator events/s, checker + oracle" : "simulator events/s, no checker",
          uret_bench::sim_events_per_second(p, c.events, c.seed, 1, checked, reps),
          uret_bench::sim_events_per_second(p, c.events, c.seed, 2, checked, reps));
  }
  const std::uint64_t rounds = std::max<std::uint64_t>(c.events / 8, 1000);
  print("one shared slot table, ops/s (set+fire)",
        uret_bench::table_ops_per_second(1, rounds, reps),
        uret_bench::table_ops_per_second(2, rounds, reps));
  fmt::print(
      "(speed-up: wall-clock, bounded by the cores this machine gives; ratio: throughput "
      "per CPU-second at 2 threads over 1 thread, 1.00 when the threads share nothing)\n");
  using table16 = uret::slot_table<uret::mock_msr, 16, 64>;
  using sim_table = sim::simulator::table_type;
  fmt::print(
      "per-CPU record of slot_table<mock_msr, 16 slots>: {} bytes = {} cache lines of 64 "
      "(goal: <= 5); the simulator's table: {} bytes\n",
      table16::per_cpu_bytes(), (table16::per_cpu_bytes() + 63) / 64, sim_table::per_cpu_bytes());
  return 0;
}

}  // namespace

int run_workloads(const cli& c) {
  if (!c.quiet) {
    fmt::print(c.human,
               "uret-bench: {} events per workload, seed {}; cost model: WRMSR {} cycles, RDMSR {} "
               "cycles\n(\"x oracle\": WRMSRs over the fewest possible; WRONG: the invariant "
               "checker caught the strategy; ns/event: one run without checker)\n\n",
               uret_bench::group_digits(c.events), c.seed, c.bench.wrmsr_cycles,
               c.bench.rdmsr_cycles);
  }
  std::vector<row> rows;
  progress_line progress{c.workloads.size() * c.strategies.size()};
  std::size_t done = 0;
  for (const std::string& w : c.workloads) {
    const sim::workload_params p = params_for(w, c);
    const sim::trace t = sim::generate(p, c.seed, c.events);
    const std::vector<row> got = uret_bench::run_all_strategies(
        t, w, c.seed, c.strategies, c.bench,
        [&](std::string_view s, std::size_t i, std::size_t) { progress.update(w, s, done + i); });
    done += c.strategies.size();
    rows.insert(rows.end(), got.begin(), got.end());
    if (!c.quiet) {
      progress.clear();
      uret_bench::table_heading h;
      h.workload = w;
      for (const sim::named_workload& nw : sim::workloads()) {
        if (nw.params.name == w) h.description = std::string(nw.description);
      }
      h.events = c.events;
      h.cpus = t.setup.cpus;
      h.seed = c.seed;
      h.oracle_wrmsr = got.empty() ? 0 : got.front().oracle_wrmsr;
      fmt::print(c.human, "{}\n", uret_bench::format_table(h, rows));
      std::fflush(c.human);
    }
  }
  progress.finish();
  if (!c.quiet) fmt::print(c.human, "{}", format_claims(rows));
  if (c.quiet) quiet_summary(c, rows, fmt::format("{} workload(s)", c.workloads.size()));

  write_outputs(c, rows, c.workloads,
                fmt::format("uret-bench: WRMSRs by restoration strategy "
                            "({} events per workload, seed {})",
                            uret_bench::group_digits(c.events), c.seed));
  return 0;
}

int main(int argc, char** argv) {
  try {
    const cli c = parse(argc, argv);
    if (c.scaling) return run_scaling(c);
    if (!c.trace_path.empty()) return run_trace(c);
    return run_workloads(c);
  } catch (const std::bad_alloc&) {
    fmt::print(stderr, "uret-bench: out of memory (fewer --events?)\n");
    return 2;
  }
}
