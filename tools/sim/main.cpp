// SPDX-License-Identifier: MIT
// uret-sim - the simulator's command line: list the strategies and workloads, check a strategy
// with a model-based random run, replay an event script, generate a trace, measure speed.
//
//   uret-sim list
//   uret-sim check --strategy S [--events N] [--cpus C] [--seed X] [--workload W] [--no-checker]
//   uret-sim replay FILE [--strategy S]
//   uret-sim generate --workload W [--events N] [--cpus C] [--seed X] [-o FILE]
//   uret-sim speed [--workload W|all] [--strategy S|all] [--events N] [--cpus C]
//   uret-sim import ...              (when built with the trace importer)
//
// Exit status: 0 success (check, replay: no violation), 1 invariant violations, 2 usage or
// input error. See docs/simulator.md.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <optional>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "common/file_io.hpp"
#include "common/number.hpp"
#include "common/text_out.hpp"
#include "import_cmd.hpp"
#include "uret/sim/sim.hpp"

namespace {

namespace sim = uret::sim;

constexpr std::uint64_t default_events = 1'000'000;
constexpr std::uint32_t default_cpus = 8;
constexpr std::uint64_t default_seed = 1;

void usage(std::FILE* out) {
  fmt::print(out,
             "usage: uret-sim <command> [options]\n"
             "  list                          strategies and workloads\n"
             "  check --strategy S            model-based random run with every invariant checked\n"
             "        [--events N] [--cpus C] [--seed X] [--workload W]\n"
             "        [--no-checker] [--no-oracle] [--shrunk-out FILE] [--quiet]\n"
             "  replay FILE [--strategy S]    run an event script (`-` for stdin), print each\n"
             "        [--quiet]               event with its WRMSRs and violations (default\n"
             "                                strategy user-return)\n"
             "  --legacy sev-es-boot-host     (check, replay) put back the SEV-ES save-area bug\n"
             "  generate --workload W         write a generated trace in the replay format\n"
             "        [--events N] [--cpus C] [--seed X] [-o FILE]\n"
             "  speed [--workload W|all] [--strategy S|all] [--events N] [--cpus C] [--seed X]\n"
             "                                events/s with and without the checker\n"
             "  import ...                    convert a kernel trace to the replay format\n"
             "defaults: --events {} --cpus {} --seed {}; check runs the `stress` workload\n"
             "restricted to the vCPU kinds the strategy handles. Exit status: 0 ok, 1 invariant\n"
             "violations, 2 usage or input error.\n",
             default_events, default_cpus, default_seed);
}

[[noreturn]] void usage_error(const std::string& message) {
  fmt::print(stderr, "uret-sim: {}\n(uret-sim --help for usage)\n", message);
  std::exit(2);
}

std::string strategy_names() {
  std::string s;
  for (sim::strategy st : sim::all_strategies)
    s += (s.empty() ? "" : ", ") + std::string(to_string(st));
  return s;
}

std::string workload_names() {
  std::string s;
  for (const sim::named_workload& w : sim::workloads()) {
    s += (s.empty() ? "" : ", ") + std::string(w.params.name);
  }
  return s;
}

sim::strategy strategy_arg(std::string_view v) {
  const auto s = sim::parse_strategy(v);
  if (!s) usage_error(fmt::format("unknown strategy '{}'; valid: {}", v, strategy_names()));
  return *s;
}

const sim::workload_params& workload_arg(std::string_view v) {
  const sim::workload_params* w = sim::find_workload(v);
  if (w == nullptr)
    usage_error(fmt::format("unknown workload '{}'; valid: {}", v, workload_names()));
  return *w;
}

std::uint64_t number_arg(std::string_view opt, std::string_view v, std::uint64_t lo,
                         std::uint64_t hi) {
  const std::optional<std::uint64_t> n = uret_tools::parse_whole(v);  // 1000000, 1e6, 0x10
  if (!n || *n < lo || *n > hi) {
    usage_error(fmt::format("{} needs a whole number in {} .. {}, got '{}'", opt, lo, hi, v));
  }
  return *n;
}

// Options shared by the commands; each command rejects what it does not take.
struct options {
  std::vector<std::string> positional;
  std::optional<std::string> strategy;
  std::optional<std::string> workload;
  std::uint64_t events = default_events;
  std::uint32_t cpus = default_cpus;
  bool cpus_given = false;
  std::uint64_t seed = default_seed;
  bool checker = true;
  bool oracle = true;
  bool quiet = false;
  std::string out;
  std::string shrunk_out;
  sim::legacy_bugs legacy;
};

options parse(int argc, char** argv, std::string_view command, std::string_view allowed) {
  options o;
  auto takes = [&](std::string_view opt) {
    if (allowed.find(std::string(opt) + " ") == std::string_view::npos) {
      usage_error(fmt::format("{} does not take {}", command, opt));
    }
  };
  for (int i = 2; i < argc; ++i) {
    const std::string_view a = argv[i];
    auto value = [&]() -> std::string_view {
      if (i + 1 >= argc) usage_error(fmt::format("{} needs a value", a));
      return argv[++i];
    };
    if (a == "--help" || a == "-h") {
      usage(stdout);
      std::exit(0);
    } else if (a == "--strategy") {
      takes(a);
      o.strategy = std::string(value());
    } else if (a == "--workload") {
      takes(a);
      o.workload = std::string(value());
    } else if (a == "--events") {
      takes(a);
      o.events = number_arg(a, value(), 1, std::uint64_t{1} << 40);
    } else if (a == "--cpus") {
      takes(a);
      o.cpus = static_cast<std::uint32_t>(number_arg(a, value(), 1, sim::max_cpus));
      o.cpus_given = true;
    } else if (a == "--seed") {
      takes(a);
      o.seed = number_arg(a, value(), 0, ~std::uint64_t{0} >> 1);
    } else if (a == "--no-checker") {
      takes(a);
      o.checker = false;
    } else if (a == "--no-oracle") {
      takes(a);
      o.oracle = false;
    } else if (a == "--quiet") {
      takes(a);
      o.quiet = true;
    } else if (a == "-o") {
      takes(a);
      o.out = std::string(value());
    } else if (a == "--legacy") {
      takes(a);
      const std::string_view bug = value();
      if (bug != "sev-es-boot-host")
        usage_error(fmt::format("unknown legacy bug '{}'; valid: sev-es-boot-host", bug));
      o.legacy.sev_es_boot_host = true;
    } else if (a == "--shrunk-out") {
      takes(a);
      o.shrunk_out = std::string(value());
    } else if (a.size() > 1 && a[0] == '-') {
      usage_error(fmt::format("unknown option '{}' for {}", a, command));
    } else {
      o.positional.emplace_back(a);
    }
  }
  return o;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// ---- list -------------------------------------------------------------------------------------

int cmd_list(int argc, char** argv) {
  const options o = parse(argc, argv, "list", "");
  if (!o.positional.empty()) usage_error("list takes no arguments");
  fmt::print("strategies:\n");
  for (sim::strategy s : sim::all_strategies) {
    std::string kinds;
    for (auto k :
         {sim::task_kind::vmx, sim::task_kind::svm, sim::task_kind::sev_es, sim::task_kind::tdx}) {
      if (!sim::handles(s, k)) continue;
      if (!kinds.empty()) kinds += ',';  // appends only: GCC 12's -Wrestrict misfires on
      kinds += to_string(k);             // "literal" + std::string&& at -O2 and above
    }
    fmt::print("  {:<22} {}\n  {:<22} handles {}{}\n", to_string(s), describe(s), "", kinds,
               sim::expected_correct(s) ? "" : "; known wrong");
  }
  fmt::print("workloads (8 CPUs unless --cpus):\n");
  for (const sim::named_workload& w : sim::workloads()) {
    fmt::print("  {:<16} {}\n", w.params.name, w.description);
  }
  return 0;
}

// ---- check ------------------------------------------------------------------------------------

// The events of a generated run from `first` to `last` (inclusive), regenerated from the seed.
std::vector<sim::event> regenerate(const sim::workload_params& p, std::uint64_t seed,
                                   std::uint64_t first, std::uint64_t last) {
  sim::generator g{p, seed};
  for (std::uint64_t i = 0; i < first; ++i) static_cast<void>(g.next());
  std::vector<sim::event> out(static_cast<std::size_t>(last - first + 1));
  g.fill(out);
  return out;
}

int cmd_check(int argc, char** argv) {
  const options o = parse(argc, argv, "check",
                          "--strategy --workload --events --cpus --seed --no-checker "
                          "--no-oracle --quiet --shrunk-out --legacy ");
  if (!o.positional.empty())
    usage_error(fmt::format("check takes no argument '{}'", o.positional[0]));
  if (!o.strategy)
    usage_error(fmt::format("check needs --strategy S; valid: {}", strategy_names()));
  const sim::strategy strat = strategy_arg(*o.strategy);
  sim::workload_params params =
      o.workload ? workload_arg(*o.workload) : sim::stress_workload(strat, o.cpus);
  if (o.workload) params.cpus = o.cpus;
  const std::string workload(params.name);

  sim::run_options ro;
  ro.check = o.checker;
  ro.oracle = o.oracle;
  ro.legacy = o.legacy;
  sim::generator gen{params, o.seed};
  auto machine = std::make_unique<sim::simulator>(gen.setup(), strat, ro);

  const auto t0 = std::chrono::steady_clock::now();
  std::vector<sim::event> buf(std::min<std::uint64_t>(o.events, 1U << 16));
  std::uint64_t done = 0;
  auto last_progress = t0;
  while (done < o.events) {
    const std::size_t n =
        static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), o.events - done));
    gen.fill(std::span<sim::event>(buf.data(), n));
    machine->run(std::span<const sim::event>(buf.data(), n));
    done += n;
    if (!o.quiet && std::chrono::steady_clock::now() - last_progress > std::chrono::seconds(2)) {
      last_progress = std::chrono::steady_clock::now();
      fmt::print(stderr, "uret-sim check: {} / {} events ({:.0f}%)\n", done, o.events,
                 100.0 * static_cast<double>(done) / static_cast<double>(o.events));
    }
  }
  const double secs = seconds_since(t0);
  const sim::run_result& r = machine->result();

  if (r.violations != 0) {
    const sim::violation& first = r.reports.front();
    fmt::print(
        "uret-sim check: {} invariant violation(s) under {} (seed {}, workload {}, {} CPUs)\n",
        r.violations, to_string(strat), o.seed, workload, params.cpus);
    std::string counts;
    for (std::size_t i = 0; i < sim::invariant_count; ++i) {
      counts += fmt::format(" {}={}", to_string(static_cast<sim::invariant>(i)), r.by_invariant[i]);
    }
    fmt::print("by invariant:{}\n", counts);
    for (const sim::violation& v : r.reports) fmt::print("  {}\n", describe(v));
    fmt::print("first violated invariant: {} ({})\n", to_string(first.inv), describe(first.inv));

    // Shrink: the whole prefix when it is small enough, else the last 2^20 events before it.
    const std::uint64_t at = first.index;
    constexpr std::uint64_t whole_limit = std::uint64_t{1} << 23;
    constexpr std::uint64_t window = std::uint64_t{1} << 20;
    const std::uint64_t from = at < whole_limit ? 0 : at - window;
    sim::trace failing;
    failing.setup = gen.setup();
    failing.events = regenerate(params, o.seed, from, at);
    sim::run_options so;
    so.legacy = ro.legacy;
    const sim::trace small = sim::shrink(failing, strat, first.inv, so);
    sim::run_options verify;
    verify.max_reports = 1;
    const sim::run_result again = sim::run(small, strat, verify);
    if (again.by_invariant[static_cast<std::size_t>(first.inv)] != 0) {
      const std::string text = sim::write_replay(small);
      fmt::print(
          "shrunk to {} event(s) (from event {} .. {}) that still violate {}; replay with\n"
          "  uret-sim replay FILE --strategy {}\n---\n{}---\n",
          small.events.size(), from, at, to_string(first.inv), to_string(strat), text);
      if (!o.shrunk_out.empty() && !uret_tools::write_file(o.shrunk_out, text)) {
        fmt::print(stderr, "uret-sim: cannot write {}\n", o.shrunk_out);
      }
    } else {
      fmt::print(
          "could not reproduce the violation from a fresh machine on events {} .. {}; "
          "rerun with the same seed to see it\n",
          from, at);
    }
  } else if (!o.quiet) {
    fmt::print("uret-sim check: no violation under {} (seed {}, workload {}, {} CPUs{})\n",
               to_string(strat), o.seed, workload, params.cpus, o.checker ? "" : ", checker off");
  }
  fmt::print(
      "{{\"strategy\":{},\"workload\":{},\"events\":{},\"cpus\":{},\"seed\":{},"
      "\"checker\":{},\"violations\":{},\"wrmsr\":{},\"rdmsr\":{},\"faults\":{},"
      "\"oracle_wrmsr\":{},\"ignored\":{},\"seconds\":{:.3f},\"events_per_second\":{:.0f}}}\n",
      uret_tools::json_string(to_string(strat)), uret_tools::json_string(workload), r.events,
      params.cpus, o.seed, o.checker ? "true" : "false", r.violations, r.wrmsr, r.rdmsr, r.faults,
      o.oracle ? fmt::format("{}", r.oracle_wrmsr) : std::string("null"), r.ignored, secs,
      static_cast<double>(r.events) / std::max(secs, 1e-9));
  return r.violations == 0 ? 0 : 1;
}

// ---- replay -----------------------------------------------------------------------------------

int cmd_replay(int argc, char** argv) {
  const options o = parse(argc, argv, "replay", "--strategy --quiet --legacy ");
  if (o.positional.size() != 1) usage_error("replay needs exactly one FILE (or - for stdin)");
  const sim::strategy strat = o.strategy ? strategy_arg(*o.strategy) : sim::strategy::user_return;
  const std::optional<std::string> text = uret_tools::read_file(o.positional[0]);
  if (!text) usage_error(fmt::format("cannot read '{}'", o.positional[0]));
  const sim::parse_result p = sim::parse_replay(*text);
  if (!p.ok()) {
    for (const sim::parse_error& e : p.errors) {
      fmt::print(stderr, "{}:{}: {}\n", o.positional[0], e.line, e.message);
    }
    fmt::print(stderr, "uret-sim: {} error(s) in '{}'\n", p.errors.size(), o.positional[0]);
    return 2;
  }
  const sim::trace& t = p.trace;
  sim::run_options ro;
  ro.record_writes = true;
  ro.max_reports = 1000;
  ro.legacy = o.legacy;
  auto machine = std::make_unique<sim::simulator>(t.setup, strat, ro);
  std::size_t w = 0;
  std::size_t v = 0;
  std::size_t x = 0;
  std::uint64_t ignored_before = 0;
  for (std::size_t i = 0; i < t.events.size(); ++i) {
    machine->step(t.events[i]);
    const sim::run_result& r = machine->result();
    if (o.quiet) continue;
    std::string line = fmt::format("{:>6}  {:<28}", i, sim::format_event(t.events[i], t.setup));
    if (r.ignored != ignored_before) {
      line += "  (impossible here: ignored)";
      ignored_before = r.ignored;
    }
    for (; w < r.writes.size() && r.writes[w].event == i; ++w) {
      const sim::write_record& wr = r.writes[w];
      line += fmt::format("  {}{}={:#x}", wr.restore ? "restore " : "wrmsr ",
                          uret::msr_name(sim::slot_msrs[wr.slot]), wr.value);
    }
    fmt::print("{}\n", line);
    for (; x < t.expected.size() && t.expected[x].before_event <= i + 1; ++x) {
      const sim::expected_wrmsr& e = t.expected[x];
      fmt::print("        expect-wrmsr {} {}={:#x}\n", e.cpu, sim::msr_token(e.msr), e.value);
    }
    for (; v < r.reports.size() && r.reports[v].index == i; ++v) {
      fmt::print("        !! {}\n", describe(r.reports[v]));
    }
  }
  const sim::run_result& r = machine->result();
  // Compare with the expect-wrmsr annotations, CPU by CPU, in order.
  std::size_t mismatched_cpus = 0;
  if (!t.expected.empty()) {
    for (std::uint32_t c = 0; c < t.setup.cpus; ++c) {
      std::vector<std::pair<std::uint32_t, std::uint64_t>> want;
      std::vector<std::pair<std::uint32_t, std::uint64_t>> got;
      for (const sim::expected_wrmsr& e : t.expected) {
        if (e.cpu == c) want.emplace_back(e.msr.value, e.value);
      }
      for (const sim::write_record& wr : r.writes) {
        if (wr.cpu == c) got.emplace_back(sim::slot_msrs[wr.slot].value, wr.value);
      }
      if (want != got) ++mismatched_cpus;
    }
    fmt::print("expect-wrmsr: {} annotation(s); {} WRMSR(s) under {}; {}\n", t.expected.size(),
               r.wrmsr, to_string(strat),
               mismatched_cpus == 0 ? "every CPU's sequence matches"
                                    : fmt::format("{} CPU(s) differ", mismatched_cpus));
  }
  fmt::print(
      "{{\"strategy\":\"{}\",\"events\":{},\"ignored\":{},\"violations\":{},\"wrmsr\":{},"
      "\"rdmsr\":{},\"oracle_wrmsr\":{},\"expected_wrmsr\":{},\"expected_mismatch_cpus\":{}}}\n",
      to_string(strat), r.events, r.ignored, r.violations, r.wrmsr, r.rdmsr, r.oracle_wrmsr,
      t.expected.size(), mismatched_cpus);
  return r.violations == 0 ? 0 : 1;
}

// ---- generate ---------------------------------------------------------------------------------

int cmd_generate(int argc, char** argv) {
  const options o = parse(argc, argv, "generate", "--workload --events --cpus --seed -o ");
  if (!o.positional.empty())
    usage_error(fmt::format("generate takes no argument '{}'", o.positional[0]));
  if (!o.workload)
    usage_error(fmt::format("generate needs --workload W; valid: {}", workload_names()));
  sim::workload_params p = workload_arg(*o.workload);
  p.cpus = o.cpus;
  const sim::trace t = sim::generate(p, o.seed, o.events);
  const std::string text =
      fmt::format("# uret-sim generate --workload {} --events {} --cpus {} --seed {}\n", p.name,
                  o.events, p.cpus, o.seed) +
      sim::write_replay(t);
  if (o.out.empty() || o.out == "-") {
    std::fwrite(text.data(), 1, text.size(), stdout);
    return 0;
  }
  if (!uret_tools::write_file(o.out, text)) {
    fmt::print(stderr, "uret-sim: cannot write '{}'\n", o.out);
    return 2;
  }
  return 0;
}

// ---- speed ------------------------------------------------------------------------------------

double events_per_second(const sim::trace& t, sim::strategy s, bool check, int rounds) {
  sim::run_options ro;
  ro.check = check;
  double best = 0;
  for (int i = 0; i < rounds; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    const sim::run_result r = sim::run(t, s, ro);
    best = std::max(best, static_cast<double>(r.events) / std::max(seconds_since(t0), 1e-9));
  }
  return best;
}

int cmd_speed(int argc, char** argv) {
  options o = parse(argc, argv, "speed", "--workload --strategy --events --cpus --seed ");
  if (!o.positional.empty())
    usage_error(fmt::format("speed takes no argument '{}'", o.positional[0]));
  if (o.events == default_events) o.events = 2'000'000;
  std::vector<const sim::workload_params*> wls;
  if (!o.workload || *o.workload == "all") {
    for (const sim::named_workload& w : sim::workloads()) wls.push_back(&w.params);
  } else {
    wls.push_back(&workload_arg(*o.workload));
  }
  std::vector<sim::strategy> strats;
  if (!o.strategy || *o.strategy == "all") {
    strats.assign(std::begin(sim::all_strategies), std::end(sim::all_strategies));
  } else {
    strats.push_back(strategy_arg(*o.strategy));
  }
  fmt::print("{:<16} {:<22} {:>14} {:>14}   (events/s, best of 3 / 1 runs of {} events, {} CPUs)\n",
             "workload", "strategy", "no checker", "checker", o.events, o.cpus);
  for (const sim::workload_params* wp : wls) {
    sim::workload_params p = *wp;
    p.cpus = o.cpus;
    const sim::trace t = sim::generate(p, o.seed, o.events);
    for (sim::strategy s : strats) {
      const double fast = events_per_second(t, s, false, 3);
      const double checked = events_per_second(t, s, true, 1);
      fmt::print("{:<16} {:<22} {:>14.0f} {:>14.0f}\n", p.name, to_string(s), fast, checked);
      std::fflush(stdout);
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  const std::string_view cmd = argv[1];
  if (cmd == "--help" || cmd == "-h" || cmd == "help") {
    usage(stdout);
    return 0;
  }
  if (cmd == "list") return cmd_list(argc, argv);
  if (cmd == "check") return cmd_check(argc, argv);
  if (cmd == "replay") return cmd_replay(argc, argv);
  if (cmd == "generate") return cmd_generate(argc, argv);
  if (cmd == "speed") return cmd_speed(argc, argv);
  if (cmd == "import") return import_command(argc - 1, argv + 1);
  usage_error(fmt::format(
      "unknown command '{}'; commands: list, check, replay, generate, speed, import", cmd));
}
