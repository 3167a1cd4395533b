// SPDX-License-Identifier: MIT
/* benchmarks/reference/user_return.c - the kernel's user-return MSR code as plain C, written
 * from its behaviour (see user_return.h). Each function names the kernel function it models.
 * Where the kernel does something that has no meaning in a user-space model (interrupt
 * masking, preemption counting) a comment says so; nothing else is left out. */
#include "user_return.h"

#include <stddef.h>

#if defined(__clang__)
#define REF_NOINLINE __attribute__((noinline))
#else /* GCC: also no interprocedural specialisation of the measured functions */
#define REF_NOINLINE __attribute__((noinline, noipa))
#endif
#define ref_container_of(ptr, type, member) ((type*)(void*)((char*)(ptr)-offsetof(type, member)))

/* ---- kernel/user-return-notifier.c ------------------------------------------------------ */

/* The per-CPU list head, and the TIF_USER_RETURN_NOTIFY flag of the task running there. */
struct ref_urn_head {
  struct ref_urn* first;
  bool notify_flag;
} __attribute__((aligned(64)));

static struct ref_urn_head ref_urn_heads[REF_NR_CPUS];

/* user_return_notifier_register(): flag the running task, add the node at the list head. */
void ref_urn_register(unsigned cpu, struct ref_urn* urn) {
  struct ref_urn_head* h = &ref_urn_heads[cpu];
  h->notify_flag = true;
  urn->next = h->first;
  if (h->first != NULL) h->first->pprev = &urn->next;
  h->first = urn;
  urn->pprev = &h->first;
}

/* user_return_notifier_unregister(): unlink the node (hlist_del), clear the task flag when the
 * list is empty. */
void ref_urn_unregister(unsigned cpu, struct ref_urn* urn) {
  struct ref_urn_head* h = &ref_urn_heads[cpu];
  *urn->pprev = urn->next;
  if (urn->next != NULL) urn->next->pprev = urn->pprev;
  urn->next = NULL;
  urn->pprev = NULL;
  if (h->first == NULL) h->notify_flag = false;
}

/* fire_user_return_notifiers(): call each node, reading the next link before the call so that
 * a callback may unregister itself (hlist_for_each_entry_safe). The kernel brackets the walk
 * with get_cpu_var()/put_cpu_var() (preemption off), which a user-space model has no use for. */
void ref_fire_user_return_notifiers(unsigned cpu) {
  struct ref_urn* next;
  for (struct ref_urn* n = ref_urn_heads[cpu].first; n != NULL; n = next) {
    next = n->next;
    n->on_user_return(n, cpu);
  }
}

bool ref_urn_pending(unsigned cpu) { return ref_urn_heads[cpu].notify_flag; }

/* ---- arch/x86/kvm/x86.c: the user-return MSR cache -------------------------------------- */

/* struct kvm_user_return_msrs */
struct ref_user_return_msrs {
  struct ref_urn urn;
  bool registered;
  struct ref_user_return_msr_values {
    uint64_t host;
    uint64_t curr;
  } values[REF_MAX_NR_USER_RETURN_MSRS];
} __attribute__((aligned(64)));

static struct regfile* ref_hw;                                   /* stands in for RDMSR/WRMSR */
static uint32_t ref_uret_msrs_list[REF_MAX_NR_USER_RETURN_MSRS]; /* kvm_uret_msrs_list */
static unsigned ref_nr_uret_msrs;                                /* kvm_nr_uret_msrs */
static struct ref_user_return_msrs ref_user_return_msrs[REF_NR_CPUS]; /* per-CPU data */

void ref_init(struct regfile* hw) { ref_hw = hw; }

/* kvm_on_user_return(): the notifier callback. Unregister first if registered (the kernel does
 * this with interrupts off, so that a virtualization disable from an IPI cannot unregister
 * twice), then write back every slot whose cached value differs from the host value. */
static void ref_kvm_on_user_return(struct ref_urn* urn, unsigned cpu) {
  struct ref_user_return_msrs* msrs = ref_container_of(urn, struct ref_user_return_msrs, urn);
  if (msrs->registered) {
    msrs->registered = false;
    ref_urn_unregister(cpu, urn);
  }
  for (unsigned slot = 0; slot < ref_nr_uret_msrs; ++slot) {
    struct ref_user_return_msr_values* v = &msrs->values[slot];
    if (v->host != v->curr) {
      (void)regfile_write(ref_hw, cpu, ref_uret_msrs_list[slot], v->host); /* wrmsrq() */
      v->curr = v->host;
    }
  }
}

/* kvm_user_return_register_notifier(): register the callback once. */
static void ref_user_return_register_notifier(unsigned cpu, struct ref_user_return_msrs* msrs) {
  if (!msrs->registered) {
    msrs->urn.on_user_return = ref_kvm_on_user_return;
    ref_urn_register(cpu, &msrs->urn);
    msrs->registered = true;
  }
}

/* kvm_probe_user_return_msr() + kvm_add_user_return_msr(): read the MSR and write the value
 * back on this CPU; on success append it to the list and return its slot, else -1. */
int ref_add_user_return_msr(uint32_t msr) {
  uint64_t value;
  if (ref_nr_uret_msrs == REF_MAX_NR_USER_RETURN_MSRS) return -1; /* the kernel BUG()s */
  if (regfile_read(ref_hw, 0, msr, &value) != 0) return -1;
  if (regfile_write(ref_hw, 0, msr, value) != 0) return -1;
  ref_uret_msrs_list[ref_nr_uret_msrs] = msr;
  return (int)ref_nr_uret_msrs++;
}

/* kvm_find_user_return_msr(): linear search. */
int ref_find_user_return_msr(uint32_t msr) {
  for (unsigned i = 0; i < ref_nr_uret_msrs; ++i) {
    if (ref_uret_msrs_list[i] == msr) return (int)i;
  }
  return -1;
}

/* kvm_user_return_msr_cpu_online(): take each MSR's current value as host and cached value. */
void ref_user_return_msr_cpu_online(unsigned cpu) {
  struct ref_user_return_msrs* msrs = &ref_user_return_msrs[cpu];
  for (unsigned i = 0; i < ref_nr_uret_msrs; ++i) {
    uint64_t value = 0;
    (void)regfile_read(ref_hw, cpu, ref_uret_msrs_list[i], &value); /* rdmsrq_safe() */
    msrs->values[i].host = value;
    msrs->values[i].curr = value;
  }
}

/* kvm_set_user_return_msr(): merge the bits outside `mask` from the host value; skip the write
 * when the cache already holds the result; otherwise write, and only on success cache the value
 * and register the restore. Returns 0, or 1 when the write faulted. */
int ref_set_user_return_msr(unsigned cpu, unsigned slot, uint64_t value, uint64_t mask) {
  struct ref_user_return_msrs* msrs = &ref_user_return_msrs[cpu];
  value = (value & mask) | (msrs->values[slot].host & ~mask);
  if (value == msrs->values[slot].curr) return 0;
  if (regfile_write(ref_hw, cpu, ref_uret_msrs_list[slot], value) != 0) return 1; /* wrmsrq_safe */
  msrs->values[slot].curr = value;
  ref_user_return_register_notifier(cpu, msrs);
  return 0;
}

/* kvm_user_return_msr_update_cache() (TDX, v6.16): the hardware already holds `value`; cache it
 * and register the restore, with no write. */
void ref_user_return_msr_update_cache(unsigned cpu, unsigned slot, uint64_t value) {
  struct ref_user_return_msrs* msrs = &ref_user_return_msrs[cpu];
  msrs->values[slot].curr = value;
  ref_user_return_register_notifier(cpu, msrs);
}

/* kvm_get_user_return_msr() */
uint64_t ref_get_user_return_msr(unsigned cpu, unsigned slot) {
  return ref_user_return_msrs[cpu].values[slot].curr;
}

/* The callback as fire_user_return_notifiers() would run it for this CPU's record. */
void ref_on_user_return(unsigned cpu) {
  ref_kvm_on_user_return(&ref_user_return_msrs[cpu].urn, cpu);
}

/* drop_user_return_notifiers(): virtualization disabled on this CPU; restore now if pending. */
void ref_drop_user_return_notifiers(unsigned cpu) {
  struct ref_user_return_msrs* msrs = &ref_user_return_msrs[cpu];
  if (msrs->registered) ref_kvm_on_user_return(&msrs->urn, cpu);
}

bool ref_registered(unsigned cpu) { return ref_user_return_msrs[cpu].registered; }

uint64_t ref_host(unsigned cpu, unsigned slot) {
  return ref_user_return_msrs[cpu].values[slot].host;
}

/* ---- measured entry points -------------------------------------------------------------- */

REF_NOINLINE int measure_c_set(const struct bench_op* op) {
  return ref_set_user_return_msr(op->cpu, op->slot, op->value, op->mask);
}

REF_NOINLINE int measure_c_update_cache(const struct bench_op* op) {
  ref_user_return_msr_update_cache(op->cpu, op->slot, op->value);
  return 0;
}

REF_NOINLINE int measure_c_on_user_return(const struct bench_op* op) {
  ref_on_user_return(op->cpu);
  return 0;
}

REF_NOINLINE int measure_c_fire(const struct bench_op* op) {
  ref_fire_user_return_notifiers(op->cpu);
  return 0;
}

REF_NOINLINE int measure_c_cpu_online(const struct bench_op* op) {
  ref_user_return_msr_cpu_online(op->cpu);
  return 0;
}

REF_NOINLINE int measure_c_drop(const struct bench_op* op) {
  ref_drop_user_return_notifiers(op->cpu);
  return 0;
}

/* The stand-in's WRMSR alone (identical code on both sides). */
REF_NOINLINE int measure_c_mock_write(const struct bench_op* op) {
  return regfile_write(ref_hw, op->cpu, ref_uret_msrs_list[op->slot], op->value);
}
