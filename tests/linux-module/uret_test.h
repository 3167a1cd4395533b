/* SPDX-License-Identifier: GPL-2.0 */
/* tests/linux-module/uret_test.h - between the test module's C glue (uret_test_main.c: module,
 * debugfs, CPU hotplug) and its C++ part (uret_test_core.cpp: uret's slot_table over the Linux
 * backend and the kernel's user-return notifiers). Every function taking a CPU must run on that
 * CPU with preemption off. Return values are uret::errc numbers: 0 is success. */
#ifndef URET_TEST_H
#define URET_TEST_H

#ifdef __cplusplus
extern "C" {
#endif

/* Who is running the table when the backend writes. */
enum uret_test_context {
  URET_TEST_CTX_NOTIFIER = 0,
  URET_TEST_CTX_COMMAND = 1,
  URET_TEST_CTX_DROP = 2
};

struct uret_test_stats {
  unsigned long long writes;          /* the table's own counter */
  unsigned long long skipped;         /* the table's own counter */
  unsigned long long command_writes;  /* backend writes inside a command */
  unsigned long long notifier_writes; /* backend writes from the user-return notifier */
  unsigned long long drop_writes;     /* backend writes from drop() (hotplug, unload) */
  unsigned long long drops;           /* drop() calls */
  unsigned long long last_value;      /* the value of the last backend write */
  unsigned long long host;            /* the table's host value (0 when offline) */
  unsigned long long dirty, unknown;
  int last_pid; /* the task that ran the last backend write */
  int registered, online;
};

/* Set-up, on one CPU with preemption off: the table, with TSC_AUX probed on that CPU. With
 * `lose_restores_in_notifier` (the control test only), writes from the notifier report success
 * and write nothing: a broken restore the guest test must catch. */
int uret_test_core_init(unsigned int cpus, int lose_restores_in_notifier);
/* Unload: every node must already be unregistered (drop() on each CPU). */
void uret_test_core_exit(void);

int uret_test_cpu_online(unsigned int cpu);
int uret_test_drop(unsigned int cpu);
/* set() `times` times in a row. */
int uret_test_set(unsigned int cpu, unsigned long long value, unsigned int times);
int uret_test_may_clobber(unsigned int cpu, unsigned long long value);
int uret_test_invalidate(unsigned int cpu);
/* A WRMSR of TSC_AUX behind the table's back (the "firmware"). */
int uret_test_wrmsr_behind(unsigned int cpu, unsigned long long value);
void uret_test_get_stats(unsigned int cpu, struct uret_test_stats* out);

/* Provided by the C glue. */
int uret_test_current_pid(void);

#ifdef __cplusplus
}
#endif

#endif /* URET_TEST_H */
