/* smp_boot.h: the body of smp_boot2/4/8.c: the firmware's CPU count
 * (fw_cfg and the MP table), then INIT-SIPI-SIPI each AP in turn; every AP
 * reports its APIC ID (MMIO and CPUID), IA32_APIC_BASE and control
 * registers. Only the BSP prints. */
#include "kit.h"
#include "smp.h"

#define MSR_APIC_BASE 0x1b

struct ap_info {
    u32 apic_id, cpuid_id;
    u64 apic_base, cr0, cr4, efer;
    u32 seen_count; /* how many APs had reported before this one */
};

static struct ap_info info[SMP_MAX_CPUS];
static volatile u32 reported;

static void ap_main(int cpu, void *arg)
{
    (void)arg;
    struct ap_info *i = &info[cpu];
    i->apic_id = apic_id();
    i->cpuid_id = cpuid(1).b >> 24;
    i->apic_base = rdmsr(MSR_APIC_BASE);
    i->cr0 = read_cr0();
    i->cr4 = read_cr4();
    i->efer = rdmsr(MSR_EFER);
    i->seen_count = __atomic_fetch_add(&reported, 1, __ATOMIC_SEQ_CST);
}

static u8 sum(const u8 *p, unsigned n)
{
    u8 s = 0;
    while (n--)
        s = (u8)(s + *p++);
    return s;
}

/* MP spec 1.4 chapter 4: the floating pointer is in the BIOS ROM area
 * 0xF0000-0xFFFFF on a 16-byte boundary. SeaBIOS lists one processor per
 * package, so only the BSP entry is compared. */
static void check_mptable(void)
{
    const u8 *fp = NULL;
    for (u64 a = 0xf0000; a < 0x100000; a += 16) {
        const u8 *p = (const u8 *)a;
        if (!memcmp(p, "_MP_", 4) && p[8] == 1 && sum(p, 16) == 0) {
            fp = p;
            break;
        }
    }
    report(fp != NULL, "MP floating pointer in 0xF0000-0xFFFFF");
    if (!fp)
        return;
    u32 cfg_addr;
    memcpy(&cfg_addr, fp + 4, 4);
    const u8 *cfg = (const u8 *)(u64)cfg_addr;
    u16 len;
    memcpy(&len, cfg + 4, 2);
    report(!memcmp(cfg, "PCMP", 4) && sum(cfg, len) == 0,
           "MP configuration table signature and checksum");
    const u8 *e = cfg + 44;
    report(e[0] == 0 && e[1] == 0 && (e[3] & 3) == 3,
           "MP table: first entry is the BSP, APIC ID 0, enabled");
}

/* ACPI 6.4 5.2.5: the RSDP is on a 16-byte boundary in 0xE0000-0xFFFFF;
 * the MADT (5.2.12) has a Processor Local APIC entry per CPU. */
static void check_madt(int ncpus)
{
    const u8 *rsdp = NULL;
    for (u64 a = 0xe0000; a < 0x100000; a += 16) {
        const u8 *p = (const u8 *)a;
        if (!memcmp(p, "RSD PTR ", 8) && sum(p, 20) == 0) {
            rsdp = p;
            break;
        }
    }
    report(rsdp != NULL, "ACPI RSDP in 0xE0000-0xFFFFF");
    if (!rsdp)
        return;
    u32 rsdt_addr, len;
    memcpy(&rsdt_addr, rsdp + 16, 4);
    const u8 *rsdt = (const u8 *)(u64)rsdt_addr, *madt = NULL;
    memcpy(&len, rsdt + 4, 4);
    report(!memcmp(rsdt, "RSDT", 4) && sum(rsdt, len) == 0, "RSDT checksum");
    for (u32 off = 36; off + 4 <= len; off += 4) {
        u32 t;
        memcpy(&t, rsdt + off, 4);
        if (!memcmp((const u8 *)(u64)t, "APIC", 4))
            madt = (const u8 *)(u64)t;
    }
    report(madt != NULL, "RSDT lists a MADT");
    if (!madt)
        return;
    memcpy(&len, madt + 4, 4);
    report(sum(madt, len) == 0, "MADT checksum");
    u32 lapic_addr;
    memcpy(&lapic_addr, madt + 36, 4);
    report(lapic_addr == APIC_BASE, "MADT: local APIC at 0xFEE00000");
    int procs = 0;
    u64 ids = 0;
    bool ioapic = false, irq0_gsi2 = false;
    for (u32 off = 44; off + 2 <= len && madt[off + 1] >= 2; off += madt[off + 1]) {
        const u8 *e = madt + off;
        if (e[0] == 0 && (e[4] & 1)) {
            procs++;
            if (e[3] < 64)
                ids |= 1ull << e[3];
        }
        if (e[0] == 1) {
            u32 addr, gsi;
            memcpy(&addr, e + 4, 4);
            memcpy(&gsi, e + 8, 4);
            ioapic |= addr == 0xfec00000u && gsi == 0;
        }
        if (e[0] == 2 && e[2] == 0 && e[3] == 0) {
            u32 gsi;
            memcpy(&gsi, e + 4, 4);
            irq0_gsi2 |= gsi == 2;
        }
    }
    report(ioapic, "MADT: I/O APIC at 0xFEC00000, GSI base 0");
    report(irq0_gsi2, "MADT: ISA IRQ0 overridden to GSI 2");
    printf("MADT: %d enabled local APICs\n", procs);
    report(procs == ncpus, "MADT lists %d processors", ncpus);
    report(ids == (ncpus >= 64 ? ~0ull : (1ull << ncpus) - 1),
           "MADT: APIC IDs 0..%d", ncpus - 1);
}

int main(struct mb_info *mbi)
{
    (void)mbi;
    int n = smp_cpu_count();
    printf("fw_cfg: %d CPUs\n", n);
    report(n == EXPECT_CPUS, "fw_cfg reports %d CPUs", EXPECT_CPUS);
    check_mptable();
    check_madt(n);

    u64 base = rdmsr(MSR_APIC_BASE);
    report((base & 0xfffff000) == APIC_BASE && (base & (1u << 11)) &&
           (base & (1u << 8)), "BSP: IA32_APIC_BASE 0xFEE00000, enabled, BSP flag");
    report(apic_id() == 0 && (cpuid(1).b >> 24) == 0, "BSP: APIC ID 0 (MMIO, CPUID)");

    int up = smp_boot_aps(ap_main, NULL);
    printf("%d APs started\n", up);
    report(up == n - 1, "all %d APs reported in", n - 1);
    u64 counts = 0; /* which seen_count values occurred */
    for (int cpu = 1; cpu < n; cpu++) {
        report(smp_wait_done(cpu), "AP %d ran its function", cpu);
        struct ap_info *i = &info[cpu];
        report(i->apic_id == (u32)cpu && i->cpuid_id == (u32)cpu,
               "AP %d: APIC ID %u (MMIO), %u (CPUID)", cpu, i->apic_id,
               i->cpuid_id);
        report((i->apic_base & 0xfffff000) == APIC_BASE &&
               (i->apic_base & (1u << 11)) && !(i->apic_base & (1u << 8)),
               "AP %d: IA32_APIC_BASE enabled, no BSP flag", cpu);
        report(i->cr0 == 0x80010011 && i->cr4 == X86_CR4_PAE &&
               (i->efer & (EFER_LME | EFER_LMA)) == (EFER_LME | EFER_LMA),
               "AP %d: long mode, CR0 0x%lx CR4 0x%lx", cpu, i->cr0, i->cr4);
        if (i->seen_count < 64)
            counts |= 1ull << i->seen_count;
    }
    /* Each AP counted itself exactly once. Not necessarily in start order:
     * smp_start_ap() returns once an AP has arrived, and on a parallel
     * emulator (QEMU MTTCG) the next AP may reach ap_main() first. */
    report(counts == (n - 1 >= 64 ? ~0ull : (1ull << (n - 1)) - 1),
           "the %d APs each reported exactly once", n - 1);
    return report_summary();
}
