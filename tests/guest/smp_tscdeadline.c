// @pinvm-args: -smp 2
// @qemu-args: -smp 2
// Not on QEMU: QEMU 7.2 TCG does not implement the TSC-deadline timer: CPUID.1:ECX[24] is clear with
// -cpu max ("TCG doesn't support requested feature").
// @qemu: skip
/* The LAPIC timer's TSC-deadline mode (SDM Vol 3A 10.5.4.1): LVT timer
 * mode 10b, IA32_TSC_DEADLINE (MSR 0x6E0). Arming a deadline and HLT with
 * IF=1: the interrupt arrives, and then TSC >= the deadline; the MSR
 * reads the armed value, 0 after firing; writing 0 disarms; a deadline in
 * the past fires at once; writes are ignored (reads 0) in one-shot mode,
 * and the initial-count register is ignored in TSC-deadline mode; a mode
 * change disarms. The AP runs its own deadline timer too. */
#include "kit.h"
#include "smp.h"

#define MSR_TSC_DEADLINE 0x6e0
#define LVT_TSC_DEADLINE (2u << 17)
#define TIMER_VEC 0x70

static volatile u32 ticks[SMP_MAX_CPUS];
static volatile u64 tsc_at_irq[SMP_MAX_CPUS];
static volatile u32 ap_ok;

static void on_timer(struct ex_regs *r)
{
    (void)r;
    u32 cpu = apic_id();
    if (cpu < SMP_MAX_CPUS) {
        tsc_at_irq[cpu] = rdtsc();
        __atomic_fetch_add(&ticks[cpu], 1, __ATOMIC_SEQ_CST);
    }
    apic_eoi();
}

static void halt_until(int cpu, u32 want)
{
    while (__atomic_load_n(&ticks[cpu], __ATOMIC_ACQUIRE) < want)
        asm volatile("sti; hlt; cli" ::: "memory");
}

/* Spin with IF=1 for a while (lets a pending interrupt in). */
static void spin_open(int n)
{
    sti();
    for (int i = 0; i < n; i++)
        cpu_relax();
    cli();
}

static void ap_main(int cpu, void *arg)
{
    (void)arg;
    apic_enable();
    apic_write(APIC_LVTT, LVT_TSC_DEADLINE | TIMER_VEC);
    u64 dl = rdtsc() + 300000;
    wrmsr(MSR_TSC_DEADLINE, dl);
    halt_until(cpu, 1);
    ap_ok = tsc_at_irq[cpu] >= dl && rdmsr(MSR_TSC_DEADLINE) == 0;
}

int main(struct mb_info *mbi)
{
    (void)mbi;
    report(cpuid(1).c & (1u << 24), "CPUID.1:ECX.TSC-deadline[24] set");
    handle_exception(TIMER_VEC, on_timer);
    apic_enable();

    /* One-shot mode: the MSR ignores writes and reads 0. */
    apic_write(APIC_LVTT, TIMER_VEC);
    wrmsr(MSR_TSC_DEADLINE, rdtsc() + 1000);
    report(rdmsr(MSR_TSC_DEADLINE) == 0, "one-shot mode: IA32_TSC_DEADLINE write ignored, reads 0");

    /* Arm, read back, HLT: the interrupt comes, and TSC >= deadline. */
    apic_write(APIC_LVTT, LVT_TSC_DEADLINE | TIMER_VEC);
    report((apic_read(APIC_LVTT) & (3u << 17)) == LVT_TSC_DEADLINE, "LVT timer mode 10b sticks");
    u64 dl = rdtsc() + 1000000;
    wrmsr(MSR_TSC_DEADLINE, dl);
    report(rdmsr(MSR_TSC_DEADLINE) == dl, "the MSR reads the armed deadline");
    apic_write(APIC_TMICT, 5);
    report(apic_read(APIC_TMICT) == 0 && apic_read(APIC_TMCCT) == 0,
           "initial count ignored, current count 0 in TSC-deadline mode");
    halt_until(0, 1);
    report(ticks[0] == 1, "HLT with IF=1: the deadline interrupt arrived");
    report(tsc_at_irq[0] >= dl, "TSC >= deadline in the handler");
    report(rdmsr(MSR_TSC_DEADLINE) == 0, "the MSR reads 0 after firing");
    spin_open(20000);
    report(ticks[0] == 1, "fires once");

    /* Disarm with 0. */
    wrmsr(MSR_TSC_DEADLINE, rdtsc() + 2000);
    wrmsr(MSR_TSC_DEADLINE, 0);
    report(rdmsr(MSR_TSC_DEADLINE) == 0, "writing 0 disarms (reads 0)");
    u64 t0 = rdtsc();
    while (rdtsc() - t0 < 50000)
        spin_open(100);
    report(ticks[0] == 1, "no interrupt after disarming");

    /* A deadline already passed fires at once. */
    wrmsr(MSR_TSC_DEADLINE, 1);
    halt_until(0, 2);
    report(ticks[0] == 2, "a deadline in the past fires at once");

    /* Masked: fires (MSR back to 0) without an interrupt. */
    apic_write(APIC_LVTT, APIC_LVT_MASKED | LVT_TSC_DEADLINE | TIMER_VEC);
    dl = rdtsc() + 3000;
    wrmsr(MSR_TSC_DEADLINE, dl);
    t0 = rdtsc();
    while (rdtsc() - t0 < 200000 && rdmsr(MSR_TSC_DEADLINE))
        spin_open(100);
    report(rdmsr(MSR_TSC_DEADLINE) == 0 && rdtsc() >= dl, "masked: expires (MSR 0)");
    report(ticks[0] == 2, "masked: no interrupt");

    /* Changing mode disarms. */
    apic_write(APIC_LVTT, LVT_TSC_DEADLINE | TIMER_VEC);
    wrmsr(MSR_TSC_DEADLINE, rdtsc() + 5000);
    apic_write(APIC_LVTT, TIMER_VEC);
    apic_write(APIC_LVTT, LVT_TSC_DEADLINE | TIMER_VEC);
    report(rdmsr(MSR_TSC_DEADLINE) == 0, "a mode change disarms the deadline");
    t0 = rdtsc();
    while (rdtsc() - t0 < 50000)
        spin_open(100);
    report(ticks[0] == 2, "and nothing fires");

    /* The AP's own deadline timer, while the BSP waits. */
    int up = smp_boot_aps(ap_main, NULL);
    report(up == 1, "AP up");
    report(smp_wait_done(1), "AP finished");
    report(ap_ok, "AP's deadline interrupt came at TSC >= deadline, MSR 0 after");
    report(ticks[0] == 2, "and never to the BSP");
    return report_summary();
}
