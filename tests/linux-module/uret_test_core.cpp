// SPDX-License-Identifier: GPL-2.0
// tests/linux-module/uret_test_core.cpp - the C++ half of the test module: uret's slot_table
// over linux_kernel_msr and the kernel's user-return notifiers, for TSC_AUX.
//
// Compiled freestanding (see Kbuild): no exceptions, no RTTI, no libstdc++, no static
// constructors. The table lives in static storage and is built with placement new when the
// module loads; the module's C glue guarantees the calling rules (each call on its CPU, with
// preemption off).
#include <cstddef>
#include <cstdint>
#include <new>

#include "uret/backends/linux_kernel_msr.hpp"
#include "uret/linux_kernel/notifier.hpp"
#include "uret/linux_kernel/shim.h"
#include "uret/slot_table.hpp"
#include "uret_test.h"

namespace {

constexpr std::size_t max_cpus = 64;

struct per_cpu_log {
  std::uint64_t command_writes = 0;
  std::uint64_t notifier_writes = 0;
  std::uint64_t drop_writes = 0;
  std::uint64_t drops = 0;
  std::uint64_t last_value = 0;
  int last_pid = 0;
  uret_test_context context = URET_TEST_CTX_NOTIFIER;
};

per_cpu_log logs[max_cpus];
bool lose_restores = false;  // the control's injected bug: restores report success, write nothing

// linux_kernel_msr, plus a record of who wrote what: the proof that a restore ran in the
// notifier (and in which task) or in drop().
class recording_msr {
 public:
  uret::result<std::uint64_t> read(uret::cpu_id cpu, uret::msr_index msr) noexcept {
    return real_.read(cpu, msr);
  }
  uret::result<void> write(uret::cpu_id cpu, uret::msr_index msr, std::uint64_t value) noexcept {
    const bool lost =
        lose_restores && cpu.value < max_cpus && logs[cpu.value].context == URET_TEST_CTX_NOTIFIER;
    const uret::result<void> r = lost ? uret::result<void>{} : real_.write(cpu, msr, value);
    if (r && cpu.value < max_cpus) {
      per_cpu_log& log = logs[cpu.value];
      switch (log.context) {
        case URET_TEST_CTX_COMMAND: ++log.command_writes; break;
        case URET_TEST_CTX_DROP: ++log.drop_writes; break;
        case URET_TEST_CTX_NOTIFIER: ++log.notifier_writes; break;
      }
      log.last_value = value;
      log.last_pid = uret_test_current_pid();
    }
    return r;
  }

 private:
  uret::linux_kernel_msr real_;
};
static_assert(uret::msr_backend<recording_msr>);

using table_type = uret::slot_table<recording_msr, 1, max_cpus, uret::linux_kernel_notifiers>;

// Raw static storage: constructed in uret_test_core_init(), so nothing runs at load time.
alignas(recording_msr) unsigned char backend_storage[sizeof(recording_msr)];
alignas(
    uret::linux_kernel_notifiers) unsigned char chain_storage[sizeof(uret::linux_kernel_notifiers)];
alignas(table_type) unsigned char table_storage[sizeof(table_type)];
table_type* table = nullptr;
unsigned slot = 0;

int code(const uret::result<void>& r) noexcept { return r ? 0 : static_cast<int>(r.error()); }

// Runs `f` with the CPU's log in `context`, restoring the notifier context afterwards.
template <class F>
int in_context(unsigned int cpu, uret_test_context context, F f) noexcept {
  if (table == nullptr || cpu >= max_cpus) return static_cast<int>(uret::errc::cpu_out_of_range);
  logs[cpu].context = context;
  const int rc = f(uret::cpu_id{cpu});
  logs[cpu].context = URET_TEST_CTX_NOTIFIER;
  return rc;
}

}  // namespace

extern "C" int uret_test_core_init(unsigned int cpus, int lose_restores_in_notifier) {
  if (table != nullptr) return static_cast<int>(uret::errc::invalid_argument);
  lose_restores = lose_restores_in_notifier != 0;
  auto* backend = new (backend_storage) recording_msr{};
  auto* chain = new (chain_storage) uret::linux_kernel_notifiers{cpus > max_cpus ? max_cpus : cpus};
  auto* t = new (table_storage) table_type{*backend, *chain, chain->cpus()};
  const unsigned int here = uret_linux_this_cpu();
  logs[here].context = URET_TEST_CTX_COMMAND;
  const uret::result<unsigned> s = t->add(uret::msrs::tsc_aux, uret::cpu_id{here});
  logs[here].context = URET_TEST_CTX_NOTIFIER;
  if (!s) {
    t->~table_type();
    return static_cast<int>(s.error());
  }
  slot = *s;
  table = t;
  return 0;
}

extern "C" void uret_test_core_exit(void) {
  if (table == nullptr) return;
  table->~table_type();  // unregisters any node still registered (none, after drop everywhere)
  table = nullptr;
}

extern "C" int uret_test_cpu_online(unsigned int cpu) {
  return in_context(cpu, URET_TEST_CTX_COMMAND,
                    [](uret::cpu_id c) noexcept { return code(table->cpu_online(c)); });
}

extern "C" int uret_test_drop(unsigned int cpu) {
  return in_context(cpu, URET_TEST_CTX_DROP, [](uret::cpu_id c) noexcept {
    ++logs[c.value].drops;
    return code(table->drop(c));
  });
}

extern "C" int uret_test_set(unsigned int cpu, unsigned long long value, unsigned int times) {
  return in_context(cpu, URET_TEST_CTX_COMMAND, [=](uret::cpu_id c) noexcept {
    for (unsigned int i = 0; i < times; ++i) {
      const int rc = code(table->set(c, slot, value));
      if (rc != 0) return rc;
    }
    return 0;
  });
}

extern "C" int uret_test_may_clobber(unsigned int cpu, unsigned long long value) {
  return in_context(cpu, URET_TEST_CTX_COMMAND, [=](uret::cpu_id c) noexcept {
    return code(table->may_clobber(c, slot, value));
  });
}

extern "C" int uret_test_invalidate(unsigned int cpu) {
  return in_context(cpu, URET_TEST_CTX_COMMAND,
                    [](uret::cpu_id c) noexcept { return code(table->invalidate(c, slot)); });
}

extern "C" int uret_test_wrmsr_behind(unsigned int cpu, unsigned long long value) {
  if (cpu != uret_linux_this_cpu() || uret_linux_preemptible() != 0)
    return static_cast<int>(uret::errc::no_such_cpu);
  return uret_linux_wrmsr(uret::msrs::tsc_aux.value, value) == 0
             ? 0
             : static_cast<int>(uret::errc::msr_fault);
}

extern "C" void uret_test_get_stats(unsigned int cpu, uret_test_stats* out) {
  *out = uret_test_stats{};
  if (table == nullptr || cpu >= max_cpus) return;
  const uret::cpu_id c{cpu};
  const uret::slot_stats s = table->stats(c);
  const per_cpu_log& log = logs[cpu];
  out->writes = s.writes;
  out->skipped = s.skipped;
  out->command_writes = log.command_writes;
  out->notifier_writes = log.notifier_writes;
  out->drop_writes = log.drop_writes;
  out->drops = log.drops;
  out->last_value = log.last_value;
  out->last_pid = log.last_pid;
  const uret::result<std::uint64_t> host = table->host(c, slot);
  out->host = host ? *host : 0;
  out->dirty = table->dirty_slots(c);
  out->unknown = table->unknown_slots(c);
  out->registered = table->registered(c) ? 1 : 0;
  out->online = table->online(c) ? 1 : 0;
}
