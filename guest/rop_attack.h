/* rop_attack.h: the ROP chain that CR pinning exists to stop, shared by
 * the attack test (tests/guest/pin_attack.c) and the demo (demo/demo.c).
 * Header-only on purpose: the gadgets belong in the kernels that use them,
 * not in every kernel linked with the kit. Include it from one C file.
 *
 * An attacker who controls a kernel stack pivots it to a chain:
 *
 *     pop %rax; ret          <- gadget 1, loads the new CR4 value
 *     cr4 & ~SMEP
 *     mov %rax,%cr4; ret     <- gadget 2, the one native pinning can't stop
 *     payload                <- code in a USER page
 *     rop_done               <- back to the caller
 */
#ifndef GUEST_ROP_ATTACK_H
#define GUEST_ROP_ATTACK_H

#include "kit.h"

/* Gadgets, as they would sit somewhere in kernel text. */
void gadget_pop_rax(void);
void gadget_mov_cr4(void);
void rop_run(void *chain);
void rop_done(void);
asm(".pushsection .text\n"
    ".globl gadget_pop_rax, gadget_mov_cr4, rop_run, rop_done\n"
    "gadget_pop_rax:\n\tpop %rax\n\tret\n"
    "gadget_mov_cr4:\n\tmov %rax, %cr4\n\tret\n"
    /* rop_run(chain): the stack pivot, then "return" into the chain */
    "rop_run:\n\tmov %rsp, rop_saved_rsp(%rip)\n\tmov %rdi, %rsp\n\tret\n"
    /* the chain's last return address: undo the pivot */
    "rop_done:\n\tmov rop_saved_rsp(%rip), %rsp\n\tret\n"
    ".popsection\n");
u64 rop_saved_rsp;

/* The attacker's payload, in a user page: marks that it ran at CPL0. */
void payload(void);
USER_DATA volatile u64 payload_ran;
asm(".pushsection .user.text, \"ax\"\n"
    ".globl payload\n"
    "payload:\n\tmovq $1, payload_ran(%rip)\n\tret\n"
    ".popsection\n");

/* The pivoted stack: the chain at its bottom, room below for the CPU. */
static u64 rop_fake_stack[512] __aligned(16);

static void rop_run_fn(void *chain) { rop_run(chain); }

/* Run the chain words[0..n); returns the vector that stopped it, -1 if it
 * ran to rop_done. */
static inline int run_chain(const u64 *words, unsigned n)
{
    u64 *chain = &rop_fake_stack[ARRAY_SIZE(rop_fake_stack) - 16];

    for (unsigned i = 0; i < n; i++)
        chain[i] = words[i];
    return try_call(rop_run_fn, chain);
}

#endif
