/* SPDX-License-Identifier: MIT */
/* uret/linux_kernel/shim.h - the C seam between uret's C++ core and a Linux kernel.
 *
 * Kernel headers are C (and GNU C at that): C++ code cannot include them. This header is the
 * whole interface the C++ side of a module needs from the kernel, in plain C that both
 * languages read:
 *  - MSR access on the executing CPU through rdmsrl_safe() / wrmsrl_safe() (a #GP comes back
 *    as -EIO, not as an oops);
 *  - the executing CPU (smp_processor_id()) and whether the caller may be preempted;
 *  - the kernel's user-return notifier (kernel/user-return-notifier.c): a node that embeds
 *    the kernel's struct user_return_notifier, registered on the executing CPU and called back
 *    from fire_user_return_notifiers() on the way to user mode.
 *
 * The C++ headers uret/backends/linux_kernel_msr.hpp and uret/linux_kernel/notifier.hpp only
 * declare these functions. Exactly one C file of the module defines them:
 *
 *     // uret_shim.c, compiled by Kbuild like any other C file of the module
 *     #define URET_LINUX_SHIM_IMPLEMENTATION
 *     #include <uret/linux_kernel/shim.h>
 *
 * The module must be GPL-compatible: user_return_notifier_register() is EXPORT_SYMBOL_GPL.
 */
#ifndef URET_LINUX_KERNEL_SHIM_H
#define URET_LINUX_KERNEL_SHIM_H

#ifdef __cplusplus
extern "C" {
#endif

/* Room for the kernel's struct user_return_notifier (a function pointer and a struct
 * hlist_node: three pointers on x86-64). The implementation checks at compile time that the
 * kernel's type fits and is no more aligned than this storage. */
#define URET_LINUX_URN_WORDS 4

struct uret_linux_node;

/* Called on the CPU that returns to user mode, with interrupts off, after the node has been
 * taken off that CPU's list by the kernel's own iteration rules (the callback must unregister
 * it, as KVM's kvm_on_user_return() does, or it fires again on the next return). */
typedef void (*uret_linux_fire_fn)(struct uret_linux_node* node, unsigned int cpu);

/* A user-return notifier node. `urn` holds the kernel's struct user_return_notifier; `cpu`
 * is the CPU whose list holds the node, or -1. Zero-initialise `urn`, set `cpu` to -1 and
 * `fire` before the first registration; the node must not move while registered. */
struct uret_linux_node {
  unsigned long urn[URET_LINUX_URN_WORDS];
  uret_linux_fire_fn fire;
  int cpu;
};

/* rdmsrl_safe() on the executing CPU: 0, or -EIO when RDMSR faulted. */
int uret_linux_rdmsr(unsigned int msr, unsigned long long* value);
/* wrmsrl_safe() on the executing CPU: 0, or -EIO when WRMSR faulted (nothing written). */
int uret_linux_wrmsr(unsigned int msr, unsigned long long value);
/* smp_processor_id(): meaningful only while the caller cannot migrate. */
unsigned int uret_linux_this_cpu(void);
/* Nonzero when the caller may be preempted (and so migrate): preemptible(). */
int uret_linux_preemptible(void);

/* user_return_notifier_register() for `node` on the executing CPU, which must be `cpu`, with
 * preemption off. 0; -EINVAL when the caller is preemptible, runs on another CPU or has no
 * `fire`; -EBUSY when the node is already registered. */
int uret_linux_register(struct uret_linux_node* node, unsigned int cpu);
/* user_return_notifier_unregister() for `node`. On the CPU that holds it (preemption off) it
 * is removed directly; from another CPU the removal runs on the holding CPU through an IPI
 * (that caller must be able to wait: not with interrupts off); a node left on an offline
 * CPU's list is removed from here. 0, or -ENOENT when the node is not registered. */
int uret_linux_unregister(struct uret_linux_node* node);

#ifdef __cplusplus
} /* extern "C" */
#endif

#ifdef URET_LINUX_SHIM_IMPLEMENTATION
/* The implementation: kernel C, compiled by Kbuild in exactly one file of the module. */
#include <asm/msr.h>
#include <linux/build_bug.h>
#include <linux/cpumask.h>
#include <linux/errno.h>
#include <linux/kernel.h>
#include <linux/preempt.h>
#include <linux/smp.h>
#include <linux/stddef.h>
#include <linux/user-return-notifier.h>

static_assert(sizeof(struct user_return_notifier) <= sizeof(((struct uret_linux_node*)0)->urn),
              "struct user_return_notifier no longer fits in uret_linux_node::urn");
static_assert(__alignof__(struct user_return_notifier) <= __alignof__(unsigned long),
              "struct user_return_notifier is more aligned than uret_linux_node::urn");

static struct user_return_notifier* uret_linux_urn(struct uret_linux_node* node) {
  return (struct user_return_notifier*)node->urn;
}

int uret_linux_rdmsr(unsigned int msr, unsigned long long* value) {
  u64 v = 0;
  int err = rdmsrl_safe(msr, &v);

  if (err) return -EIO;
  *value = v;
  return 0;
}

int uret_linux_wrmsr(unsigned int msr, unsigned long long value) {
  return wrmsrl_safe(msr, value) ? -EIO : 0;
}

unsigned int uret_linux_this_cpu(void) { return smp_processor_id(); }

int uret_linux_preemptible(void) { return preemptible(); }

/* The kernel's callback: find the node around the kernel's struct and hand it to C++. */
static void uret_linux_on_user_return(struct user_return_notifier* urn) {
  struct uret_linux_node* node = container_of((unsigned long*)urn, struct uret_linux_node, urn[0]);

  node->fire(node, smp_processor_id());
}

int uret_linux_register(struct uret_linux_node* node, unsigned int cpu) {
  struct user_return_notifier* urn = uret_linux_urn(node);

  if (!node->fire || preemptible() || cpu != smp_processor_id()) return -EINVAL;
  if (node->cpu >= 0) return -EBUSY;
  urn->on_user_return = uret_linux_on_user_return;
  user_return_notifier_register(urn);
  node->cpu = cpu;
  return 0;
}

/* user_return_notifier_unregister() acts on the executing CPU's list for the flag it clears,
 * so it runs where the node is held (or anywhere, once that CPU is offline). */
static void uret_linux_unregister_here(void* arg) {
  struct uret_linux_node* node = arg;

  if (node->cpu < 0) return;
  user_return_notifier_unregister(uret_linux_urn(node));
  node->cpu = -1;
}

int uret_linux_unregister(struct uret_linux_node* node) {
  int cpu = node->cpu;

  if (cpu < 0) return -ENOENT;
  if (!preemptible() && cpu == (int)smp_processor_id()) {
    uret_linux_unregister_here(node);
    return 0;
  }
  if (smp_call_function_single(cpu, uret_linux_unregister_here, node, 1) == -ENXIO)
    uret_linux_unregister_here(node); /* that CPU is offline: nothing runs its list */
  return 0;
}
#endif /* URET_LINUX_SHIM_IMPLEMENTATION */

#endif /* URET_LINUX_KERNEL_SHIM_H */
