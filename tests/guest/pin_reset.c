// @reboot: on
/* Every reset clears the pins (the RFC: "userspace must clear pinned bits
 * on reboot"). Boot 1 pins SMEP and WP and resets through the reset
 * control register (0xCF9). Boot 2, told apart by a marker in RAM outside
 * the kernel image (RAM survives a reset; -kernel reloads the image), sets
 * and clears SMEP and WP, which a leftover pin would refuse. */
#include "kit.h"
#include "crpin.h"

/* 32 MiB: above the kernel image and the kit's pools, inside the 4 GiB
 * identity map and the default 128 MiB of RAM. */
#define MARKER_ADDR 0x2000000ull
#define MARKER_MAGIC 0x50494e5245534554ull /* "PINRESET" */

struct marker {
    u64 magic;
    u64 boots;
};

static void reset_via_cf9(void)
{
    /* Reset control register: bit 1 = system reset, bit 2 = do it; the
     * 0 -> 1 edge of bit 2 triggers (PIIX3/ICH datasheets). */
    outb(0xcf9, 0x02);
    outb(0xcf9, 0x06);
    for (;;)
        hlt();
}

int main(struct mb_info *mbi)
{
    volatile struct marker *m = (volatile struct marker *)MARKER_ADDR;
    u64 cr4p = 0, cr0p = 0, cr4;

    (void)mbi;
    if (m->magic != MARKER_MAGIC) {
        m->magic = MARKER_MAGIC;
        m->boots = 1;
        write_cr0(read_cr0() | X86_CR0_WP);
        write_cr4(read_cr4() | X86_CR4_SMEP);
        if (crpin_pin_this_cpu(&cr0p, &cr4p) != 0 || !(cr4p & X86_CR4_SMEP) ||
            !(cr0p & X86_CR0_WP)) {
            m->magic = 0;
            report(false, "boot 1: pin SMEP and WP");
            return report_summary();
        }
        report(write_cr4_safe(read_cr4() & ~X86_CR4_SMEP) == GP_VECTOR,
               "boot 1: SMEP pinned; resetting via 0xCF9");
        reset_via_cf9();
    }

    m->boots++;
    m->magic = 0; /* a third boot would start over, not loop */
    report(m->boots == 2, "boot 2 after one reset (boots=%llu)",
           (unsigned long long)m->boots);
    cr4 = read_cr4();
    report(write_cr4_safe(cr4 | X86_CR4_SMEP) < 0 && (read_cr4() & X86_CR4_SMEP),
           "boot 2: SMEP sets");
    report(write_cr4_safe(cr4 & ~X86_CR4_SMEP) < 0 && !(read_cr4() & X86_CR4_SMEP),
           "boot 2: SMEP clears (pins were reset)");
    report(write_cr0_safe(read_cr0() | X86_CR0_WP) < 0 &&
           write_cr0_safe(read_cr0() & ~X86_CR0_WP) < 0 && !(read_cr0() & X86_CR0_WP),
           "boot 2: WP sets and clears");
    write_cr0(read_cr0() | X86_CR0_WP);
    /* and the guest can pin again on the new boot */
    write_cr4(cr4 | X86_CR4_SMEP);
    report(crpin_pin_this_cpu(NULL, NULL) == 0 &&
           write_cr4_safe(cr4 & ~X86_CR4_SMEP) == GP_VECTOR, "boot 2: pinning works again");
    return report_summary();
}
