/* mbentry.h: put a vCPU in the Multiboot entry state (spec section 3.2):
 * EAX = 0x2BADB002, EBX = info, 32-bit protected mode with flat 4 GiB
 * segments, paging off, EFLAGS = 0x2 (IF clear), A20 on. */
#ifndef PINVM_MBENTRY_H
#define PINVM_MBENTRY_H

#include "../cpu/cpu.h"
#include "multiboot.h"

/* Call after cpu_reset(): sets the registers and calls
 * cpu_state_changed(). */
void multiboot_enter(struct cpu *c, const struct mb_result *r);

#endif
