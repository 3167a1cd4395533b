// SPDX-License-Identifier: MIT
// benchmarks/reference/driver.cpp - runs the same operation sequence through the C reference
// (user_return.c) and through uret::slot_table, both over the register file of regfile.h.
// The uret side comes twice: `uret` uses the handle operations (cpu_handle, slot_handle, checks
// made once when the handles were obtained), `checked` the operations that take a cpu_id and a
// slot number and check them on every call.
//
//   uret-ref-driver list                    the operations, one per line
//   uret-ref-driver run c|uret|checked OP [N]  N repetitions of OP (default 1000), for callgrind
//   uret-ref-driver verify [N] [SEED]       N random operations through both; compare results,
//                                           cached values, registration, hardware and write logs
//
// Under `valgrind --tool=callgrind --toggle-collect='measure_*'` only the measured entry points
// (measure_c_* in user_return.c, measure_uret_* here) are counted; the set-up that puts each
// repetition in the state the operation needs runs outside them. Both sets of entry points
// take their arguments from the same `bench_op` records, and each is compiled in the same
// translation unit as the code it calls.
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <type_traits>
#include <vector>

#include "harness.hpp"

#if defined(__clang__)
#define URET_REF_NOINLINE __attribute__((noinline))
#else /* GCC: also no interprocedural specialisation of the measured functions */
#define URET_REF_NOINLINE __attribute__((noinline, noipa))
#endif

namespace {

using namespace uret_ref;

constexpr unsigned k_fire_notifiers = 4;
constexpr std::uint64_t k_post_exit = 0;  // what the TDX module leaves in STAR/LSTAR/TSC_AUX

uret::user_return_notifier g_uret_nodes[k_fire_notifiers];
std::uint64_t g_uret_fired = 0;

void uret_count(uret::user_return_notifier& /*self*/, uret::cpu_id /*cpu*/) noexcept {
  ++g_uret_fired;
}

// What a measured uret entry point returns: the library's own error byte (0: success), as the C
// entry points return the C functions' own int, so that neither side pays for a conversion.
uret::result<void> code(uret::result<void> r) { return r; }

/// The uret handle operations' arguments: what a hypervisor keeps from the vCPU's load on.
struct handle_op {
  table_type::cpu_handle cpu;
  table_type::slot_handle slot;
  std::uint64_t value;
  std::uint64_t mask;
};

}  // namespace

// Global C++ functions (not extern "C": they return the library's result), named measure_*
// for callgrind's --toggle-collect.
URET_REF_NOINLINE uret::result<void> measure_uret_set(const handle_op* op) {
  return code(g_table.set(op->cpu, op->slot, op->value, op->mask));
}
URET_REF_NOINLINE uret::result<void> measure_uret_update_cache(const handle_op* op) {
  return code(g_table.update_cache(op->cpu, op->slot, op->value));
}
URET_REF_NOINLINE uret::result<void> measure_uret_may_clobber(const handle_op* op) {
  return code(g_table.may_clobber(op->cpu, op->slot, op->value));
}
URET_REF_NOINLINE uret::result<void> measure_uret_on_user_return(const handle_op* op) {
  return code(g_table.on_user_return(op->cpu));
}
URET_REF_NOINLINE int measure_uret_cpu_handle(const bench_op* op) {
  return g_table.cpu(uret::cpu_id{op->cpu}) ? 0 : 1;
}
URET_REF_NOINLINE uret::result<void> measure_checked_set(const bench_op* op) {
  return code(g_table.set(uret::cpu_id{op->cpu}, op->slot, op->value, op->mask));
}
URET_REF_NOINLINE uret::result<void> measure_checked_update_cache(const bench_op* op) {
  return code(g_table.update_cache(uret::cpu_id{op->cpu}, op->slot, op->value));
}
URET_REF_NOINLINE uret::result<void> measure_checked_may_clobber(const bench_op* op) {
  return code(g_table.may_clobber(uret::cpu_id{op->cpu}, op->slot, op->value));
}
URET_REF_NOINLINE uret::result<void> measure_checked_on_user_return(const bench_op* op) {
  return code(g_table.on_user_return(uret::cpu_id{op->cpu}));
}
URET_REF_NOINLINE uret::result<void> measure_checked_fire(const bench_op* op) {
  return code(g_chain.fire(uret::cpu_id{op->cpu}));
}
URET_REF_NOINLINE uret::result<void> measure_checked_cpu_online(const bench_op* op) {
  return code(g_table.cpu_online(uret::cpu_id{op->cpu}));
}
URET_REF_NOINLINE uret::result<void> measure_checked_drop(const bench_op* op) {
  return code(g_table.drop(uret::cpu_id{op->cpu}));
}
URET_REF_NOINLINE uret::result<void> measure_uret_mock_write(const bench_op* op) {
  return code(g_hw.write(uret::cpu_id{op->cpu}, g_msr_list[op->slot], op->value));
}

namespace {

// ---- C side -----------------------------------------------------------------------------------

ref_urn g_c_nodes[k_fire_notifiers];
std::uint64_t g_c_fired = 0;

extern "C" void c_count(ref_urn* /*self*/, unsigned /*cpu*/) { ++g_c_fired; }

// ---- the implementations behind one set-up interface -----------------------------------------

// A measured entry point, called with a bench_op (C, checked) or a handle_op (uret).
using measured_fn = int (*)(const void*);
template <auto F, class Arg>
int call(const void* p) {
  if constexpr (std::is_same_v<decltype(F(static_cast<const Arg*>(p))), int>) {
    return F(static_cast<const Arg*>(p));
  } else {
    return static_cast<int>(F(static_cast<const Arg*>(p)).error());
  }
}
template <auto F>
constexpr measured_fn c_op = &call<F, bench_op>;
template <auto F>
constexpr measured_fn h_op = &call<F, handle_op>;

struct impl {
  const char* name;
  bool handles;  // measured entry points take handle_op
  // set-up actions (not counted)
  void (*set)(unsigned cpu, unsigned slot, std::uint64_t value);
  void (*on_user_return)(unsigned cpu);
  void (*cpu_online)(unsigned cpu);
  void (*register_counters)(unsigned cpu);
  // measured entry points (nullptr: the implementation has no such operation)
  measured_fn m_set, m_update_cache, m_may_clobber, m_on_user_return, m_fire, m_cpu_online, m_drop,
      m_mock_write, m_cpu_handle;
};

void uret_set_up_set(unsigned cpu, unsigned slot, std::uint64_t v) {
  static_cast<void>(g_table.set(uret::cpu_id{cpu}, slot, v));
}
void uret_set_up_restore(unsigned cpu) {
  static_cast<void>(g_table.on_user_return(uret::cpu_id{cpu}));
}
void uret_set_up_online(unsigned cpu) { static_cast<void>(g_table.cpu_online(uret::cpu_id{cpu})); }
void uret_set_up_counters(unsigned cpu) {
  for (auto& n : g_uret_nodes) {
    n.on_user_return = uret_count;
    static_cast<void>(g_chain.register_notifier(uret::cpu_id{cpu}, n));
  }
}

const impl c_impl = {
    "c",
    false,
    [](unsigned cpu, unsigned slot, std::uint64_t v) {
      static_cast<void>(ref_set_user_return_msr(cpu, slot, v, k_all));
    },
    [](unsigned cpu) { ref_on_user_return(cpu); },
    [](unsigned cpu) { ref_user_return_msr_cpu_online(cpu); },
    [](unsigned cpu) {
      for (auto& n : g_c_nodes) {
        n.on_user_return = c_count;
        ref_urn_register(cpu, &n);
      }
    },
    c_op<measure_c_set>,
    c_op<measure_c_update_cache>,
    c_op<measure_c_update_cache>,  // the closest C operation to may_clobber (see
                                   // docs/benchmarks.md)
    c_op<measure_c_on_user_return>,
    c_op<measure_c_fire>,
    c_op<measure_c_cpu_online>,
    c_op<measure_c_drop>,
    c_op<measure_c_mock_write>,
    nullptr,
};

const impl uret_impl = {
    "uret",
    true,
    uret_set_up_set,
    uret_set_up_restore,
    uret_set_up_online,
    uret_set_up_counters,
    h_op<measure_uret_set>,
    h_op<measure_uret_update_cache>,
    h_op<measure_uret_may_clobber>,
    h_op<measure_uret_on_user_return>,
    c_op<measure_checked_fire>,        // the chain has one form
    c_op<measure_checked_cpu_online>,  // set-up: no handle form
    c_op<measure_checked_drop>,        // set-up: no handle form
    c_op<measure_uret_mock_write>,
    c_op<measure_uret_cpu_handle>,
};

const impl checked_impl = {
    "checked",
    false,
    uret_set_up_set,
    uret_set_up_restore,
    uret_set_up_online,
    uret_set_up_counters,
    c_op<measure_checked_set>,
    c_op<measure_checked_update_cache>,
    c_op<measure_checked_may_clobber>,
    c_op<measure_checked_on_user_return>,
    c_op<measure_checked_fire>,
    c_op<measure_checked_cpu_online>,
    c_op<measure_checked_drop>,
    c_op<measure_uret_mock_write>,
    nullptr,
};

// ---- the measured operations ------------------------------------------------------------------

struct operation {
  const char* name;
  const char* what;
  measured_fn impl::*measured;
  void (*prepare_once)(const impl&);
  void (*prepare_each)(const impl&, unsigned i);
  bench_op (*args)(unsigned i);
};

void set_four_guest(const impl& x) {
  for (unsigned s = 0; s < 4; ++s) x.set(0, s, guest_value(s));
}

const operation operations[] = {
    {"mock_write", "the stand-in's WRMSR alone (slot 0..3), no table: same code both sides",
     &impl::m_mock_write, nullptr, nullptr,
     [](unsigned i) {
       return bench_op{0, i % 4, guest_value(i % 4), k_all};
     }},
    {"set_hit", "set(), value already cached: no write", &impl::m_set, set_four_guest, nullptr,
     [](unsigned i) {
       return bench_op{0, i % 4, guest_value(i % 4), k_all};
     }},
    {"set_miss", "set(), new value, restore already registered: one write", &impl::m_set,
     set_four_guest, nullptr,
     [](unsigned i) {
       const unsigned s = i % 4;
       return bench_op{0, s, (i / 4) % 2 == 0 ? guest_value2(s) : guest_value(s), k_all};
     }},
    {"set_miss_register", "set(), first after a restore: one write + register", &impl::m_set,
     nullptr, [](const impl& x, unsigned) { x.on_user_return(0); },
     [](unsigned i) {
       return bench_op{0, i % 4, guest_value(i % 4), k_all};
     }},
    {"update_cache", "update_cache(), restore already registered", &impl::m_update_cache,
     set_four_guest, nullptr,
     [](unsigned i) {
       const unsigned s = i % 4;
       return bench_op{0, s, (i / 4) % 2 == 0 ? guest_value2(s) : guest_value(s), k_all};
     }},
    {"may_clobber_cached", "uret may_clobber(), cache holds the value (C: update_cache())",
     &impl::m_may_clobber,
     [](const impl& x) {
       for (unsigned s = 0; s < 4; ++s) x.set(0, s, k_post_exit);
     },
     nullptr,
     [](unsigned i) {
       return bench_op{0, i % 4, k_post_exit, k_all};
     }},
    {"may_clobber_unknown", "uret may_clobber(), cache -> unknown (C: update_cache())",
     &impl::m_may_clobber, nullptr,
     [](const impl& x, unsigned i) { x.set(0, i % 4, guest_value(i % 4)); },
     [](unsigned i) {
       return bench_op{0, i % 4, k_post_exit, k_all};
     }},
    {"on_user_return_1", "restore, 16 slots in use, 1 dirty", &impl::m_on_user_return, nullptr,
     [](const impl& x, unsigned) { x.set(0, 0, guest_value(0)); },
     [](unsigned) {
       return bench_op{0, 0, 0, 0};
     }},
    {"on_user_return_4", "restore, 16 slots in use, 4 dirty", &impl::m_on_user_return, nullptr,
     [](const impl& x, unsigned) {
       for (unsigned s = 0; s < 4; ++s) x.set(0, s, guest_value(s));
     },
     [](unsigned) {
       return bench_op{0, 0, 0, 0};
     }},
    {"on_user_return_16", "restore, 16 slots in use, 16 dirty", &impl::m_on_user_return, nullptr,
     [](const impl& x, unsigned) {
       for (unsigned s = 0; s < 16; ++s) x.set(0, s, guest_value(s));
     },
     [](unsigned) {
       return bench_op{0, 0, 0, 0};
     }},
    {"fire_4", "fire(), 4 notifiers that each bump a counter", &impl::m_fire,
     [](const impl& x) { x.register_counters(1); }, nullptr,
     [](unsigned) {
       return bench_op{1, 0, 0, 0};
     }},
    {"fire_restore_1", "fire() with the table's notifier: restore of 1 dirty slot", &impl::m_fire,
     nullptr, [](const impl& x, unsigned) { x.set(0, 0, guest_value(0)); },
     [](unsigned) {
       return bench_op{0, 0, 0, 0};
     }},
    {"cpu_handle", "uret: obtain a CPU handle (range + online check), once per vCPU load",
     &impl::m_cpu_handle, nullptr, nullptr,
     [](unsigned) {
       return bench_op{1, 0, 0, 0};
     }},
    {"cpu_online_16", "cpu_online(): capture 16 host values", &impl::m_cpu_online, nullptr, nullptr,
     [](unsigned) {
       return bench_op{2, 0, 0, 0};
     }},
    {"drop_1", "drop(): virtualization disable with 1 dirty slot", &impl::m_drop, nullptr,
     [](const impl& x, unsigned) {
       x.cpu_online(3);
       x.set(3, 0, guest_value(0));
     },
     [](unsigned) {
       return bench_op{3, 0, 0, 0};
     }},
};

handle_op to_handles(const bench_op& b) {
  return handle_op{*g_table.cpu(uret::cpu_id{b.cpu}), *g_table.slot(b.slot), b.value, b.mask};
}

int run(const impl& x, std::string_view op_name, unsigned n) {
  for (const operation& op : operations) {
    if (op_name != op.name) continue;
    const measured_fn fn = x.*op.measured;
    if (fn == nullptr) {
      std::printf("%s %s: no such operation\n", x.name, op.name);
      return 3;
    }
    std::vector<bench_op> args(n);
    for (unsigned i = 0; i < n; ++i) args[i] = op.args(i);
    std::vector<handle_op> hargs;
    const bool handles = x.handles && (fn == x.m_set || fn == x.m_update_cache ||
                                       fn == x.m_may_clobber || fn == x.m_on_user_return);
    if (handles) {
      hargs.reserve(n);
      for (const bench_op& b : args) hargs.push_back(to_handles(b));
    }
    if (op.prepare_once != nullptr) op.prepare_once(x);
    int failures = 0;
    for (unsigned i = 0; i < n; ++i) {
      if (op.prepare_each != nullptr) op.prepare_each(x, i);
      const void* a = handles ? static_cast<const void*>(&hargs[i]) : &args[i];
      failures += fn(a) != 0 ? 1 : 0;
    }
    std::printf("%s %s n=%u failures=%d\n", x.name, op.name, n, failures);
    return failures == 0 ? 0 : 1;
  }
  std::fprintf(stderr, "unknown operation '%.*s' (try: list)\n", static_cast<int>(op_name.size()),
               op_name.data());
  return 2;
}

// ---- verify: both implementations agree on a random sequence ---------------------------------

struct rng {
  std::uint64_t s;
  std::uint64_t next() {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
  }
  unsigned below(unsigned n) { return static_cast<unsigned>(next() % n); }
};

int verify(unsigned n, std::uint64_t seed) {
  // Each operation writes at most k_slots registers.
  const std::size_t capacity = std::size_t{n} * k_slots + 1;
  std::vector<regfile_record> c_records(capacity);
  std::vector<regfile_record> u_records(capacity);
  regfile_log c_log{c_records.data(), 0, capacity, false};
  regfile_log u_log{u_records.data(), 0, capacity, false};
  g_cregs.log = &c_log;
  g_hw.f.log = &u_log;
  rng r{seed == 0 ? 1 : seed};
  constexpr std::uint64_t masks[] = {k_all, k_all, k_all, 0xd01, 0xffff, 0};
  const auto pick_value = [&](unsigned slot) -> std::uint64_t {
    switch (r.below(5)) {
      case 0: return host_value(slot);
      case 1: return guest_value(slot);
      case 2: return guest_value2(slot);
      case 3: return k_post_exit;
      default: return r.next();
    }
  };
  for (unsigned i = 0; i < n; ++i) {
    const unsigned cpu = r.below(2);
    const uret::cpu_id ucpu{cpu};
    const unsigned slot = r.below(k_slots);
    const unsigned kind = r.below(20);
    int c_rc = 0;
    int u_rc = 0;
    if (kind < 10) {  // set; one in ten that will write gets a fault injected on both sides
      const std::uint64_t v = pick_value(slot);
      const std::uint64_t m = masks[r.below(6)];
      const std::uint64_t merged = (v & m) | (ref_host(cpu, slot) & ~m);
      if (kind == 0 && merged != ref_get_user_return_msr(cpu, slot)) {
        regfile_fail_next_write(&g_cregs, cpu, msr_of(slot));
        regfile_fail_next_write(&g_hw.f, cpu, msr_of(slot));
      }
      c_rc = ref_set_user_return_msr(cpu, slot, v, m);
      if (r.below(2) == 0) {
        u_rc = g_table.set(ucpu, slot, v, m) ? 0 : 1;
      } else {  // the handle form
        u_rc = g_table.set(*g_table.cpu(ucpu), *g_table.slot(slot), v, m) ? 0 : 1;
      }
    } else if (kind < 14) {  // firmware puts v into the hardware, then update_cache(v)
      const std::uint64_t v = pick_value(slot);
      static_cast<void>(regfile_poke(&g_cregs, cpu, msr_of(slot), v));
      static_cast<void>(regfile_poke(&g_hw.f, cpu, msr_of(slot), v));
      ref_user_return_msr_update_cache(cpu, slot, v);
      if (r.below(2) == 0) {
        u_rc = g_table.update_cache(ucpu, slot, v) ? 0 : 1;
      } else {
        u_rc = g_table.update_cache(*g_table.cpu(ucpu), *g_table.slot(slot), v) ? 0 : 1;
      }
    } else if (kind < 17) {
      ref_fire_user_return_notifiers(cpu);
      u_rc = g_chain.fire(ucpu) ? 0 : 1;
    } else if (kind < 19) {
      ref_on_user_return(cpu);
      u_rc = g_table.on_user_return(ucpu) ? 0 : 1;
    } else {
      ref_drop_user_return_notifiers(cpu);
      ref_user_return_msr_cpu_online(cpu);
      u_rc = (g_table.drop(ucpu) && g_table.cpu_online(ucpu)) ? 0 : 1;
    }
    if (c_rc != u_rc) {
      std::printf("verify: op %u (kind %u, cpu %u, slot %u): C returned %d, uret %d\n", i, kind,
                  cpu, slot, c_rc, u_rc);
      return 1;
    }
    for (unsigned c = 0; c < 2; ++c) {
      if (ref_registered(c) != g_table.registered(uret::cpu_id{c})) {
        std::printf("verify: op %u: registered differs on CPU %u\n", i, c);
        return 1;
      }
      for (unsigned s = 0; s < k_slots; ++s) {
        std::uint64_t hw_c = 0;
        std::uint64_t hw_u = 1;
        static_cast<void>(regfile_read(&g_cregs, c, msr_of(s), &hw_c));
        static_cast<void>(regfile_read(&g_hw.f, c, msr_of(s), &hw_u));
        const auto cur = g_table.current(uret::cpu_id{c}, s);
        if (hw_c != hw_u || !cur || *cur != ref_get_user_return_msr(c, s)) {
          std::printf("verify: op %u: CPU %u slot %u differs (hw C %#" PRIx64 " uret %#" PRIx64
                      ")\n",
                      i, c, s, hw_c, hw_u);
          return 1;
        }
      }
    }
  }
  if (c_log.overflow || u_log.overflow) {
    std::printf("verify: write log overflow\n");
    return 1;
  }
  bool same = c_log.len == u_log.len;
  for (std::size_t k = 0; same && k < c_log.len; ++k) {
    const regfile_record& x = c_log.records[k];
    const regfile_record& y = u_log.records[k];
    same = x.cpu == y.cpu && x.msr == y.msr && x.value == y.value;
  }
  g_cregs.log = nullptr;
  g_hw.f.log = nullptr;
  if (!same) {
    std::printf("verify: write logs differ (C %zu writes, uret %zu)\n", c_log.len, u_log.len);
    return 1;
  }
  std::printf("verify: %u random operations, C reference and uret agree (%zu writes)\n", n,
              c_log.len);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string_view cmd = argc > 1 ? argv[1] : "";
  setup_both();
  if (cmd == "list") {
    for (const operation& op : operations) std::printf("%s\t%s\n", op.name, op.what);
    return 0;
  }
  if (cmd == "run" && argc >= 4) {
    const std::string_view which = argv[2];
    const unsigned n = argc > 4 ? static_cast<unsigned>(std::strtoul(argv[4], nullptr, 10)) : 1000;
    if (which == "c") return run(c_impl, argv[3], n);
    if (which == "uret") return run(uret_impl, argv[3], n);
    if (which == "checked") return run(checked_impl, argv[3], n);
  }
  if (cmd == "verify") {
    const unsigned n =
        argc > 2 ? static_cast<unsigned>(std::strtoul(argv[2], nullptr, 10)) : 100000;
    const std::uint64_t seed = argc > 3 ? std::strtoull(argv[3], nullptr, 10) : 1;
    return verify(n, seed);
  }
  std::fputs("usage: uret-ref-driver list | run c|uret|checked OP [N] | verify [N] [SEED]\n",
             stderr);
  return 2;
}
