// @pinvm-args: -smp 2
// @qemu-args: -smp 2
/* A PC's timer interrupt path: the 8254 PIT's IRQ0 through the I/O APIC
 * (input 2, as the MADT's usual override says) to the BSP, then re-routed
 * to the AP by changing the redirection entry's destination, then through
 * the 8259 PIC and the BSP's LINT0 in ExtINT mode. HLT with IF=1 waits
 * for each tick. */
#include "kit.h"
#include "smp.h"

#define IOAPIC ((volatile u32 *)0xfec00000ul)
#define VEC_IOAPIC 0x38
#define PIC_BASE 0x20

static volatile u32 ticks[SMP_MAX_CPUS], pic_ticks, ap_go, ap_ok;

static u32 ioapic_read(u32 reg)
{
    IOAPIC[0] = reg;
    return IOAPIC[4];
}

static void ioapic_write(u32 reg, u32 v)
{
    IOAPIC[0] = reg;
    IOAPIC[4] = v;
}

static void route_irq0(u32 dest, bool masked)
{
    ioapic_write(0x10 + 2 * 2 + 1, dest << 24);
    ioapic_write(0x10 + 2 * 2, VEC_IOAPIC | (masked ? APIC_LVT_MASKED : 0));
}

static void on_ioapic(struct ex_regs *r)
{
    (void)r;
    u32 cpu = apic_id();
    if (cpu < SMP_MAX_CPUS)
        __atomic_fetch_add(&ticks[cpu], 1, __ATOMIC_SEQ_CST);
    apic_eoi();
}

static void on_pic(struct ex_regs *r)
{
    (void)r;
    pic_ticks++;
    outb(0x20, 0x20); /* non-specific EOI */
}

static void pit_periodic(u16 count)
{
    outb(0x43, 0x34); /* counter 0, lo/hi, mode 2 */
    outb(0x40, (u8)count);
    outb(0x40, (u8)(count >> 8));
}

static void ap_main(int cpu, void *arg)
{
    (void)arg;
    apic_enable();
    smp_wait_u32(&ap_go, 1);
    while (__atomic_load_n(&ticks[cpu], __ATOMIC_ACQUIRE) < 3)
        asm volatile("sti; hlt; cli" ::: "memory");
    ap_ok = 1;
}

int main(struct mb_info *mbi)
{
    (void)mbi;
    handle_exception(VEC_IOAPIC, on_ioapic);
    handle_exception(PIC_BASE + 0, on_pic);
    apic_enable();
    /* 8259s: remap to 0x20/0x28, everything masked for now. */
    outb(0x20, 0x11); outb(0x21, PIC_BASE); outb(0x21, 4); outb(0x21, 1);
    outb(0xa0, 0x11); outb(0xa1, PIC_BASE + 8); outb(0xa1, 2); outb(0xa1, 1);
    outb(0x21, 0xff);
    outb(0xa1, 0xff);

    u32 ver = ioapic_read(1);
    report(((ver >> 16) & 0xff) == 23, "I/O APIC: 24 redirection entries");
    report(ioapic_read(0x10 + 2 * 2) & APIC_LVT_MASKED, "input 2 starts masked");

    /* PIT -> I/O APIC input 2 -> BSP. */
    route_irq0(0, false);
    pit_periodic(1193); /* ~1 kHz */
    while (ticks[0] < 5)
        asm volatile("sti; hlt; cli" ::: "memory");
    report(ticks[0] >= 5, "PIT ticks reach the BSP through the I/O APIC");

    /* Re-route to the AP. */
    report(smp_start_ap(1, 1, ap_main, NULL) == 0, "AP up");
    route_irq0(1, false);
    sti();
    for (int i = 0; i < 1000; i++)
        cpu_relax();
    cli();
    u32 bsp = ticks[0];
    __atomic_store_n(&ap_go, 1, __ATOMIC_RELEASE);
    report(smp_wait_u32(&ap_ok, 1), "re-routed: PIT ticks reach the AP");
    sti();
    for (int i = 0; i < 1000; i++)
        cpu_relax();
    cli();
    report(ticks[0] == bsp, "and no longer the BSP");

    /* The 8259 path: I/O APIC input masked, PIC IR0 unmasked, LINT0 ExtINT. */
    route_irq0(0, true);
    apic_write(APIC_LVT0, 0x700); /* ExtINT */
    outb(0x21, 0xfe);
    while (pic_ticks < 3)
        asm volatile("sti; hlt; cli" ::: "memory");
    report(pic_ticks >= 3, "PIT ticks reach the BSP through the 8259 (ExtINT)");
    outb(0x21, 0xff);
    outb(0x43, 0x30); /* counter 0 back to mode 0, no count: stopped */
    return report_summary();
}
