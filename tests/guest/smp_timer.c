// @pinvm-args: -smp 2
// @qemu-args: -smp 2
/* The local APIC timer (SDM Vol 3A 10.5.4): periodic and one-shot modes,
 * the current count, stopping by writing 0, a masked LVT (counts, no
 * interrupt), HLT with IF=1 waiting for the next tick instead of ending
 * the machine, and per-CPU timers (an AP's timer ticks the AP only). */
#include "kit.h"
#include "smp.h"

#define TIMER_VEC 0x70

static volatile u32 ticks[SMP_MAX_CPUS];
static volatile u32 ap_go, ap_result;

static void on_timer(struct ex_regs *r)
{
    (void)r;
    u32 cpu = apic_id();
    if (cpu < SMP_MAX_CPUS)
        __atomic_fetch_add(&ticks[cpu], 1, __ATOMIC_SEQ_CST);
    apic_eoi();
}

/* Let a tick that was already pending before a stop come in. */
static void drain(void)
{
    sti();
    for (int i = 0; i < 1000; i++)
        cpu_relax();
    cli();
}

/* HLT until this CPU has seen `want` ticks (IF=1 only inside). */
static void halt_until(int cpu, u32 want)
{
    while (__atomic_load_n(&ticks[cpu], __ATOMIC_ACQUIRE) < want)
        asm volatile("sti; hlt; cli" ::: "memory");
}

static void ap_main(int cpu, void *arg)
{
    (void)arg;
    apic_enable();
    smp_wait_u32(&ap_go, 1);
    apic_write(APIC_TDCR, 0x3); /* divide by 16 */
    apic_write(APIC_LVTT, APIC_LVT_PERIODIC | TIMER_VEC);
    apic_write(APIC_TMICT, 20000);
    halt_until(cpu, 3);
    apic_write(APIC_TMICT, 0);
    ap_result = ticks[cpu] >= 3;
}

int main(struct mb_info *mbi)
{
    (void)mbi;
    handle_exception(TIMER_VEC, on_timer);
    apic_enable();

    /* Periodic. */
    apic_write(APIC_TDCR, 0x3); /* divide by 16 */
    apic_write(APIC_LVTT, APIC_LVT_PERIODIC | TIMER_VEC);
    apic_write(APIC_TMICT, 10000);
    u32 cc = apic_read(APIC_TMCCT);
    report(cc > 0 && cc <= 10000, "current count runs below the initial count");
    halt_until(0, 5);
    report(ticks[0] >= 5, "periodic timer: 5 ticks, HLT waited for each");
    apic_write(APIC_TMICT, 0);
    report(apic_read(APIC_TMCCT) == 0, "writing 0 stops it (current count 0)");
    drain();
    u32 before = ticks[0];
    sti();
    for (int i = 0; i < 20000; i++)
        cpu_relax();
    cli();
    report(ticks[0] == before, "no tick after stopping");

    /* One-shot. */
    apic_write(APIC_LVTT, TIMER_VEC);
    apic_write(APIC_TMICT, 5000);
    halt_until(0, before + 1);
    report(apic_read(APIC_TMCCT) == 0, "one-shot: count stays at 0 after firing");
    sti();
    for (int i = 0; i < 20000; i++)
        cpu_relax();
    cli();
    report(ticks[0] == before + 1, "one-shot fires once");

    /* Masked: counts down, no interrupt. */
    apic_write(APIC_LVTT, APIC_LVT_MASKED | TIMER_VEC);
    apic_write(APIC_TDCR, 0xb); /* divide by 1 */
    apic_write(APIC_TMICT, 1000);
    sti();
    bool reached = false;
    for (long i = 0; i < 10000000 && !reached; i++)
        reached = apic_read(APIC_TMCCT) == 0;
    cli();
    report(reached, "masked timer counts down to 0");
    report(ticks[0] == before + 1, "masked timer raises no interrupt");

    /* The AP's own timer. */
    int up = smp_boot_aps(ap_main, NULL);
    report(up == 1, "AP up");
    u32 bsp_ticks = ticks[0];
    __atomic_store_n(&ap_go, 1, __ATOMIC_RELEASE);
    report(smp_wait_done(1), "AP finished");
    report(ap_result, "AP's periodic timer ticked the AP 3 times");
    report(ticks[0] == bsp_ticks, "and never the BSP");
    return report_summary();
}
