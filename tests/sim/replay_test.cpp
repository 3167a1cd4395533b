// SPDX-License-Identifier: MIT
// Tests of uret/sim/replay.hpp: the `uret-replay 1` format, both ways, and its errors.
#include <uret/sim/replay.hpp>
#include <uret/sim/simulator.hpp>

#include <uret/sim/workload.hpp>

#include <catch2/catch.hpp>

#include <string>

namespace sim = uret::sim;

namespace {

void require_equal(const sim::trace& a, const sim::trace& b) {
  REQUIRE(a.setup.cpus == b.setup.cpus);
  REQUIRE(a.setup.host == b.setup.host);
  REQUIRE(a.setup.tasks.size() == b.setup.tasks.size());
  for (std::size_t i = 0; i < a.setup.tasks.size(); ++i) {
    REQUIRE(a.setup.tasks[i].name == b.setup.tasks[i].name);
    REQUIRE(a.setup.tasks[i].kind == b.setup.tasks[i].kind);
    REQUIRE(a.setup.tasks[i].cpu == b.setup.tasks[i].cpu);
    if (sim::is_vcpu(a.setup.tasks[i].kind))
      REQUIRE(a.setup.tasks[i].guest == b.setup.tasks[i].guest);
  }
  REQUIRE(a.events == b.events);
  REQUIRE(a.expected.size() == b.expected.size());
  for (std::size_t i = 0; i < a.expected.size(); ++i) {
    REQUIRE(a.expected[i].before_event == b.expected[i].before_event);
    REQUIRE(a.expected[i].msr == b.expected[i].msr);
    REQUIRE(a.expected[i].value == b.expected[i].value);
  }
}

bool has_error(const sim::parse_result& p, std::size_t line, std::string_view text) {
  for (const sim::parse_error& e : p.errors) {
    if (e.line == line && e.message.find(text) != std::string::npos) return true;
  }
  return false;
}

}  // namespace

TEST_CASE("a hand-written replay", "[sim/replay]") {
  const sim::parse_result p = sim::parse_replay(
      "# a comment\n"
      "uret-replay 1\r\n"
      "cpus 2\n"
      "host * LSTAR=0xffffffff81000000\n"
      "host 1 TSC_AUX=0x1001   # node 1\n"
      "vcpu \"CPU 0/KVM\" vmx 1\n"
      "guest \"CPU 0/KVM\" TSC_AUX=7 MSR_EFER=0x1\n"
      "task qemu user 1\n"
      "vcpu td0 tdx\n"
      "expect-wrmsr 1 LSTAR 0x5\n"
      "switch 1 \"CPU 0/KVM\"\n"
      "enter 1\n"
      "exit 1\n"
      "exit 1 zero-step\n"
      "switch 1 idle\n"
      "migrate td0 1\n"
      "disable 0 mid-restore\n"
      "fault 0 0xC0000103\n"
      "user 1\n"
      "expect-wrmsr 1 KERNEL_GS_BASE 0\n");
  INFO((p.errors.empty() ? std::string() : p.errors[0].message));
  REQUIRE(p.ok());
  const sim::trace& t = p.trace;
  REQUIRE(t.setup.cpus == 2);
  REQUIRE(t.setup.host[0][sim::slots::lstar] == 0xffffffff81000000);
  REQUIRE(t.setup.host[1][sim::slots::tsc_aux] == 0x1001);
  REQUIRE(t.setup.host[0][sim::slots::tsc_aux] == 0);
  REQUIRE(t.setup.tasks.size() == 3);
  REQUIRE(t.setup.tasks[0].name == "CPU 0/KVM");
  REQUIRE(t.setup.tasks[0].cpu == 1);
  REQUIRE(t.setup.tasks[0].guest[sim::slots::tsc_aux] == 7);
  REQUIRE(t.setup.tasks[0].guest[sim::slots::efer] == 1);
  REQUIRE(t.setup.tasks[2].kind == sim::task_kind::tdx);
  REQUIRE(t.setup.tasks[2].guest[sim::slots::tsc_aux] == 1);  // second vCPU
  REQUIRE(t.events.size() == 9);
  REQUIRE(t.events[0] == sim::ev::switch_to(1, 0));
  REQUIRE(t.events[3] == sim::ev::exit(1, sim::exit_outcome::zero_step));
  REQUIRE(t.events[4] == sim::ev::switch_to(1, sim::idle_task));
  REQUIRE(t.events[5] == sim::ev::migrate(2, 1));
  REQUIRE(t.events[6] == sim::ev::disable(0, sim::disable_when::mid_restore));
  REQUIRE(t.events[7] == sim::ev::fault(0, sim::slots::tsc_aux));
  REQUIRE(t.expected.size() == 2);
  REQUIRE(t.expected[0].before_event == 0);
  REQUIRE(t.expected[1].before_event == 9);
  REQUIRE(t.expected[1].msr == uret::msrs::kernel_gs_base);
  require_equal(t, sim::parse_replay(sim::write_replay(t)).trace);
}

TEST_CASE("generated traces survive a round trip", "[sim/replay]") {
  for (const sim::named_workload& w : sim::workloads()) {
    INFO(w.params.name);
    sim::workload_params p = w.params;
    p.cpus = 3;
    const sim::trace t = sim::generate(p, 9, 3000);
    const std::string text = sim::write_replay(t);
    const sim::parse_result back = sim::parse_replay(text);
    REQUIRE(back.ok());
    require_equal(t, back.trace);
    REQUIRE(sim::write_replay(back.trace) == text);
  }
}

TEST_CASE("every bad line is reported with its number, the rest is kept", "[sim/replay]") {
  const sim::parse_result p = sim::parse_replay(
      "uret-replay 1\n"            // 1
      "switch 0 idle\n"            // 2: before cpus
      "cpus 2\n"                   // 3
      "cpus 3\n"                   // 4: twice
      "vcpu a vmx 5\n"             // 5: CPU out of range
      "vcpu a kvm\n"               // 6: bad kind
      "vcpu b vmx\n"               // 7: ok
      "task b user\n"              // 8: name taken
      "task idle kernel\n"         // 9: reserved
      "guest b FOO=1\n"            // 10: unknown MSR
      "guest b LSTAR=zz\n"         // 11: bad value
      "guest nobody LSTAR=1\n"     // 12: unknown task
      "enter 2\n"                  // 13: CPU out of range
      "exit 0 sideways\n"          // 14: bad outcome
      "disable 0 later\n"          // 15: bad timing
      "fault 0 KERNEL_GS_BASE\n"   // 16: not simulated
      "frobnicate 0\n"             // 17: unknown item
      "user\n"                     // 18: missing CPU
      "switch 0 \"unterminated\n"  // 19
      "enter 0\n");                // 20: ok
  for (const auto& [line, text] :
       std::initializer_list<std::pair<std::size_t, const char*>>{{2, "must come before"},
                                                                  {4, "twice"},
                                                                  {5, "below cpus"},
                                                                  {6, "vcpu kind"},
                                                                  {8, "taken"},
                                                                  {9, "taken"},
                                                                  {10, "not a simulated MSR"},
                                                                  {11, "bad value"},
                                                                  {12, "unknown task"},
                                                                  {13, "below cpus"},
                                                                  {14, "outcome"},
                                                                  {15, "timing"},
                                                                  {16, "not a simulated MSR"},
                                                                  {17, "unknown item"},
                                                                  {18, "usage"},
                                                                  {19, "quote"}}) {
    INFO(line << ": " << text);
    REQUIRE(has_error(p, line, text));
  }
  REQUIRE(p.errors.size() == 16);
  REQUIRE(p.trace.setup.tasks.size() == 1);
  REQUIRE(p.trace.events.size() == 1);
}

TEST_CASE("the first line must be the magic", "[sim/replay]") {
  REQUIRE(has_error(sim::parse_replay("cpus 1\n"), 1, "uret-replay 1"));
  REQUIRE(has_error(sim::parse_replay("uret-replay 2\n"), 1, "uret-replay 1"));
  REQUIRE_FALSE(sim::parse_replay("").ok());
  REQUIRE(sim::parse_replay("\n# only comments\nuret-replay 1\ncpus 1\n").ok());
}

TEST_CASE("MSR names, aliases and numbers", "[sim/replay]") {
  REQUIRE(sim::parse_msr("lstar") == uret::msrs::lstar);
  REQUIRE(sim::parse_msr("MSR_SYSCALL_MASK") == uret::msrs::syscall_mask);
  REQUIRE(sim::parse_msr("FMASK") == uret::msrs::syscall_mask);
  REQUIRE(sim::parse_msr("IA32_TSX_CTRL") == uret::msrs::tsx_ctrl);
  REQUIRE(sim::parse_msr("0x122") == uret::msrs::tsx_ctrl);
  REQUIRE(sim::parse_msr("290") == uret::msrs::tsx_ctrl);
  REQUIRE_FALSE(sim::parse_msr("0x").has_value());
  REQUIRE_FALSE(sim::parse_msr("LSTARX").has_value());
  REQUIRE(sim::msr_token(uret::msrs::tsc_aux) == "TSC_AUX");
  REQUIRE(sim::msr_token(uret::msr_index{0x10}) == "0x10");
}

TEST_CASE("format_event writes one replay line", "[sim/replay]") {
  sim::setup s = sim::make_setup(1);
  sim::add_task(s, "CPU 0/KVM", sim::task_kind::vmx, 0);
  REQUIRE(sim::format_event(sim::ev::switch_to(0, 0), s) == "switch 0 \"CPU 0/KVM\"");
  REQUIRE(sim::format_event(sim::ev::exit(0), s) == "exit 0");
  REQUIRE(sim::format_event(sim::ev::exit(0, sim::exit_outcome::early_fail), s) ==
          "exit 0 early-fail");
  REQUIRE(sim::format_event(sim::ev::disable(0, sim::disable_when::mid_write), s) ==
          "disable 0 mid-write");
  REQUIRE(sim::format_event(sim::ev::fault(0, sim::slots::efer), s) == "fault 0 EFER");
  REQUIRE(sim::format_event(sim::ev::migrate(0, 0), s) == "migrate \"CPU 0/KVM\" 0");
}

TEST_CASE("guest-msr: a guest value that changes mid-trace, per strategy", "[sim/replay]") {
  // One SVM vCPU on CPU 1 (host TSC_AUX 1, guest 5): entry, a guest WRMSR of TSC_AUX = 6 (KVM
  // writes it at once, svm_set_msr() -> kvm_set_user_return_msr()), entry, return to user.
  const char* text =
      "uret-replay 1\n"
      "cpus 2\n"
      "vcpu v svm 1\n"
      "guest v TSC_AUX=0x5\n"
      "switch 1 v\n"
      "enter 1\n"
      "exit 1\n"
      "guest-msr 1 TSC_AUX 0x6\n"
      "enter 1\n"
      "exit 1\n"
      "user 1\n"
      "unknown 0 LSTAR TSC_AUX\n";
  const auto p = sim::parse_replay(text);
  REQUIRE(p.ok());
  REQUIRE(p.trace.setup.values.size() == 1);
  CHECK(p.trace.setup.values[0] == 6);
  CHECK(p.trace.events[3].kind == sim::event_kind::guest_msr);
  CHECK(p.trace.events.back().arg == ((1U << sim::slots::lstar) | (1U << sim::slots::tsc_aux)));
  // The writer spells both back, and the round trip is exact.
  const std::string again = sim::write_replay(p.trace);
  CHECK(again.find("guest-msr 1 TSC_AUX 0x6") != std::string::npos);
  CHECK(again.find("unknown 0 LSTAR TSC_AUX") != std::string::npos);
  const auto q = sim::parse_replay(again);
  REQUIRE(q.ok());
  CHECK(q.trace.events == p.trace.events);
  CHECK(q.trace.setup.values == p.trace.setup.values);

  sim::run_options o;
  o.record_writes = true;
  // user-return: 5 before the first entry, 6 at once, nothing at the second entry, 1 at user.
  const auto ur = sim::run(p.trace, sim::strategy::user_return, o);
  CHECK(ur.ignored == 0);
  CHECK(ur.violations == 0);
  REQUIRE(ur.writes.size() == 3);
  CHECK(ur.writes[0].value == 5);
  CHECK(ur.writes[1].value == 6);
  CHECK(ur.writes[1].event == 3);  // at the guest-msr event itself
  CHECK(ur.writes[2].value == 1);
  // eager restores at every exit: the new value waits for the next entry (5, 1, 6, 1).
  const auto eg = sim::run(p.trace, sim::strategy::eager, o);
  CHECK(eg.violations == 0);
  REQUIRE(eg.writes.size() == 4);
  CHECK(eg.writes[2].value == 6);
  CHECK(eg.writes[2].event == 4);  // at the next entry
  // The oracle writes the new value once, before the entry that needs it: 5, 6, 1.
  CHECK(ur.oracle_wrmsr == 3);
  // Every strategy keeps its invariants on it.
  for (const auto s : sim::all_strategies) {
    INFO(sim::to_string(s));
    const auto r = sim::run(p.trace, s);
    CHECK(r.ignored == 0);
    CHECK(r.violations == 0);
  }
}

TEST_CASE("guest-msr is ignored where no vCPU runs or in guest mode", "[sim/replay]") {
  sim::trace t;
  t.setup = sim::make_setup(2);
  const auto v = sim::add_task(t.setup, "v", sim::task_kind::vmx, 0);
  const auto idx = sim::add_value(t.setup, 0x1234);
  t.events = {sim::ev::guest_msr(0, sim::slots::lstar, idx),  // idle runs
              sim::ev::switch_to(0, v),
              sim::ev::enter(0),
              sim::ev::guest_msr(0, sim::slots::lstar, idx),  // in guest mode
              sim::ev::exit(0),
              sim::ev::guest_msr(0, sim::slots::lstar, idx + 1)};  // no value
  const auto r = sim::run(t, sim::strategy::user_return);
  CHECK(r.ignored == 3);
  CHECK(r.violations == 0);
}
