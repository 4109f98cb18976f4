// @pinvm-args: -smp 2
// @qemu: skip
// (QEMU: SeaBIOS's SMI handler does not answer pinvm's APM commands)
/* SMM with two vCPUs (docs/smm.md): each vCPU has its own SMBASE (0x30000
 * and 0x30400, as firmware staggers them) and its own copy of the
 * built-in handler, so their save maps and SMI counts are separate; an
 * SMI IPI from the BSP's local APIC (ICR delivery mode SMI) enters SMM on
 * the AP, which then runs on with its state intact; the AP's SMRAM is
 * closed to the BSP. */
#include "kit.h"
#include "smp.h"

static volatile u32 ap_first, ap_ready, bsp_sent, ap_after, ap_cr_ok;

static u8 smi(u8 cmd)
{
    outb(0xb2, cmd);
    return inb(0xb3);
}

static void ap_main(int cpu, void *arg)
{
    (void)cpu;
    (void)arg;
    u64 cr0 = read_cr0(), cr4 = read_cr4(), cr3 = read_cr3();
    ap_first = smi(0x10);             /* the AP copy's first SMI */
    __atomic_store_n(&ap_ready, 1, __ATOMIC_SEQ_CST);
    smp_wait_u32(&bsp_sent, 1);
    for (volatile int k = 0; k < 1000; k++)
        ;                             /* the IPI's SMI is taken by now */
    ap_after = smi(0x10);             /* 3 if the IPI's SMI ran the handler */
    ap_cr_ok = read_cr0() == cr0 && read_cr4() == cr4 && read_cr3() == cr3;
}

int main(struct mb_info *mbi)
{
    (void)mbi;
    report(smp_cpu_count() == 2, "2 vCPUs");
    u8 b1 = smi(0x10);
    report(smp_start_ap(1, 1, ap_main, NULL) == 0, "AP started");
    report(smp_wait_u32(&ap_ready, 1), "AP took an SMI");
    report(ap_first == 1, "the AP's handler copy counts from 1 (%u)", ap_first);
    apic_send_ipi(1, APIC_DM_SMI);
    __atomic_store_n(&bsp_sent, 1, __ATOMIC_SEQ_CST);
    report(smp_wait_done(1), "AP done");
    report(ap_after == 3, "SMI IPI entered SMM on the AP (count %u)", ap_after);
    report(ap_cr_ok, "AP: CR0, CR3, CR4 intact after both SMIs");
    u8 b2 = smi(0x10);
    report(b2 == (u8)(b1 + 1), "the BSP's count is its own (%u then %u)", b1, b2);
    report(*(volatile u32 *)0x38400ul == 0xffffffffu, "the AP's handler is closed to the BSP");
    return report_summary();
}
