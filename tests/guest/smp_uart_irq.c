// @pinvm-args: -smp 2
// @qemu-args: -smp 2
/* COM1's interrupt (IRQ4) through the I/O APIC (input 4): the transmitter
 * holding register empty interrupt (16550: IER bit 1), edge-triggered to
 * the BSP, then level-triggered to the AP (Remote IRR until the EOI),
 * read back through IIR. Nothing is printed while IER is on. */
#include "kit.h"
#include "smp.h"

#define IOAPIC ((volatile u32 *)0xfec00000ul)
#define VEC 0x44
#define COM1 0x3f8

static volatile u32 hits[SMP_MAX_CPUS], iir_thre[SMP_MAX_CPUS], ap_go, ap_ok;

static void ioapic_write(u32 reg, u32 v)
{
    IOAPIC[0] = reg;
    IOAPIC[4] = v;
}

static u32 ioapic_read(u32 reg)
{
    IOAPIC[0] = reg;
    return IOAPIC[4];
}

static void route(u32 dest, bool level)
{
    ioapic_write(0x10 + 2 * 4 + 1, dest << 24);
    ioapic_write(0x10 + 2 * 4, VEC | (level ? 1u << 15 : 0));
}

static void on_uart(struct ex_regs *r)
{
    (void)r;
    u32 cpu = apic_id();
    u8 iir = inb(COM1 + 2); /* reading IIR clears the THRE interrupt */
    if (cpu < SMP_MAX_CPUS) {
        if ((iir & 0x0f) == 0x02)
            iir_thre[cpu]++;
        __atomic_fetch_add(&hits[cpu], 1, __ATOMIC_SEQ_CST);
    }
    apic_eoi();
}

static void ap_main(int cpu, void *arg)
{
    (void)arg;
    apic_enable();
    smp_wait_u32(&ap_go, 1);
    outb(COM1 + 1, 0x02); /* IER: THRE */
    while (__atomic_load_n(&hits[cpu], __ATOMIC_ACQUIRE) < 1)
        asm volatile("sti; hlt; cli" ::: "memory");
    outb(COM1 + 1, 0);
    ap_ok = 1;
}

int main(struct mb_info *mbi)
{
    (void)mbi;
    handle_exception(VEC, on_uart);
    apic_enable();
    outb(0x21, 0xff); /* 8259s masked: the I/O APIC only */
    outb(0xa1, 0xff);

    route(0, false);
    outb(COM1 + 1, 0x02); /* IER: THRE; the THR is empty: IRQ4 rises */
    while (hits[0] < 1)
        asm volatile("sti; hlt; cli" ::: "memory");
    outb(COM1 + 1, 0);
    report(hits[0] >= 1 && iir_thre[0] >= 1,
           "THRE interrupt reaches the BSP through I/O APIC input 4 (IIR says THRE)");

    report(smp_start_ap(1, 1, ap_main, NULL) == 0, "AP up");
    route(1, true);
    __atomic_store_n(&ap_go, 1, __ATOMIC_RELEASE);
    report(smp_wait_u32(&ap_ok, 1), "level-triggered, routed to the AP: taken there");
    report(iir_thre[1] >= 1, "the AP read THRE from IIR");
    report(!(ioapic_read(0x10 + 2 * 4) & (1u << 14)), "Remote IRR clear after the AP's EOI");
    ioapic_write(0x10 + 2 * 4, VEC | APIC_LVT_MASKED);
    return report_summary();
}
