/* SPDX-License-Identifier: MIT */
/* benchmarks/reference/user_return.h - KVM's user-return MSR functions and the user-return
 * notifier chain, re-expressed in plain C as the baseline for uret's instruction counts.
 *
 * Same data layout as the kernel: a global list of up to 16 MSR indices; per CPU a record with
 * the notifier node, a `registered` flag and a {host, curr} pair per slot; per CPU a list head
 * of notifiers. The kernel finds "this CPU" through per-CPU addressing; here, as in uret, the CPU
 * is an argument. The MSR accesses go to the register file of regfile.h, the stand-in uret runs on
 * too.
 */
#ifndef URET_REF_USER_RETURN_H
#define URET_REF_USER_RETURN_H

#include <stdbool.h>
#include <stdint.h>

#include "bench_op.h"
#include "regfile.h"

#define REF_NR_CPUS 64
#define REF_MAX_NR_USER_RETURN_MSRS 16 /* KVM_MAX_NR_USER_RETURN_MSRS */

#ifdef __cplusplus
extern "C" {
#endif

/* struct user_return_notifier: a callback and an hlist node. */
struct ref_urn {
  void (*on_user_return)(struct ref_urn* urn, unsigned cpu);
  struct ref_urn* next;
  struct ref_urn** pprev;
};

/* The notifier chain (kernel/user-return-notifier.c). */
void ref_urn_register(unsigned cpu, struct ref_urn* urn);
void ref_urn_unregister(unsigned cpu, struct ref_urn* urn);
void ref_fire_user_return_notifiers(unsigned cpu);
bool ref_urn_pending(unsigned cpu);

/* The user-return MSR cache (arch/x86/kvm/x86.c, later msrs.c). */
void ref_init(struct regfile* hw);
int ref_add_user_return_msr(uint32_t msr);
int ref_find_user_return_msr(uint32_t msr);
void ref_user_return_msr_cpu_online(unsigned cpu);
int ref_set_user_return_msr(unsigned cpu, unsigned slot, uint64_t value, uint64_t mask);
void ref_user_return_msr_update_cache(unsigned cpu, unsigned slot, uint64_t value);
uint64_t ref_get_user_return_msr(unsigned cpu, unsigned slot);
void ref_on_user_return(unsigned cpu);
void ref_drop_user_return_notifiers(unsigned cpu);
bool ref_registered(unsigned cpu);
uint64_t ref_host(unsigned cpu, unsigned slot);

/* Measured entry points, one per operation, for callgrind's --toggle-collect. Each takes its
 * arguments from `op` and is compiled in the same translation unit as the function it calls,
 * as uret's entry points are with the header-only library. */
int measure_c_set(const struct bench_op* op);
int measure_c_update_cache(const struct bench_op* op);
int measure_c_on_user_return(const struct bench_op* op);
int measure_c_fire(const struct bench_op* op);
int measure_c_cpu_online(const struct bench_op* op);
int measure_c_drop(const struct bench_op* op);
int measure_c_mock_write(const struct bench_op* op);

#ifdef __cplusplus
}
#endif

#endif /* URET_REF_USER_RETURN_H */
