// SPDX-License-Identifier: GPL-2.0
/*
 * tests/linux-module/uret_test_main.c - the C glue of the uret test module.
 *
 * Loads uret's slot_table (C++, uret_test_core.cpp) for TSC_AUX over the kernel's own
 * user-return notifiers, keeps it in step with CPU hotplug and offers a debugfs control file,
 * /sys/kernel/debug/uret_test/ctl. A write runs one command on the writer's CPU (with
 * preemption off, as KVM runs kvm_set_user_return_msr()); a read prints each CPU's counters.
 *
 *   set V [N]        set() TSC_AUX to V, N times in a row (default once)
 *   set_sleep V MS   set() V, then msleep(MS): another task on this CPU runs before we return
 *   wrmsr V          WRMSR V behind the table's back
 *   may_clobber V    may_clobber(V)
 *   invalidate       invalidate()
 *   remote_set C V   set() V on CPU C, in an IPI (no return to user mode on C follows)
 *
 * CPU hotplug (cpuhp_setup_state_nocalls(), the dynamic online range): a CPU coming up runs
 * cpu_online(), a CPU going down runs drop(), which restores any guest value, as KVM's
 * hardware-disable path runs drop_user_return_notifiers(). Unloading drops every CPU.
 *
 * Parameter inject=lost_restore (control test only): the notifier's writes are lost.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/cpu.h>
#include <linux/cpuhotplug.h>
#include <linux/debugfs.h>
#include <linux/delay.h>
#include <linux/fs.h>
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/preempt.h>
#include <linux/sched.h>
#include <linux/seq_file.h>
#include <linux/smp.h>
#include <linux/uaccess.h>

#define URET_LINUX_SHIM_IMPLEMENTATION
#include "uret/linux_kernel/shim.h"
#include "uret_test.h"

static struct dentry* uret_test_dir;
static enum cpuhp_state uret_test_hp_state;
static DEFINE_MUTEX(uret_test_lock);

static char* inject = "";
module_param(inject, charp, 0444);
MODULE_PARM_DESC(inject,
                 "control tests only: lost_restore (restores report success, write nothing)");

int uret_test_current_pid(void) { return task_pid_nr(current); }

static int uret_test_errno(int rc) {
  if (rc) pr_info("uret error %d\n", rc);
  return rc ? -EIO : 0;
}

/* CPU hotplug callbacks: they run on the CPU concerned, in its hotplug thread. */
static int uret_test_cpu_up(unsigned int cpu) {
  int rc;

  preempt_disable();
  rc = uret_test_cpu_online(cpu);
  preempt_enable();
  return uret_test_errno(rc);
}

static int uret_test_cpu_down(unsigned int cpu) {
  int rc;

  preempt_disable();
  rc = uret_test_drop(cpu);
  preempt_enable();
  return uret_test_errno(rc);
}

struct uret_test_remote {
  unsigned long long value;
  int rc;
};

static void uret_test_online_ipi(void* arg) {
  int* rc = arg;
  int r = uret_test_cpu_online(smp_processor_id());

  if (r) *rc = r;
}

static void uret_test_remote_set(void* arg) {
  struct uret_test_remote* r = arg;

  r->rc = uret_test_set(smp_processor_id(), r->value, 1);
}

static int uret_test_show(struct seq_file* m, void* v) {
  struct uret_test_stats s;
  unsigned int cpu;

  mutex_lock(&uret_test_lock);
  for_each_possible_cpu(cpu) {
    uret_test_get_stats(cpu, &s);
    seq_printf(
        m,
        "cpu %u online %d registered %d host %llu writes %llu skipped %llu command %llu notifier "
        "%llu drop %llu drops %llu last_value %llu last_pid %d dirty %llu unknown %llu\n",
        cpu, s.online, s.registered, s.host, s.writes, s.skipped, s.command_writes,
        s.notifier_writes, s.drop_writes, s.drops, s.last_value, s.last_pid, s.dirty, s.unknown);
  }
  mutex_unlock(&uret_test_lock);
  return 0;
}

static int uret_test_open(struct inode* inode, struct file* file) {
  return single_open(file, uret_test_show, NULL);
}

static int uret_test_command(const char* cmd) {
  unsigned long long value;
  unsigned int count = 1, ms, cpu;
  struct uret_test_remote remote;
  int rc;

  if (sscanf(cmd, "remote_set %u %llu", &cpu, &value) == 2) {
    if (cpu >= nr_cpu_ids || !cpu_online(cpu)) return -EINVAL;
    remote.value = value;
    remote.rc = 0;
    rc = smp_call_function_single(cpu, uret_test_remote_set, &remote, 1);
    return rc ? rc : uret_test_errno(remote.rc);
  }
  if (sscanf(cmd, "set_sleep %llu %u", &value, &ms) == 2) {
    cpu = get_cpu();
    rc = uret_test_set(cpu, value, 1);
    put_cpu();
    if (!rc) msleep(ms);
    return uret_test_errno(rc);
  }
  cpu = get_cpu();
  if (sscanf(cmd, "set %llu %u", &value, &count) >= 1 && count > 0)
    rc = uret_test_set(cpu, value, count);
  else if (sscanf(cmd, "wrmsr %llu", &value) == 1)
    rc = uret_test_wrmsr_behind(cpu, value);
  else if (sscanf(cmd, "may_clobber %llu", &value) == 1)
    rc = uret_test_may_clobber(cpu, value);
  else if (!strcmp(cmd, "invalidate"))
    rc = uret_test_invalidate(cpu);
  else
    rc = -1;
  put_cpu();
  if (rc < 0) return -EINVAL;
  return uret_test_errno(rc);
}

static ssize_t uret_test_write(struct file* file, const char __user* ubuf, size_t len,
                               loff_t* off) {
  char buf[64];
  int rc;

  if (len == 0 || len >= sizeof(buf)) return -EINVAL;
  if (copy_from_user(buf, ubuf, len)) return -EFAULT;
  buf[len] = '\0';
  strim(buf);
  mutex_lock(&uret_test_lock);
  rc = uret_test_command(buf);
  mutex_unlock(&uret_test_lock);
  return rc ? rc : (ssize_t)len;
}

static const struct file_operations uret_test_fops = {
    .owner = THIS_MODULE,
    .open = uret_test_open,
    .read = seq_read,
    .llseek = seq_lseek,
    .release = single_release,
    .write = uret_test_write,
};

static int __init uret_test_init(void) {
  int rc, ipi_rc = 0;

  preempt_disable();
  rc = uret_test_core_init(nr_cpu_ids, !strcmp(inject, "lost_restore"));
  preempt_enable();
  if (rc) return uret_test_errno(rc);

  cpus_read_lock();
  on_each_cpu(uret_test_online_ipi, &ipi_rc, 1);
  rc = cpuhp_setup_state_nocalls_cpuslocked(CPUHP_AP_ONLINE_DYN, "uret_test:online",
                                            uret_test_cpu_up, uret_test_cpu_down);
  cpus_read_unlock();
  if (rc < 0 || ipi_rc) {
    pr_err("set-up failed: hotplug %d, cpu_online %d\n", rc, ipi_rc);
    if (rc >= 0) cpuhp_remove_state(rc);
    uret_test_core_exit();
    return rc < 0 ? rc : -EIO;
  }
  uret_test_hp_state = rc;

  uret_test_dir = debugfs_create_dir("uret_test", NULL);
  debugfs_create_file("ctl", 0600, uret_test_dir, NULL, &uret_test_fops);
  pr_info("loaded: TSC_AUX on %u CPUs, kernel user-return notifiers\n", num_online_cpus());
  return 0;
}

static void __exit uret_test_exit(void) {
  debugfs_remove_recursive(uret_test_dir);
  /* drop() on every online CPU, on that CPU: restores and unregisters. */
  cpuhp_remove_state(uret_test_hp_state);
  uret_test_core_exit();
  pr_info("unloaded\n");
}

module_init(uret_test_init);
module_exit(uret_test_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("uret's slot_table on the kernel's user-return notifiers (test)");
