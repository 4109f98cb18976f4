/* snap_pin: the migration round trip's guest (tests/snapshot/test_snapshot.py).
 *
 * Pins CR4.SMEP (and CR0.WP) with the RFC's MSRs, then tries ATTEMPTS times
 * to clear SMEP, counting the #GPs. The host migrates it midway; the
 * restored process must finish the loop with every attempt blocked: a
 * single successful write means a pin was lost on the way. Progress lines
 * tell the host when it is midway. Exits with SNAP_PIN_DONE when all were
 * blocked, EXIT_ABORT otherwise. Not a tests/guest kernel: it is driven
 * over QMP. */
#include "kit.h"
#include "crpin.h"

#define ATTEMPTS 400000ull
#define SNAP_PIN_DONE 0x21

int main(struct mb_info *mbi)
{
    u64 cr0p = 0, cr4p = 0, gps = 0, cr4;
    int r;

    (void)mbi;
    write_cr4(read_cr4() | X86_CR4_SMEP);
    r = crpin_pin_this_cpu(&cr0p, &cr4p);
    if (r != 0 || !(cr4p & X86_CR4_SMEP)) {
        printf("snap_pin: cannot pin SMEP (%d)\n", r);
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
