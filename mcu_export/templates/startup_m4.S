/*
 * startup_m4.S - reset code for the Cortex-M4F on QEMU mps2-an386 (generated project).
 *
 * The vector table sits at 0x0. Reset_Handler paints the whole stack with 0xDEADBEEF using
 * registers only (before anything uses the stack, so the harness can measure the high-water
 * mark), enables the FPU, copies .data, zeroes .bss, calls main() and reports main's return
 * value through semihosting SYS_EXIT_EXTENDED (QEMU's exit status).
 */
    .syntax unified
    .cpu cortex-m4
    .fpu fpv4-sp-d16
    .thumb

    .section .vectors, "a", %progbits
    .align 2
    .globl __isr_vector
__isr_vector:
    .word __stack_top
    .word Reset_Handler
    .word Fault_Handler  /* NMI */
    .word Fault_Handler  /* HardFault */
    .word Fault_Handler  /* MemManage */
    .word Fault_Handler  /* BusFault */
    .word Fault_Handler  /* UsageFault */
    .word 0, 0, 0, 0
    .word Fault_Handler  /* SVCall */
    .word Fault_Handler  /* DebugMon */
    .word 0
    .word Fault_Handler  /* PendSV */
    .word Fault_Handler  /* SysTick */

    .text
    .thumb_func
    .globl Reset_Handler
    .type Reset_Handler, %function
Reset_Handler:
    ldr r0, =__stack_limit
    ldr r1, =__stack_top
    ldr r2, =0xDEADBEEF
1:  cmp r0, r1
    bhs 2f
    str r2, [r0], #4
    b 1b
2:  ldr r0, =0xE000ED88      /* CPACR: full access to CP10 and CP11 (the FPU) */
    ldr r1, [r0]
    orr r1, r1, #(0xF << 20)
    str r1, [r0]
    dsb
    isb
    ldr r0, =__data_load
    ldr r1, =__data_start
    ldr r2, =__data_end
3:  cmp r1, r2
    bhs 4f
    ldr r3, [r0], #4
    str r3, [r1], #4
    b 3b
4:  ldr r1, =__bss_start
    ldr r2, =__bss_end
    movs r3, #0
5:  cmp r1, r2
    bhs 6f
    str r3, [r1], #4
    b 5b
6:  bl main
    mov r2, r0               /* exit code */
    b rp_semihost_exit_asm

    .thumb_func
    .globl rp_semihost_exit_asm
    .type rp_semihost_exit_asm, %function
rp_semihost_exit_asm:        /* r2 = exit code */
    ldr r0, =exit_block
    ldr r1, =0x20026         /* ADP_Stopped_ApplicationExit */
    str r1, [r0]
    str r2, [r0, #4]
    mov r1, r0
    movs r0, #0x20           /* SYS_EXIT_EXTENDED */
    bkpt 0xAB
7:  b 7b

    .thumb_func
    .type Fault_Handler, %function
Fault_Handler:
    movs r2, #99
    b rp_semihost_exit_asm

    .bss
    .align 2
exit_block:
    .space 8
