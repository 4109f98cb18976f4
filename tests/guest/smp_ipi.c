// @pinvm-args: -smp 4
// @qemu-args: -smp 4
/* IPIs between 4 CPUs through the xAPIC ICR (SDM Vol 3A 10.6): fixed
 * interrupts to one CPU by physical APIC ID, to a set by logical (flat)
 * destination, the all-excluding-self and self shorthands, NMI; an AP in
 * HLT with IF=1 wakes for each. On the BSP: IRR/ISR/PPR as the interrupt
 * is pending, in service and retired by EOI, and TPR holding back a
 * lower-class vector (10.8.3.1). Only the BSP prints. */
#include "kit.h"
#include "smp.h"

#define VEC_A 0x41
#define VEC_B 0x52
#define VEC_LOW 0x55
#define VEC_SELF 0x60

static volatile u32 hits[SMP_MAX_CPUS][256 / 32 * 32];
static volatile u32 nmis[SMP_MAX_CPUS];
static volatile u32 ready, stop;
static volatile u32 isr_seen, ppr_seen;

static int this_cpu(void) { return (int)apic_id(); }

static void on_vec(struct ex_regs *r)
{
    int cpu = this_cpu();
    if (cpu < SMP_MAX_CPUS)
        __atomic_fetch_add(&hits[cpu][r->vector & 0xff], 1, __ATOMIC_SEQ_CST);
    if (r->vector == VEC_SELF) {
        isr_seen = apic_read(APIC_ISR + 0x10 * (VEC_SELF / 32)) & (1u << (VEC_SELF % 32));
        ppr_seen = apic_read(APIC_PPR) & 0xf0;
    }
    apic_eoi();
}

static void on_nmi(struct ex_regs *r)
{
    (void)r;
    int cpu = this_cpu();
    if (cpu < SMP_MAX_CPUS)
        __atomic_fetch_add(&nmis[cpu], 1, __ATOMIC_SEQ_CST);
}

static void ap_main(int cpu, void *arg)
{
    (void)arg;
    apic_enable();
    apic_write(APIC_DFR, 0xffffffff);         /* flat model */
    apic_write(APIC_LDR, (1u << cpu) << 24);  /* logical ID: one bit */
    __atomic_fetch_add(&ready, 1, __ATOMIC_SEQ_CST);
    /* Wait for interrupts in HLT: STI;HLT has no window (the STI shadow). */
    while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE))
        asm volatile("sti; hlt; cli" ::: "memory");
}

static bool wait_hits(int cpu, int vec, u32 want)
{
    return smp_wait_u32(&hits[cpu][vec], want);
}

int main(struct mb_info *mbi)
{
    (void)mbi;
    int n = smp_cpu_count();
    report(n == 4, "4 CPUs");
    handle_exception(VEC_A, on_vec);
    handle_exception(VEC_B, on_vec);
    handle_exception(VEC_LOW, on_vec);
    handle_exception(VEC_SELF, on_vec);
    handle_exception(NMI_VECTOR, on_nmi);
    apic_enable();

    int up = smp_boot_aps(ap_main, NULL);
    report(up == 3, "3 APs up");
    report(smp_wait_u32(&ready, 3), "APs enabled their APICs");

    /* Fixed, physical destination: each AP in turn. */
    bool ok = true;
    for (int cpu = 1; cpu < n; cpu++) {
        apic_send_ipi((u32)cpu, APIC_DM_FIXED | VEC_A);
        ok &= wait_hits(cpu, VEC_A, 1);
    }
    report(ok, "fixed IPI by APIC ID wakes each halted AP");
    report(hits[0][VEC_A] == 0 && hits[2][VEC_A] == 1, "only the addressed CPU takes it");

    /* All excluding self. */
    apic_send_ipi(0, APIC_DM_FIXED | APIC_DEST_OTHERS | VEC_B);
    ok = true;
    for (int cpu = 1; cpu < n; cpu++)
        ok &= wait_hits(cpu, VEC_B, 1);
    report(ok, "all-excluding-self reaches every AP");
    report(hits[0][VEC_B] == 0, "all-excluding-self skips the sender");

    /* Logical flat: CPUs 1 and 3 (LDR bits 1 and 3). */
    apic_send_ipi((1u << 1) | (1u << 3), APIC_DM_FIXED | APIC_DEST_LOGICAL | VEC_A);
    report(wait_hits(1, VEC_A, 2) && wait_hits(3, VEC_A, 2),
           "logical destination 0x0a reaches CPUs 1 and 3");

    /* NMI to CPU 2. */
    apic_send_ipi(2, APIC_DM_NMI);
    report(smp_wait_u32(&nmis[2], 1), "NMI IPI taken by CPU 2");
    report(hits[2][VEC_A] == 1 && nmis[1] == 0 && nmis[3] == 0,
           "the NMI went to CPU 2 only, and CPU 2 missed the logical IPI");

    /* Self IPI with IF=0: pending in IRR, taken after STI, in service
     * (ISR, PPR) inside the handler, retired by EOI. */
    cli();
    apic_send_ipi(0, APIC_DM_FIXED | APIC_DEST_SELF | VEC_SELF);
    u32 irr = apic_read(APIC_IRR + 0x10 * (VEC_SELF / 32));
    report(irr & (1u << (VEC_SELF % 32)), "self IPI with IF=0 waits in IRR");
    report(hits[0][VEC_SELF] == 0, "and is not taken");
    sti();
    report(wait_hits(0, VEC_SELF, 1), "taken after STI");
    cli();
    report(isr_seen && ppr_seen == (VEC_SELF & 0xf0), "in service during the handler (ISR bit, PPR 0x%x)", ppr_seen);
    report(!(apic_read(APIC_ISR + 0x10 * (VEC_SELF / 32)) & (1u << (VEC_SELF % 32))) &&
           (apic_read(APIC_PPR) & 0xf0) == 0, "EOI retired it (ISR clear, PPR 0)");

    /* TPR 0x60 holds back vector 0x55 (class 5) until lowered. */
    apic_write(APIC_TPR, 0x60);
    apic_send_ipi(0, APIC_DM_FIXED | APIC_DEST_SELF | VEC_LOW);
    sti();
    for (int i = 0; i < 10000; i++)
        cpu_relax();
    cli();
    report(hits[0][VEC_LOW] == 0, "TPR 0x60 blocks vector 0x55 with IF=1");
    apic_write(APIC_TPR, 0);
    sti();
    report(wait_hits(0, VEC_LOW, 1), "lowering TPR lets it in");
    cli();

    __atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
    return report_summary();
}
