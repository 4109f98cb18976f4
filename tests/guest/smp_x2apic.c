// @pinvm-args: -smp 3
// @qemu-args: -smp 3
// Not on QEMU: QEMU 7.2 TCG does not implement x2APIC: CPUID.1:ECX[21] is clear with
// -cpu max ("TCG doesn't support requested feature").
// @qemu: skip
/* x2APIC mode (SDM Vol 3A 10.12) on 3 CPUs: each CPU switches its APIC
 * from xAPIC to x2APIC through IA32_APIC_BASE.EXTD and from then on uses
 * MSRs 0x800-0x8ff only: the 32-bit ID (0x802), the derived LDR (0x80D),
 * fixed IPIs through the 64-bit ICR (0x830) by physical ID, by logical
 * cluster/bitmap and with the all-but-self shorthand, SELF IPI (0x83F),
 * IRR/ISR/PPR, EOI. The #GP cases: x2APIC MSRs outside x2APIC mode,
 * write-only / reserved registers read, read-only ones written, non-zero
 * EOI and ESR writes, bits 63:32 of a 32-bit register, the illegal
 * IA32_APIC_BASE transitions (x2APIC -> xAPIC, disabled -> x2APIC,
 * EN=0 with EXTD=1). Only the BSP prints. */
#include "kit.h"
#include "smp.h"

#define X2_ID    0x802
#define X2_VER   0x803
#define X2_TPR   0x808
#define X2_PPR   0x80a
#define X2_EOI   0x80b
#define X2_LDR   0x80d
#define X2_DFR   0x80e /* not in x2APIC mode */
#define X2_SVR   0x80f
#define X2_ISR   0x810
#define X2_IRR   0x820
#define X2_ESR   0x828
#define X2_ICR   0x830
#define X2_ICR2  0x831 /* not in x2APIC mode */
#define X2_LVTT  0x832
#define X2_SELF  0x83f

#define BASE_EXTD (1ull << 10)
#define BASE_EN   (1ull << 11)

#define VEC_A    0x41
#define VEC_B    0x52
#define VEC_SELF 0x60

static volatile u32 hits[SMP_MAX_CPUS][256];
static volatile u32 ids[SMP_MAX_CPUS], ldrs[SMP_MAX_CPUS];
static volatile u32 ready, stop;
static volatile u32 isr_seen, ppr_seen;

static u32 x2_id(void) { return (u32)rdmsr(X2_ID); }

static void on_vec(struct ex_regs *r)
{
    u32 cpu = x2_id();
    if (cpu < SMP_MAX_CPUS)
        __atomic_fetch_add(&hits[cpu][r->vector & 0xff], 1, __ATOMIC_SEQ_CST);
    if (r->vector == VEC_SELF) {
        isr_seen = (u32)rdmsr(X2_ISR + VEC_SELF / 32) & (1u << (VEC_SELF % 32));
        ppr_seen = (u32)rdmsr(X2_PPR) & 0xf0;
    }
    wrmsr(X2_EOI, 0);
}

static void enable_x2apic(void)
{
    wrmsr(MSR_IA32_APICBASE, rdmsr(MSR_IA32_APICBASE) | BASE_EXTD);
    wrmsr(X2_SVR, 0x1ff);
}

static void ap_main(int cpu, void *arg)
{
    (void)arg;
    apic_enable();
    enable_x2apic();
    ids[cpu] = x2_id();
    ldrs[cpu] = (u32)rdmsr(X2_LDR);
    __atomic_fetch_add(&ready, 1, __ATOMIC_SEQ_CST);
    while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE))
        asm volatile("sti; hlt; cli" ::: "memory");
}

static bool wait_hits(int cpu, int vec, u32 want)
{
    return smp_wait_u32(&hits[cpu][vec], want);
}

static void x2_ipi(u32 dest, u32 lo)
{
    wrmsr(X2_ICR, (u64)dest << 32 | lo);
}

int main(struct mb_info *mbi)
{
    (void)mbi;
    u64 v;
    u32 ecx = cpuid(1).c;
    report(ecx & (1u << 21), "CPUID.1:ECX.x2APIC[21] set");
    report(smp_cpu_count() == 3, "3 CPUs");
    handle_exception(VEC_A, on_vec);
    handle_exception(VEC_B, on_vec);
    handle_exception(VEC_SELF, on_vec);
    apic_enable();

    /* Still in xAPIC mode: the x2APIC MSRs do not exist. */
    report(rdmsr_safe(X2_ID, &v) == GP_VECTOR, "RDMSR 0x802 in xAPIC mode: #GP");
    report(wrmsr_safe(X2_EOI, 0) == GP_VECTOR, "WRMSR 0x80B in xAPIC mode: #GP");
    u64 base = rdmsr(MSR_IA32_APICBASE);
    report(wrmsr_safe(MSR_IA32_APICBASE, (base & ~BASE_EN) | BASE_EXTD) == GP_VECTOR,
           "IA32_APIC_BASE EN=0 EXTD=1 (invalid): #GP");

    int up = smp_boot_aps(ap_main, NULL);
    report(up == 2, "2 APs up");
    report(smp_wait_u32(&ready, 2), "APs switched to x2APIC mode");
    report(ids[1] == 1 && ids[2] == 2, "AP x2APIC IDs via MSR 0x802: %u %u", ids[1], ids[2]);
    report(ldrs[1] == 0x2 && ldrs[2] == 0x4, "AP LDRs: cluster 0, bits 1 and 2 (0x%x 0x%x)",
           ldrs[1], ldrs[2]);

    enable_x2apic();
    report(rdmsr(MSR_IA32_APICBASE) & BASE_EXTD, "BSP in x2APIC mode (EXTD reads 1)");
    report(x2_id() == 0 && rdmsr(X2_LDR) == 1, "BSP ID 0, LDR 1");
    report((rdmsr(X2_VER) & 0xff) == 0x14, "version register via MSR 0x803");
    report(apic_read(APIC_ID) == 0xffffffffu, "the MMIO page is not decoded any more");

    /* Fixed IPIs by 32-bit physical destination. */
    bool ok = true;
    for (int cpu = 1; cpu <= 2; cpu++) {
        x2_ipi((u32)cpu, APIC_DM_FIXED | VEC_A);
        ok &= wait_hits(cpu, VEC_A, 1);
    }
    report(ok, "fixed IPI via MSR 0x830 wakes each halted AP");
    report(hits[0][VEC_A] == 0 && hits[1][VEC_A] == 1 && hits[2][VEC_A] == 1,
           "only the addressed CPU takes it");
    report((u32)(rdmsr(X2_ICR) >> 32) == 2 && ((u32)rdmsr(X2_ICR) & 0xff) == VEC_A,
           "ICR reads back with the destination in bits 63:32");

    /* Logical: cluster 0, bitmap 0x4 -> CPU 2 only. */
    x2_ipi(0x00000004, APIC_DM_FIXED | APIC_DEST_LOGICAL | VEC_B);
    report(wait_hits(2, VEC_B, 1), "logical cluster 0 bitmap 0x4 reaches CPU 2");
    /* A cluster nobody is in. */
    x2_ipi(0x00010006, APIC_DM_FIXED | APIC_DEST_LOGICAL | VEC_B);
    /* All excluding self. */
    x2_ipi(0, APIC_DM_FIXED | APIC_DEST_OTHERS | VEC_B);
    report(wait_hits(1, VEC_B, 1) && wait_hits(2, VEC_B, 2), "all-excluding-self reaches both APs");
    report(hits[1][VEC_B] == 1 && hits[0][VEC_B] == 0, "cluster 1 matched nobody; the sender skipped");

    /* SELF IPI with IF=0: waits in IRR, taken after STI, in service in
     * the handler, retired by EOI. */
    cli();
    wrmsr(X2_SELF, VEC_SELF);
    report((u32)rdmsr(X2_IRR + VEC_SELF / 32) & (1u << (VEC_SELF % 32)),
           "SELF IPI (MSR 0x83F) with IF=0 waits in IRR");
    sti();
    report(wait_hits(0, VEC_SELF, 1), "taken after STI");
    cli();
    report(isr_seen && ppr_seen == (VEC_SELF & 0xf0), "in service in the handler (PPR 0x%x)", ppr_seen);
    report(!((u32)rdmsr(X2_ISR + VEC_SELF / 32) & (1u << (VEC_SELF % 32))) &&
           rdmsr(X2_PPR) == 0, "EOI via MSR 0x80B retired it");

    /* TPR through MSR 0x808. */
    wrmsr(X2_TPR, 0x30);
    report(rdmsr(X2_TPR) == 0x30 && rdmsr(X2_PPR) == 0x30, "TPR/PPR via MSRs");
    wrmsr(X2_TPR, 0);

    /* #GP cases (SDM 10.12.1.2, table 10-6). */
    report(wrmsr_safe(X2_EOI, 1) == GP_VECTOR, "non-zero EOI write: #GP");
    report(wrmsr_safe(X2_ESR, 1) == GP_VECTOR, "non-zero ESR write: #GP");
    report(wrmsr_safe(X2_ESR, 0) < 0, "zero ESR write: fine");
    report(rdmsr_safe(X2_EOI, &v) == GP_VECTOR, "EOI read (write-only): #GP");
    report(rdmsr_safe(X2_SELF, &v) == GP_VECTOR, "SELF IPI read (write-only): #GP");
    report(rdmsr_safe(X2_DFR, &v) == GP_VECTOR && rdmsr_safe(X2_ICR2, &v) == GP_VECTOR &&
           rdmsr_safe(0x8ff, &v) == GP_VECTOR, "DFR, ICR high, 0x8FF (not in x2APIC): #GP");
    report(wrmsr_safe(X2_ID, 5) == GP_VECTOR && wrmsr_safe(X2_LDR, 5) == GP_VECTOR &&
           wrmsr_safe(X2_PPR, 0) == GP_VECTOR, "ID, LDR, PPR writes (read-only): #GP");
    report(wrmsr_safe(X2_TPR, 1ull << 32) == GP_VECTOR, "bits 63:32 of TPR: #GP");
    report(wrmsr_safe(X2_SELF, 0x100 | VEC_SELF) == GP_VECTOR, "reserved SELF IPI bits: #GP");
    report(hits[0][VEC_SELF] == 1, "and it sent nothing");

    /* IA32_APIC_BASE transitions (figure 10-27). */
    base = rdmsr(MSR_IA32_APICBASE);
    report(wrmsr_safe(MSR_IA32_APICBASE, base & ~BASE_EXTD) == GP_VECTOR,
           "x2APIC -> xAPIC directly: #GP");
    report(rdmsr(MSR_IA32_APICBASE) == base, "still in x2APIC mode");
    __atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
    x2_ipi(0, APIC_DM_FIXED | APIC_DEST_OTHERS | VEC_A); /* wake the APs to stop */
    report(wrmsr_safe(MSR_IA32_APICBASE, base & ~(BASE_EXTD | BASE_EN)) < 0,
           "x2APIC -> disabled: fine");
    report(rdmsr_safe(X2_ID, &v) == GP_VECTOR, "disabled: MSR 0x802 #GP");
    report(wrmsr_safe(MSR_IA32_APICBASE, base) == GP_VECTOR, "disabled -> x2APIC: #GP");
    report(wrmsr_safe(MSR_IA32_APICBASE, base & ~BASE_EXTD) < 0, "disabled -> xAPIC: fine");
    report(apic_read(APIC_ID) == 0, "xAPIC again: MMIO ID register 0");
    report(wrmsr_safe(MSR_IA32_APICBASE, base) < 0 && x2_id() == 0, "xAPIC -> x2APIC again");
    return report_summary();
}
