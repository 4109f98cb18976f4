// @pinvm-args: -smp 2
/* INIT and SIPI against pins (docs/cr-pinning.md, decision (b)).
 *
 * 1. Offline/online: AP 1 comes up, sets SMEP and UMIP and pins them
 *    (crpin_pin_this_cpu() on the AP). The BSP takes it offline with INIT
 *    and online again with INIT-SIPI-SIPI: the AP restarts in real mode
 *    with paging off (the trampoline runs again), its pins are gone (it
 *    can flip SMEP), and it pins itself again, after which clearing SMEP
 *    is #GP once more.
 * 2. The attack: a kernel hijack on the BSP that can write low memory and
 *    the ICR sends INIT + SIPI to the pinned AP 1 with startup code of its
 *    choosing (here the kit's trampoline stands in for it: any real-mode
 *    code below 1 MiB would do). INIT clears AP 1's pins, so the
 *    attacker's code runs on AP 1 with paging on and SMEP clear. pinvm
 *    cannot stop this with decision (b): this test DOCUMENTS THE RESIDUAL
 *    RISK (its lines say RESIDUAL RISK) and checks what still holds: the
 *    other vCPU's pins are untouched, and the attacker's code never gets
 *    to clear a pin on a CPU that still has it. */
#include "kit.h"
#include "crpin.h"
#include "smp.h"

#define PIN4 (X86_CR4_SMEP | X86_CR4_UMIP)

static volatile u32 pinned, stop_loop;
static volatile int r_clr_before, r_cr4_entry, r_clr_free, r_set_free,
    r_clr_repinned;
static volatile u64 r_cr0_attack, r_cr4_attack;
static volatile int r_attack_clr, r_attack_set;

/* The kernel's own AP bring-up: set the protections, pin, check. Then
 * sit in a kernel loop (the attack interrupts it with INIT). */
static void ap_online(int cpu, void *arg)
{
    (void)cpu;
    (void)arg;
    r_cr4_entry = read_cr4() == X86_CR4_PAE;
    r_set_free = write_cr4_safe(read_cr4() | X86_CR4_SMEP);
    r_clr_free = write_cr4_safe(read_cr4() & ~X86_CR4_SMEP);
    write_cr4(read_cr4() | PIN4);
    crpin_pin_this_cpu(NULL, NULL);
    r_clr_repinned = write_cr4_safe(read_cr4() & ~X86_CR4_SMEP);
    __atomic_store_n(&pinned, 1, __ATOMIC_RELEASE);
    while (!__atomic_load_n(&stop_loop, __ATOMIC_ACQUIRE))
        cpu_relax();
}

/* The attacker's code on AP 1 after INIT + SIPI. */
static void attacker(int cpu, void *arg)
{
    (void)cpu;
    (void)arg;
    r_cr0_attack = read_cr0();
    r_attack_set = write_cr4_safe(read_cr4() | X86_CR4_SMEP);
    r_attack_clr = write_cr4_safe(read_cr4() & ~X86_CR4_SMEP);
    r_cr4_attack = read_cr4();
}

int main(struct mb_info *mbi)
{
    (void)mbi;
    write_cr4(read_cr4() | PIN4);
    report(crpin_pin_this_cpu(NULL, NULL) == 0, "BSP pinned");

    /* ---- 1. online, offline, online ---- */
    int up = smp_start_ap(1, 1, ap_online, NULL);
    bool p = smp_wait_u32(&pinned, 1);
    report(up == 0 && p, "AP 1 up and pinned");
    report(r_clr_repinned == GP_VECTOR, "AP 1: clearing SMEP is #GP once pinned");

    smp_send_init(1); /* offline: AP 1 waits for SIPI */
    __atomic_store_n(&pinned, 0, __ATOMIC_RELEASE);
    r_cr4_entry = r_clr_free = r_set_free = r_clr_repinned = 0;
    up = smp_start_ap(1, 1, ap_online, NULL); /* INIT-SIPI-SIPI: online */
    p = smp_wait_u32(&pinned, 1);
    report(up == 0 && p, "AP 1 online again after INIT-SIPI-SIPI");
    report(r_cr4_entry, "AP 1 restarted from real mode: CR4 is the trampoline's (PAE only)");
    report(r_clr_free < 0 && r_set_free < 0,
           "INIT cleared AP 1's pins: SMEP can be set and cleared before re-pinning");
    report(r_clr_repinned == GP_VECTOR, "AP 1 re-pinned: clearing SMEP is #GP again");
    report(write_cr4_safe(read_cr4() & ~X86_CR4_SMEP) == GP_VECTOR,
           "the BSP's pins were not touched");

    /* ---- 2. the attack ---- */
    /* AP 1 is pinned and running kernel code (ap_online's loop). */
    report(smp_start_ap(1, 1, attacker, NULL) == 0 && smp_wait_done(1),
           "attacker: INIT + SIPI runs its startup code on pinned AP 1");
    bool paging = (r_cr0_attack & X86_CR0_PG) != 0;
    bool smep_off = !(r_cr4_attack & X86_CR4_SMEP);
    report(paging && smep_off && r_attack_set < 0 && r_attack_clr < 0,
           "RESIDUAL RISK (docs/cr-pinning.md (b)): after INIT + SIPI the "
           "attacker's code runs on AP 1 with paging on and SMEP clear; "
           "pinning does not stop this");
    report(write_cr4_safe(read_cr4() & ~X86_CR4_SMEP) == GP_VECTOR &&
           (read_cr4() & PIN4) == PIN4,
           "what still holds: the BSP's pins survive the attack on AP 1");
    return report_summary();
}
