/* pin_loop: a guest that keeps trying to clear a pinned CR4.SMEP until the
 * host unpins it through QMP (set-cr-pins), for tests/qmp/test_qmp.py.
 *
 * Boot: set SMEP, pin it (and WP) with the RFC's MSRs. Loop: MOV to CR4
 * without SMEP; each #GP is a blocked write (an audit record, and a
 * CR_PIN_VIOLATION event within the rate limit). Progress goes to COM1 at
 * every power of two. When a write succeeds, the host has cleared the pin:
 * say so and exit with PIN_LOOP_DONE, i.e. pinvm's status (0x10 << 1) | 1.
 * Not a tests/guest kernel: on its own it never ends. */
#include "kit.h"
#include "crpin.h"

#define PIN_LOOP_DONE 0x10

int main(struct mb_info *mbi)
{
    u64 cr0p = 0, cr4p = 0, gps = 0, next = 1, cr4;
    int r;

    (void)mbi;
    /* After a host system_reset this runs again: these writes must not be
     * blocked by pins from the previous boot. */
    write_cr4(read_cr4() | X86_CR4_SMEP);
    r = crpin_pin_this_cpu(&cr0p, &cr4p);
    if (r != 0 || !(cr4p & X86_CR4_SMEP)) {
        printf("pin_loop: cannot pin SMEP (%d)\n", r);
        exit(EXIT_ABORT);
    }
    printf("pin_loop: pinned cr0=0x%llx cr4=0x%llx\n",
           (unsigned long long)cr0p, (unsigned long long)cr4p);
    for (;;) {
        cr4 = read_cr4();
        r = write_cr4_safe(cr4 & ~X86_CR4_SMEP);
        if (r < 0)
            break;
        if (r != GP_VECTOR) {
            printf("pin_loop: unexpected vector %d\n", r);
            exit(EXIT_ABORT);
        }
        if (++gps == next) {
            printf("pin_loop: %llu #GP\n", (unsigned long long)gps);
            next <<= 1;
        }
    }
    printf("pin_loop: SMEP cleared after %llu #GP\n", (unsigned long long)gps);
    exit(PIN_LOOP_DONE);
}
