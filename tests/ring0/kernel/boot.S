/* SPDX-License-Identifier: MIT */
/* tests/ring0/kernel/boot.S - from the PVH entry to C++ in 64-bit long mode, for the bootstrap
 * processor and for every application processor; the exception entry stubs.
 *
 * The PVH boot protocol enters `pvh_entry` in 32-bit protected mode with paging off, flat
 * segments and EBX = physical address of the hvm_start_info block. The kernel is linked and
 * loaded at 1 MiB. Memory map after boot: the first GiB identity-mapped with 2 MiB pages, and
 * the fourth GiB (local APIC at 0xFEE00000) identity-mapped uncached.
 *
 * Every CPU ends in `long_mode_entry`, takes the next ticket (BSP 0, APs 1, 2, ... in arrival
 * order), switches to that ticket's stack and calls kernel_entry(ticket). */
#include "layout.h"

#define CR0_PE 0x00000001
#define CR0_PG 0x80000000
#define CR4_PAE 0x20
#define MSR_EFER 0xc0000080
#define EFER_LME 0x100
#define PTE_P 0x1
#define PTE_RW 0x2
#define PTE_PWT 0x8
#define PTE_PCD 0x10
#define PTE_PS 0x80

/* ---------------------------------------------------------------- the PVH entry note
 * XEN_ELFNOTE_PHYS32_ENTRY (type 18). QEMU 7.2 reads the descriptor of an ELF64 note as 64
 * bits, later versions as 32: an 8-byte descriptor holding the 32-bit address suits both. */
        .section .note.Xen, "a", @note
        .balign 4
        .long 4, 8, 18
        .asciz "Xen"
        .balign 4
        .quad pvh_entry

/* ---------------------------------------------------------------- data */
        .section .data
        .balign 16
gdt:    .quad 0
        .quad 0x00cf9b000000ffff        /* SEL_CODE32: 32-bit code, 4 GiB, accessed */
        .quad 0x00cf93000000ffff        /* SEL_DATA:   data, 4 GiB, accessed */
        .quad 0x00af9b000000ffff        /* SEL_CODE64: 64-bit code (L), accessed */
gdt_end:
        .balign 8
gdt_ptr:
        .word gdt_end - gdt - 1
        .long gdt

        .global pvh_start_info, cpu_tickets
pvh_start_info: .long 0                 /* physical hvm_start_info, from EBX */
cpu_tickets:    .long 0                 /* next logical CPU number */

        .section .bss
        .balign 4096
pml4:   .skip 4096
pdpt:   .skip 4096
pd_low: .skip 4096                      /* 0 .. 1 GiB */
pd_apic: .skip 4096                     /* 3 .. 4 GiB */
        .global cpu_stacks
        .balign 64
cpu_stacks:
        .skip KERNEL_STACK_BYTES * KERNEL_MAX_CPUS

/* ---------------------------------------------------------------- 32-bit code */
        .section .text.entry, "ax"
        .code32
        .global pvh_entry
pvh_entry:
        cli
        cld
        lgdt    gdt_ptr
        ljmp    $SEL_CODE32, $1f
1:      movl    $SEL_DATA, %eax
        movl    %eax, %ds
        movl    %eax, %es
        movl    %eax, %ss
        movl    %eax, %fs
        movl    %eax, %gs
        movl    %ebx, pvh_start_info

        movl    $__bss_start, %edi      /* page tables and stacks live in .bss */
        movl    $__bss_end, %ecx
        subl    %edi, %ecx
        xorl    %eax, %eax
        rep stosb

        movl    $0x80000001, %eax       /* long mode? (CPUID.80000001H:EDX[29]) */
        cpuid
        btl     $29, %edx
        jc      2f
        movb    $VERDICT_CRASH, %al
        outb    %al, $DEBUG_EXIT_PORT
        hlt

2:      movl    $pdpt + (PTE_P | PTE_RW), pml4
        movl    $pd_low + (PTE_P | PTE_RW), pdpt
        movl    $pd_apic + (PTE_P | PTE_RW), pdpt + 3 * 8
        xorl    %ecx, %ecx              /* ecx = 2 MiB page number within its GiB */
3:      movl    %ecx, %eax
        shll    $21, %eax
        orl     $(PTE_P | PTE_RW | PTE_PS), %eax
        movl    %eax, pd_low(, %ecx, 8)
        addl    $0xc0000000 + (PTE_PWT | PTE_PCD), %eax
        movl    %eax, pd_apic(, %ecx, 8)
        incl    %ecx
        cmpl    $512, %ecx
        jb      3b
        jmp     enable_long_mode

/* An AP arrives here from the trampoline, in protected mode, with no stack. */
        .global ap_entry32
ap_entry32:
        movl    $SEL_DATA, %eax
        movl    %eax, %ds
        movl    %eax, %es
        movl    %eax, %ss
        movl    %eax, %fs
        movl    %eax, %gs

/* PAE paging with the tables above, EFER.LME, paging on: compatibility mode until the far
 * jump loads the 64-bit code segment (Intel SDM vol. 3A, 10.8.5). Uses no stack. */
enable_long_mode:
        movl    %cr4, %eax
        orl     $CR4_PAE, %eax
        movl    %eax, %cr4
        movl    $pml4, %eax
        movl    %eax, %cr3
        movl    $MSR_EFER, %ecx
        rdmsr
        orl     $EFER_LME, %eax
        wrmsr
        movl    %cr0, %eax
        orl     $(CR0_PG | CR0_PE), %eax
        movl    %eax, %cr0
        ljmp    $SEL_CODE64, $long_mode_entry

/* ---------------------------------------------------------------- 64-bit code */
        .code64
long_mode_entry:
        movl    $SEL_DATA, %eax
        movl    %eax, %ds
        movl    %eax, %es
        movl    %eax, %ss
        xorl    %eax, %eax
        movl    %eax, %fs
        movl    %eax, %gs
        movl    $1, %edi
        lock xaddl %edi, cpu_tickets(%rip)
        cmpl    $KERNEL_MAX_CPUS, %edi
        jae     halt_forever            /* more CPUs than stacks: this one stays out */
        leal    1(%edi), %eax
        imull   $KERNEL_STACK_BYTES, %eax
        leaq    cpu_stacks(%rip), %rsp
        addq    %rax, %rsp
        call    kernel_entry            /* kernel_entry(ticket); does not return */
        .global halt_forever
halt_forever:
        cli
        hlt
        jmp     halt_forever

/* ---------------------------------------------------------------- exception entry
 * One 16-byte stub per vector 0..31, so stub n is at trap_stubs + 16 * n. Each pushes a zero
 * where the CPU pushes no error code, then the vector, then joins trap_common, which saves the
 * general registers in the order of `struct trap_frame` (kernel.hpp) and calls
 * trap_entry(frame). The CPU aligned RSP to 16 before its 5-word frame; 5 + 2 + 15 words keep
 * it aligned at the call. */
        .text
        .balign 16
        .global trap_stubs
trap_stubs:
        .irp vec, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
        .balign 16
        .if (\vec == 8) || (\vec >= 10 && \vec <= 14) || (\vec == 17) || (\vec == 21) || (\vec == 29) || (\vec == 30)
        .else
        pushq   $0
        .endif
        pushq   $\vec
        jmp     trap_common
        .endr

trap_common:
        pushq   %rax
        pushq   %rbx
        pushq   %rcx
        pushq   %rdx
        pushq   %rsi
        pushq   %rdi
        pushq   %rbp
        pushq   %r8
        pushq   %r9
        pushq   %r10
        pushq   %r11
        pushq   %r12
        pushq   %r13
        pushq   %r14
        pushq   %r15
        movq    %rsp, %rdi
        call    trap_entry
        popq    %r15
        popq    %r14
        popq    %r13
        popq    %r12
        popq    %r11
        popq    %r10
        popq    %r9
        popq    %r8
        popq    %rbp
        popq    %rdi
        popq    %rsi
        popq    %rdx
        popq    %rcx
        popq    %rbx
        popq    %rax
        addq    $16, %rsp               /* vector and error code */
        iretq

/* ---------------------------------------------------------------- AP start-up code
 * Copied to AP_TRAMPOLINE_PHYS; a start-up IPI starts the AP there in real mode with
 * CS = AP_TRAMPOLINE_PHYS >> 4, IP = 0. Position-independent except for the far jump, which
 * targets the kernel's absolute 32-bit address. */
        .section .rodata.trampoline, "a"
        .code16
        .global ap_trampoline, ap_trampoline_end
ap_trampoline:
        cli
        cld
        movw    %cs, %ax
        movw    %ax, %ds
        lgdtl   ap_gdt_ptr - ap_trampoline
        movl    %cr0, %eax
        orl     $CR0_PE, %eax
        movl    %eax, %cr0
        ljmpl   $SEL_CODE32, $ap_entry32
        .balign 8
ap_gdt_ptr:
        .word gdt_end - gdt - 1
        .long gdt
ap_trampoline_end:
        .code64

        .section .note.GNU-stack, "", @progbits
