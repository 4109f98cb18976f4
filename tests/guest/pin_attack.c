/* The attack CR pinning exists to stop. A kernel enables SMEP and pins it.
 * An attacker who controls a kernel stack pivots it to a ROP chain:
 *
 *     pop %rax; ret          <- gadget 1, loads the new CR4 value
 *     cr4 & ~SMEP
 *     mov %rax,%cr4; ret     <- gadget 2, the one native pinning can't stop
 *     payload                <- code in a USER page
 *     rop_done               <- back to the test
 *
 * With pinning (this file): gadget 2 takes #GP, SMEP stays on, and a second
 * chain that jumps to the payload anyway gets #PF with the I/D bit: the
 * kernel never executes the user page. Built with PIN_ATTACK_NOPIN (see
 * pin_attack_nopin.c, run with -cpu max,-cr-pin) the same chain clears
 * SMEP and the payload runs at CPL0: the baseline pinning improves on. */
#include "kit.h"
#include "crpin.h"
#include "rop_attack.h"

int main(struct mb_info *mbi)
{
    u64 cr4, cr4p = 0;
    int vec;

    (void)mbi;
    if (!cpuid_bit(7, 0, 'b', CPUID_7_EBX_SMEP)) {
        report(false, "CPU has SMEP");
        return report_summary();
    }
    write_cr4(read_cr4() | X86_CR4_SMEP);
    cr4 = read_cr4();
#ifndef PIN_ATTACK_NOPIN
    report(crpin_pin_this_cpu(NULL, &cr4p) == 0 && (cr4p & X86_CR4_SMEP),
           "kernel: SMEP on and pinned");
#else
    report(crpin_pin_this_cpu(NULL, &cr4p) == -1, "kernel: SMEP on, pinning not available");
#endif

    const u64 attack[] = {
        (u64)gadget_pop_rax, cr4 & ~X86_CR4_SMEP, (u64)gadget_mov_cr4,
        (u64)payload, (u64)rop_done,
    };
    payload_ran = 0;
    vec = run_chain(attack, ARRAY_SIZE(attack));
#ifndef PIN_ATTACK_NOPIN
    report(vec == GP_VECTOR && ex_last.rip == (u64)gadget_mov_cr4,
           "attack: mov %%rax,%%cr4 gadget gets #GP (vec %d at 0x%llx)", vec,
           (unsigned long long)ex_last.rip);
    report(read_cr4() == cr4 && (read_cr4() & X86_CR4_SMEP), "attack: SMEP still on");
    report(!payload_ran, "attack: payload did not run");

    /* The attacker tries the user page anyway: SMEP stops the fetch. */
    const u64 jump[] = { (u64)payload, (u64)rop_done };
    vec = run_chain(jump, ARRAY_SIZE(jump));
    report(vec == PF_VECTOR && (exception_error_code() & PFERR_I) &&
           !(exception_error_code() & PFERR_U) && ex_last.cr2 == (u64)payload,
           "jump to the user page: #PF, I/D set (err 0x%llx)",
           (unsigned long long)exception_error_code());
    report(!payload_ran, "payload never executed");
#else
    report(vec == -1, "attack: the chain ran to the end (vec %d)", vec);
    report(!(read_cr4() & X86_CR4_SMEP), "attack: SMEP is off");
    report(payload_ran == 1, "attack: the kernel executed the user page");
    write_cr4(cr4);
#endif
    return report_summary();
}
