/* snap_pin: the migration round trip's guest (tests/snapshot/test_snapshot.py).
 *
 * Pins CR4.SMEP (and CR0.WP) with the RFC's MSRs, then tries ATTEMPTS times
 * to clear SMEP, counting the #GPs. The host migrates it midway; the
 * restored process must finish the loop with every attempt blocked: a
 * single successful write means a pin was lost on the way. Progress lines
 * tell the host when it is midway. Exits with SNAP_PIN_DONE when all were
 * blocked, EXIT_ABORT otherwise. Not a tests/guest kernel: it is driven
 * over QMP.
 *
 * With -smp 2 or more, AP 1 pins SMEP and WP on its own and parks: its
 * pins must cross the migration as well (the host compares query-cr-pins).
 * It does not hammer CR4 itself: the kit's exception record (ex_last) is
 * shared by all CPUs, so two CPUs catching #GP at once would race. */
#include "kit.h"
#include "crpin.h"
#include "smp.h"

#define ATTEMPTS 800000ull
#define SNAP_PIN_DONE 0x21

static volatile u32 ap_pinned;

static void ap_pin(int cpu, void *arg)
{
    (void)cpu;
    (void)arg;
    write_cr4(read_cr4() | X86_CR4_SMEP);
    if (crpin_pin_this_cpu(NULL, NULL) == 0)
        __atomic_store_n(&ap_pinned, 1, __ATOMIC_RELEASE);
}

int main(struct mb_info *mbi)
{
    u64 cr0p = 0, cr4p = 0, gps = 0, cr4;
    int r;
    bool smp = smp_cpu_count() > 1;

    (void)mbi;
    write_cr4(read_cr4() | X86_CR4_SMEP);
    r = crpin_pin_this_cpu(&cr0p, &cr4p);
    if (r != 0 || !(cr4p & X86_CR4_SMEP)) {
        printf("snap_pin: cannot pin SMEP (%d)\n", r);
        exit(EXIT_ABORT);
    }
    if (smp && (smp_start_ap(1, 1, ap_pin, NULL) != 0 ||
                !smp_wait_u32(&ap_pinned, 1))) {
        printf("snap_pin: AP 1 did not pin itself\n");
        exit(EXIT_ABORT);
    }
    printf("snap_pin: pinned cr0=0x%llx cr4=0x%llx\n",
           (unsigned long long)cr0p, (unsigned long long)cr4p);
    for (u64 i = 1; i <= ATTEMPTS; i++) {
        cr4 = read_cr4();
        r = write_cr4_safe(cr4 & ~X86_CR4_SMEP);
        if (r == GP_VECTOR)
            gps++;
        else if (r < 0)
            write_cr4(read_cr4() | X86_CR4_SMEP); /* lost pin: go on counting */
        if (i % (ATTEMPTS / 16) == 0)
            printf("snap_pin: progress %llu/%llu blocked %llu\n",
                   (unsigned long long)i, (unsigned long long)ATTEMPTS,
                   (unsigned long long)gps);
    }
    printf("snap_pin: final %llu of %llu attempts blocked\n",
           (unsigned long long)gps, (unsigned long long)ATTEMPTS);
    exit(gps == ATTEMPTS ? SNAP_PIN_DONE : EXIT_ABORT);
}
