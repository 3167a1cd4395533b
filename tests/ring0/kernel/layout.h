/* SPDX-License-Identifier: MIT */
/* tests/ring0/kernel/layout.h - constants shared by boot.S and the C++ side of the test kernel.
 * Plain #defines: this file is included by the assembler too. */
#ifndef URET_RING0_LAYOUT_H
#define URET_RING0_LAYOUT_H

/* GDT selectors (boot.S builds the table). */
#define SEL_CODE32 0x08
#define SEL_DATA 0x10
#define SEL_CODE64 0x18

/* CPUs the kernel can run (BSP included) and the stack each gets. The backend contract puts a
 * slot table for 64 CPUs on the stack (about 13 KiB), hence 64 KiB. */
#define KERNEL_MAX_CPUS 8
#define KERNEL_STACK_BYTES 65536

/* Physical page the AP start-up code is copied to: below 1 MiB, 4 KiB aligned; the start-up
 * IPI's vector is its page number. */
#define AP_TRAMPOLINE_PHYS 0x7000

/* QEMU's isa-debug-exit device (iobase 0xf4): writing V makes QEMU exit with (V << 1) | 1. */
#define DEBUG_EXIT_PORT 0xf4
#define VERDICT_PASS 0x2a  /* QEMU exit status 85 */
#define VERDICT_FAIL 0x2b  /* 87 */
#define VERDICT_CRASH 0x2c /* 89 */

#endif
