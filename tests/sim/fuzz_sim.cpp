// SPDX-License-Identifier: MIT
// libFuzzer target: bytes -> a machine and an event sequence -> every strategy with the checker.
// A strategy expected correct that violates an invariant on a vCPU kind it handles, a strategy
// that beats the oracle, or a replay round trip that changes the trace, traps.
//
// Decoding (every byte string is a valid input; missing bytes read as 0):
//   byte 0        CPUs = 1 + b % 4
//   byte 1        tasks = 1 + b % 6, then per task one byte: kind = b % 6 (vmx svm sev-es tdx user
//                 kernel), CPU = b / 6 % CPUs; per vCPU one more byte choosing its guest values
//   then pairs    (b, c): CPU = b / 16 % CPUs; b % 16 picks the event, c its argument
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

#include "uret/sim/replay.hpp"
#include "uret/sim/simulator.hpp"

namespace {

namespace sim = uret::sim;

struct reader {
  const std::uint8_t* p;
  std::size_t n;
  std::uint8_t next() noexcept {
    if (n == 0) return 0;
    --n;
    return *p++;
  }
};

sim::trace decode(const std::uint8_t* data, std::size_t size) {
  reader r{data, size};
  sim::trace t;
  t.setup = sim::make_setup(1U + r.next() % 4U);
  const std::uint32_t cpus = t.setup.cpus;
  const unsigned ntasks = 1U + r.next() % 6U;
  constexpr sim::task_kind kinds[] = {sim::task_kind::vmx,    sim::task_kind::svm,
                                      sim::task_kind::sev_es, sim::task_kind::tdx,
                                      sim::task_kind::user,   sim::task_kind::kernel};
  for (unsigned i = 0; i < ntasks; ++i) {
    const std::uint8_t b = r.next();
    const std::uint32_t id =
        sim::add_task(t.setup, "t" + std::to_string(i), kinds[b % 6], b / 6U % cpus);
    if (!sim::is_vcpu(t.setup.tasks[id].kind)) continue;
    const std::uint8_t g = r.next();
    for (unsigned s = 0; s < sim::msr_count; ++s) {
      std::uint64_t& v = t.setup.tasks[id].guest[s];
      switch ((g + s) % 4U) {
        case 1: v = sim::host_default(g / 4U % cpus, s); break;
        case 2: v = sim::tdx_post_exit(s); break;
        case 3: v ^= std::uint64_t{1} << (g % 64U); break;
        default: break;
      }
    }
  }
  while (r.n > 0) {
    const std::uint8_t b = r.next();
    const std::uint8_t c = r.next();
    const std::uint32_t cpu = b / 16U % cpus;
    switch (b % 16U) {
      case 0:
      case 1:
      case 2: t.events.push_back(sim::ev::enter(cpu)); break;
      case 3:
      case 4:
      case 5: t.events.push_back(sim::ev::exit(cpu, static_cast<sim::exit_outcome>(c % 3U))); break;
      case 6:
      case 7:
      case 8: {
        const unsigned task = c % (ntasks + 1U);
        t.events.push_back(sim::ev::switch_to(cpu, task == ntasks ? sim::idle_task : task));
        break;
      }
      case 9:
      case 10: t.events.push_back(sim::ev::user(cpu)); break;
      case 11: t.events.push_back(sim::ev::migrate(c % ntasks, cpu)); break;
      case 12:
        t.events.push_back(sim::ev::disable(cpu, static_cast<sim::disable_when>(c % 3U)));
        break;
      case 13:
        t.events.push_back((c & 1U) != 0 ? sim::ev::online(cpu) : sim::ev::offline(cpu));
        break;
      case 14: t.events.push_back(sim::ev::unknown(cpu)); break;
      default: t.events.push_back(sim::ev::fault(cpu, c % sim::msr_count)); break;
    }
  }
  return t;
}

[[noreturn]] void fail(const char* what, const sim::trace& t, sim::strategy s,
                       const sim::run_result& r) {
  std::fprintf(stderr, "sim fuzz: %s under %s\n", what, std::string(sim::to_string(s)).c_str());
  for (const sim::violation& v : r.reports)
    std::fprintf(stderr, "  %s\n", sim::describe(v).c_str());
  std::fprintf(stderr, "wrmsr %llu oracle %llu\n%s", static_cast<unsigned long long>(r.wrmsr),
               static_cast<unsigned long long>(r.oracle_wrmsr), sim::write_replay(t).c_str());
  __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const sim::trace t = decode(data, size);
  const sim::parse_result back = sim::parse_replay(sim::write_replay(t));
  if (!back.ok() || back.trace.events != t.events) {
    std::fprintf(stderr, "sim fuzz: replay round trip changed the trace\n");
    __builtin_trap();
  }
  for (sim::strategy s : sim::all_strategies) {
    const sim::run_result r = sim::run(t, s);
    bool handled = true;
    for (const sim::task& tk : t.setup.tasks) handled = handled && sim::handles(s, tk.kind);
    if (!handled || !sim::expected_correct(s)) continue;
    if (r.violations != 0) fail("invariant violated", t, s, r);
    if (r.wrmsr < r.oracle_wrmsr) fail("fewer WRMSRs than the oracle", t, s, r);
  }
  return 0;
}
