/* demo.c: CR pinning stopping a ROP attack, told step by step.
 *
 * The kernel turns on SMEP (the CPU refuses to execute user pages in
 * kernel mode) and asks pinvm to pin it. An attacker who can overwrite a
 * kernel stack then runs the classic chain: load a CR4 value without SMEP,
 * return into a `mov %rax,%cr4; ret` found in kernel text, and return into
 * code in a user page. Exit value: 0 attack blocked, 1 attack succeeded,
 * 2 something else happened. demo/run.sh runs it with and without pinning. */
#include "kit.h"
#include "crpin.h"
#include "rop_attack.h"

static const char *onoff(bool on) { return on ? "ON" : "OFF"; }

int main(struct mb_info *mbi)
{
    u64 cr4, cr4p = 0;
    bool pinned;
    int vec;

    (void)mbi;
    printf("\n[kernel]   turning on SMEP: kernel mode may not execute user pages\n");
    if (!cpuid_bit(7, 0, 'b', CPUID_7_EBX_SMEP)) {
        printf("[kernel]   this CPU has no SMEP\n");
        return 2;
    }
    write_cr4(read_cr4() | X86_CR4_SMEP);
    cr4 = read_cr4();
    printf("[kernel]   asking the hypervisor to pin SMEP:\n           ");
    pinned = crpin_pin_this_cpu(NULL, &cr4p) == 0 && (cr4p & X86_CR4_SMEP);

    printf("[attacker] overwrote a kernel stack; pivots it to a ROP chain:\n");
    printf("[attacker]   1. pop %%rax; ret         rax = 0x%llx (CR4 without SMEP)\n",
           (unsigned long long)(cr4 & ~X86_CR4_SMEP));
    printf("[attacker]   2. mov %%rax,%%cr4; ret    in kernel text at 0x%llx\n",
           (unsigned long long)(u64)gadget_mov_cr4);
    printf("[attacker]   3. ret                   into the payload at 0x%llx, a user page\n",
           (unsigned long long)(u64)payload);
    const u64 attack[] = {
        (u64)gadget_pop_rax, cr4 & ~X86_CR4_SMEP, (u64)gadget_mov_cr4,
        (u64)payload, (u64)rop_done,
    };
    vec = run_chain(attack, ARRAY_SIZE(attack));

    if (vec == GP_VECTOR && ex_last.rip == (u64)gadget_mov_cr4) {
        printf("[cpu]      step 2 BLOCKED: #GP(%llu) at 0x%llx, CR4 unchanged\n",
               (unsigned long long)exception_error_code(),
               (unsigned long long)ex_last.rip);
        printf("[kernel]   SMEP is still %s\n", onoff(read_cr4() & X86_CR4_SMEP));
        printf("[attacker] jumps to the user page anyway ...\n");
        const u64 jump[] = { (u64)payload, (u64)rop_done };
        vec = run_chain(jump, ARRAY_SIZE(jump));
        if (vec == PF_VECTOR && (exception_error_code() & PFERR_I) && !payload_ran) {
            printf("[cpu]      SMEP: #PF on instruction fetch at 0x%llx (error code 0x%llx)\n",
                   (unsigned long long)ex_last.cr2,
                   (unsigned long long)exception_error_code());
            printf("RESULT: attack BLOCKED. SMEP stayed on; the user page was never "
                   "executed.\n");
            return 0;
        }
        printf("RESULT: unexpected: vector %d, payload ran: %d\n", vec, (int)payload_ran);
        return 2;
    }
    if (vec == -1 && payload_ran && !(read_cr4() & X86_CR4_SMEP)) {
        printf("[cpu]      step 2 went through: SMEP is now %s\n",
               onoff(read_cr4() & X86_CR4_SMEP));
        printf("[attacker] payload ran in kernel mode from the user page\n");
        printf("RESULT: attack SUCCEEDED%s.\n",
               pinned ? " despite pinning (a pinvm bug!)" : " (no CR pinning)");
        write_cr4(cr4);
        return 1;
    }
    printf("RESULT: unexpected: vector %d, payload ran: %d\n", vec, (int)payload_ran);
    return 2;
}
