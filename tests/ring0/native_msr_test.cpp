// SPDX-License-Identifier: MIT
// tests/ring0/native_msr_test.cpp - the pieces of uret/backends/native_msr.hpp that run
// without ring 0: the exception-table entries and their look-up, the CPU checks, and the fault
// recovery itself. In user mode every RDMSR/WRMSR raises #GP, which Linux delivers as SIGSEGV;
// a SIGSEGV handler that does what a kernel's #GP handler does (look the RIP up, resume at the
// fixup) exercises the real recovery path, instruction for instruction, at CPL 3.
#define URET_NATIVE_MSR_CHECK_CPU 1  // this test checks the debug check, whatever NDEBUG says

#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>
#include <catch2/catch.hpp>
#include <csignal>
#include <cstdint>
#include <cstring>

#include "uret/backends/native_msr.hpp"

namespace {

using table_msr = uret::native_msr<uret::fault_policy::exception_table>;
using fatal_msr = uret::native_msr<uret::fault_policy::fatal>;

// A kernel's own safe accessors, wrapped as a policy: the concept admits it.
struct always_faults {
  static bool rdmsr(uret::msr_index, std::uint64_t&) noexcept { return false; }
  static bool wrmsr(uret::msr_index, std::uint64_t) noexcept { return false; }
};
struct not_noexcept {
  static bool rdmsr(uret::msr_index, std::uint64_t&) { return true; }
  static bool wrmsr(uret::msr_index, std::uint64_t) { return true; }
};

static_assert(uret::msr_backend<table_msr>);
static_assert(uret::msr_backend<fatal_msr>);
static_assert(uret::native_fault_policy<uret::fault_policy::exception_table>);
static_assert(uret::native_fault_policy<uret::fault_policy::fatal>);
static_assert(uret::native_fault_policy<always_faults>);
static_assert(!uret::native_fault_policy<not_noexcept>);
static_assert(!uret::native_fault_policy<int>);
// constinit-capable, as a kernel global must be.
constinit table_msr constinit_backend{4};

// What the kernel's #GP handler does, as a SIGSEGV handler.
volatile std::sig_atomic_t recovered = 0;
volatile std::uintptr_t last_fault_rip = 0;

void on_segv(int, siginfo_t*, void* raw) {
  auto* uc = static_cast<ucontext_t*>(raw);
  const auto rip = static_cast<std::uintptr_t>(uc->uc_mcontext.gregs[REG_RIP]);
  const std::uintptr_t fixup = uret::native_msr_fixup(rip);
  if (fixup == 0) {
    std::signal(SIGSEGV, SIG_DFL);  // not ours: returning re-executes and dies
    return;
  }
  last_fault_rip = rip;
  recovered = recovered + 1;
  uc->uc_mcontext.gregs[REG_RIP] = static_cast<greg_t>(fixup);
}

// Installs on_segv for the scope of one test.
class gp_handler_scope {
 public:
  gp_handler_scope() noexcept {
    struct sigaction sa {};
    sa.sa_sigaction = &on_segv;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &old_);
    recovered = 0;
  }
  ~gp_handler_scope() { sigaction(SIGSEGV, &old_, nullptr); }
  gp_handler_scope(const gp_handler_scope&) = delete;
  gp_handler_scope& operator=(const gp_handler_scope&) = delete;

 private:
  struct sigaction old_ {};
};

std::uint32_t hook_answer = 0;
uret::cpu_id fake_current_cpu() noexcept { return uret::cpu_id{hook_answer}; }

// Self-relative offset from `field` to `target`, as the assembler computes it.
std::int32_t rel(const std::int32_t& field, const void* target) {
  return static_cast<std::int32_t>(reinterpret_cast<std::intptr_t>(target) -
                                   reinterpret_cast<std::intptr_t>(&field));
}

bool is_msr_instruction(std::uintptr_t at) {
  unsigned char op[2];
  std::memcpy(op, reinterpret_cast<const void*>(at), 2);
  return op[0] == 0x0F && (op[1] == 0x32 || op[1] == 0x30);  // RDMSR, WRMSR
}

}  // namespace

TEST_CASE("search_extable maps an instruction address to its fixup", "[native_msr]") {
  static const unsigned char code[64] = {};
  static uret::extable_entry table[3];
  table[0].insn = rel(table[0].insn, code + 4);
  table[0].fixup = rel(table[0].fixup, code + 40);
  table[1].insn = rel(table[1].insn, code + 10);
  table[1].fixup = rel(table[1].fixup, code + 50);
  table[2].insn = rel(table[2].insn, code + 20);
  table[2].fixup = rel(table[2].fixup, code + 60);
  const auto at = [](std::size_t off) { return reinterpret_cast<std::uintptr_t>(code + off); };

  SECTION("self-relative fields decode to absolute addresses") {
    CHECK(uret::extable_insn(table[1]) == at(10));
    CHECK(uret::extable_fixup(table[1]) == at(50));
  }
  SECTION("a listed instruction gives its fixup") {
    CHECK(uret::search_extable(table, table + 3, at(4)) == at(40));
    CHECK(uret::search_extable(table, table + 3, at(20)) == at(60));
  }
  SECTION("any other address gives 0") {
    CHECK(uret::search_extable(table, table + 3, at(5)) == 0);
    CHECK(uret::search_extable(table, table + 3, at(40)) == 0);
    CHECK(uret::search_extable(table, table + 3, 0) == 0);
  }
  SECTION("an empty table finds nothing") {
    CHECK(uret::search_extable(table, table, at(4)) == 0);
    CHECK(uret::search_extable(nullptr, nullptr, at(4)) == 0);
  }
}

TEST_CASE("the linked uret_extable lists every RDMSR/WRMSR of the exception-table policy",
          "[native_msr]") {
  // This binary instantiates native_msr<exception_table> below, so the section exists.
  const uret::extable_entry* first = uret::native_extable_begin();
  const uret::extable_entry* last = uret::native_extable_end();
  REQUIRE(first != nullptr);
  REQUIRE(last > first);
  for (const uret::extable_entry* e = first; e != last; ++e) {
    const std::uintptr_t insn = uret::extable_insn(*e);
    const std::uintptr_t fixup = uret::extable_fixup(*e);
    CHECK(is_msr_instruction(insn));
    CHECK(fixup != insn);
    CHECK(uret::native_msr_fixup(insn) == fixup);
    CHECK(uret::native_msr_fixup(insn + 1) == 0);
  }
  CHECK(uret::native_msr_fixup(reinterpret_cast<std::uintptr_t>(&fake_current_cpu)) == 0);
}

TEST_CASE("a faulting RDMSR/WRMSR is recovered through the table as errc::msr_fault",
          "[native_msr]") {
  gp_handler_scope scope;
  table_msr msr{1};
  SECTION("read") {
    const uret::result<std::uint64_t> r = msr.read(uret::cpu_id{0}, uret::msrs::tsc_aux);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error() == uret::errc::msr_fault);
    CHECK(recovered == 1);
    CHECK(is_msr_instruction(last_fault_rip));
  }
  SECTION("write") {
    const uret::result<void> w = msr.write(uret::cpu_id{0}, uret::msr_index{0x6E1}, ~0ULL);
    REQUIRE_FALSE(w.has_value());
    CHECK(w.error() == uret::errc::msr_fault);
    CHECK(recovered == 1);
    CHECK(is_msr_instruction(last_fault_rip));
  }
  SECTION("many faults in a row, each recovered once") {
    for (int i = 0; i < 100; ++i) {
      CHECK(msr.read(uret::cpu_id{0}, uret::msrs::lstar).error() == uret::errc::msr_fault);
    }
    CHECK(recovered == 100);
  }
}

TEST_CASE("the CPU argument is checked before any instruction runs", "[native_msr]") {
  gp_handler_scope scope;  // an instruction that did run would show up as a recovered fault
  SECTION("a CPU beyond the count is no_such_cpu") {
    table_msr msr{2};
    CHECK(msr.cpus() == 2);
    CHECK(msr.read(uret::cpu_id{2}, uret::msrs::star).error() == uret::errc::no_such_cpu);
    CHECK(msr.write(uret::cpu_id{7}, uret::msrs::star, 0).error() == uret::errc::no_such_cpu);
    CHECK(recovered == 0);
  }
  SECTION("without a hook any CPU in range is taken as the executing one") {
    table_msr msr{2};
    CHECK_FALSE(msr.checks_cpu());
    CHECK(msr.read(uret::cpu_id{1}, uret::msrs::star).error() == uret::errc::msr_fault);
    CHECK(recovered == 1);
  }
  SECTION("with the hook, another CPU than the executing one is no_such_cpu") {
    table_msr msr{4, &fake_current_cpu};
    CHECK(msr.checks_cpu());
    hook_answer = 2;
    CHECK(msr.read(uret::cpu_id{1}, uret::msrs::star).error() == uret::errc::no_such_cpu);
    CHECK(msr.write(uret::cpu_id{3}, uret::msrs::star, 1).error() == uret::errc::no_such_cpu);
    CHECK(recovered == 0);
    // the executing CPU passes the check and reaches the instruction (which faults at CPL 3)
    CHECK(msr.read(uret::cpu_id{2}, uret::msrs::star).error() == uret::errc::msr_fault);
    CHECK(recovered == 1);
  }
  SECTION("a constinit backend keeps its CPU count") {
    CHECK(constinit_backend.cpus() == 4);
    CHECK_FALSE(constinit_backend.checks_cpu());
  }
  SECTION("a custom policy's failure is msr_fault") {
    uret::native_msr<always_faults> msr{1};
    CHECK(msr.read(uret::cpu_id{0}, uret::msrs::star).error() == uret::errc::msr_fault);
    CHECK(msr.write(uret::cpu_id{0}, uret::msrs::star, 0).error() == uret::errc::msr_fault);
  }
}

TEST_CASE("the fatal policy leaves a fault to the kernel: the access is not recovered",
          "[native_msr]") {
  gp_handler_scope scope;  // even with the handler installed, a fatal access has no entry
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    fatal_msr msr{1};
    static_cast<void>(msr.read(uret::cpu_id{0}, uret::msrs::tsc_aux));
    _exit(0);  // reached only if the fault was recovered
  }
  int status = 0;
  REQUIRE(waitpid(child, &status, 0) == child);
  CHECK(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGSEGV);
}
