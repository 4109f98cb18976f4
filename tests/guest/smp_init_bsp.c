// @reboot: on
// @pinvm-args: -smp 2
// @qemu-args: -smp 2
/* INIT sent to the BSP (here: by the BSP itself, by APIC ID): the BSP
 * restarts at the reset vector, which is the firmware's reboot path, so
 * the machine boots the kernel again (SeaBIOS on QEMU turns the soft
 * reboot into a hard one; pinvm resets the machine). The next boot, told
 * apart by a marker in RAM outside the kernel image, checks that the AP
 * is back in wait-for-SIPI (it can be started again). */
#include "kit.h"
#include "smp.h"

#define MARKER_ADDR 0x2000000ull
#define MARKER_MAGIC 0x534d50494e495430ull

struct marker {
    u64 magic;
    u64 boots;
};

static volatile u32 ran;

static void ap_main(int cpu, void *arg)
{
    (void)cpu;
    (void)arg;
    ran = 1;
}

int main(struct mb_info *mbi)
{
    (void)mbi;
    volatile struct marker *mk = (volatile struct marker *)MARKER_ADDR;
    if (mk->magic != MARKER_MAGIC) {
        mk->magic = MARKER_MAGIC;
        mk->boots = 1;
        printf("boot 1: start the AP, then INIT the BSP\n");
        report(smp_start_ap(1, 1, ap_main, NULL) == 0 && smp_wait_u32(&ran, 1),
               "AP runs");
        apic_send_ipi(0, APIC_DM_INIT | APIC_INT_ASSERT);
        for (long i = 0; i < 100000000; i++)
            cpu_relax();
        report(false, "INIT to the BSP did not restart it");
        return report_summary();
    }
    mk->boots++;
    printf("boot %lu\n", (unsigned long)mk->boots);
    report(mk->boots == 2, "INIT to the BSP rebooted the machine once");
    report(smp_start_ap(1, 1, ap_main, NULL) == 0 && smp_wait_u32(&ran, 1),
           "the AP starts again after the reboot");
    mk->magic = 0;
    return report_summary();
}
