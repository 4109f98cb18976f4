/* smp.c: see smp.h. The trampoline is assembled here (top-level asm), then
 * copied to SMP_TRAMPOLINE before each start; it reads its parameters from
 * the block at SMP_TRAMPOLINE + TRAMP_PARAMS. */
#include "kit.h"
#include "smp.h"

#define TRAMP_PARAMS 0xf00
/* Parameter block offsets (the asm below uses the same numbers). */
#define P_GDT   0x00  /* u16 limit, u32 base (32-bit LGDT operand) */
#define P_CR3   0x08  /* u32 */
#define P_EFER  0x0c  /* u32: low half of EFER */
#define P_IDT   0x10  /* u16 limit, u64 base (64-bit LIDT operand) */
#define P_RSP   0x20  /* u64 */
#define P_ENTRY 0x28  /* u64 */
#define P_CR4   0x30  /* u32 */

/* Real mode at CS = SMP_TRAMPOLINE >> 4, IP = 0 (SDM 8.4.4.1), to
 * protected mode (kit GDT: 0x30 32-bit code, 0x10 data), then IA-32e mode
 * (SDM 9.8.5) and a call to the entry in the parameter block. */
asm(".pushsection .rodata.smp_tramp, \"a\"\n"
    ".globl smp_tramp_start, smp_tramp_end\n"
    ".code16\n"
    "smp_tramp_start:\n"
    "  cli\n"
    "  cld\n"
    "  movw %cs, %ax\n"
    "  movw %ax, %ds\n"
    "  lgdtl 0xf00\n"
    "  movl %cr0, %eax\n"
    "  orl $1, %eax\n"
    "  movl %eax, %cr0\n"
    "  ljmpl $0x30, $(0x70000 + 1f - smp_tramp_start)\n"
    ".code32\n"
    "1:movl $0x10, %eax\n"
    "  movl %eax, %ds\n"
    "  movl %eax, %es\n"
    "  movl %eax, %ss\n"
    "  movl (0x70000 + 0xf00 + 0x30), %eax\n"
    "  movl %eax, %cr4\n"
    "  movl (0x70000 + 0xf00 + 0x08), %eax\n"
    "  movl %eax, %cr3\n"
    "  movl $0xc0000080, %ecx\n"
    "  movl (0x70000 + 0xf00 + 0x0c), %eax\n"
    "  xorl %edx, %edx\n"
    "  wrmsr\n"
    "  movl $0x80010011, %eax\n"
    "  movl %eax, %cr0\n"
    "  ljmpl $0x08, $(0x70000 + 2f - smp_tramp_start)\n"
    ".code64\n"
    "2:movl $0x10, %eax\n"
    "  movl %eax, %ds\n"
    "  movl %eax, %es\n"
    "  movl %eax, %ss\n"
    "  xorl %eax, %eax\n"
    "  movl %eax, %fs\n"
    "  movl %eax, %gs\n"
    "  lidt (0x70000 + 0xf00 + 0x10)\n"
    "  movq (0x70000 + 0xf00 + 0x20), %rsp\n"
    "  movq (0x70000 + 0xf00 + 0x28), %rax\n"
    "  xorl %ebp, %ebp\n"
    "  call *%rax\n"
    "3:cli\n"
    "  hlt\n"
    "  jmp 3b\n"
    "smp_tramp_end:\n"
    ".popsection\n");

_Static_assert(SMP_TRAMPOLINE == 0x70000, "the trampoline asm hardcodes it");

extern const u8 smp_tramp_start[], smp_tramp_end[];

#define STACK_SIZE 8192
static u8 ap_stacks[SMP_MAX_CPUS][STACK_SIZE] __aligned(16);

/* The AP being started reads these. */
static volatile int start_cpu;
static smp_fn volatile start_fn;
static void *volatile start_arg;
static volatile u32 arrived;             /* cpu index + 1 of the last AP in */
static volatile u32 done[SMP_MAX_CPUS];

#define WAIT_SPINS 50000000ul

bool smp_wait_u32(volatile u32 *flag, u32 want)
{
    for (unsigned long i = 0; i < WAIT_SPINS; i++) {
        if (__atomic_load_n(flag, __ATOMIC_ACQUIRE) == want)
            return true;
        cpu_relax();
    }
    return false;
}

void apic_enable(void)
{
    apic_write(APIC_SVR, APIC_SVR_ENABLE | 0xff);
}

void apic_send_ipi(u32 dest, u32 lo)
{
    apic_write(APIC_ICR2, dest << 24);
    apic_write(APIC_ICR, lo);
    for (unsigned long i = 0; i < WAIT_SPINS; i++) {
        if (!(apic_read(APIC_ICR) & APIC_ICR_BUSY))
            break;
        cpu_relax();
    }
}

int smp_cpu_count(void)
{
    int n = (int)fw_cfg_read_int(FW_CFG_NB_CPUS, 2);
    return n < 1 ? 1 : n > SMP_MAX_CPUS ? SMP_MAX_CPUS : n;
}

static __attribute__((noreturn, used)) void ap_entry(void)
{
    int cpu = start_cpu;
    smp_fn fn = start_fn;
    void *arg = start_arg;
    __atomic_store_n(&arrived, (u32)cpu + 1, __ATOMIC_RELEASE);
    fn(cpu, arg);
    __atomic_store_n(&done[cpu], 1, __ATOMIC_RELEASE);
    for (;;)
        asm volatile("cli; hlt" ::: "memory");
}

static void tramp_setup(int cpu)
{
    u8 *t = (u8 *)(u64)SMP_TRAMPOLINE;
    memcpy(t, smp_tramp_start, (size_t)(smp_tramp_end - smp_tramp_start));
    u8 *p = t + TRAMP_PARAMS;
    struct dtr idtr, gdtr;
    sidt(&idtr);
    sgdt(&gdtr);
    u16 glimit = gdtr.limit;
    u32 gbase = (u32)gdtr.base;
    u32 cr3 = (u32)read_cr3(), efer = (u32)rdmsr(MSR_EFER) & (EFER_LME | EFER_NXE);
    u32 cr4 = X86_CR4_PAE;
    u64 rsp = (u64)&ap_stacks[cpu][STACK_SIZE], entry = (u64)ap_entry;
    memcpy(p + P_GDT, &glimit, 2);
    memcpy(p + P_GDT + 2, &gbase, 4);
    memcpy(p + P_CR3, &cr3, 4);
    memcpy(p + P_EFER, &efer, 4);
    memcpy(p + P_IDT, &idtr, 10);
    memcpy(p + P_RSP, &rsp, 8);
    memcpy(p + P_ENTRY, &entry, 8);
    memcpy(p + P_CR4, &cr4, 4);
    barrier();
}

void smp_send_init(u32 id)
{
    apic_send_ipi(id, APIC_DM_INIT | APIC_INT_ASSERT);
}

void smp_send_sipi(u32 id, u8 vector)
{
    apic_send_ipi(id, APIC_DM_STARTUP | vector);
}

int smp_start_ap(int cpu, u32 id, smp_fn fn, void *arg)
{
    if (cpu < 1 || cpu >= SMP_MAX_CPUS)
        return -1;
    tramp_setup(cpu);
    start_cpu = cpu;
    start_fn = fn;
    start_arg = arg;
    done[cpu] = 0;
    __atomic_store_n(&arrived, 0, __ATOMIC_RELEASE);
    /* INIT, then SIPI; a second SIPI only if the first was not taken
     * (SDM 8.4.4.1; a second one to a running AP is ignored anyway). */
    smp_send_init(id);
    for (int i = 0; i < 1000; i++)
        cpu_relax();
    for (int tries = 0; tries < 2; tries++) {
        smp_send_sipi(id, SMP_SIPI_VECTOR);
        if (smp_wait_u32(&arrived, (u32)cpu + 1))
            return 0;
    }
    return -1;
}

int smp_boot_aps(smp_fn fn, void *arg)
{
    int n = smp_cpu_count(), ok = 0;
    for (int cpu = 1; cpu < n; cpu++)
        if (smp_start_ap(cpu, (u32)cpu, fn, arg) == 0)
            ok++;
    return ok;
}

bool smp_cpu_done(int cpu)
{
    return cpu > 0 && cpu < SMP_MAX_CPUS &&
           __atomic_load_n(&done[cpu], __ATOMIC_ACQUIRE) != 0;
}

bool smp_wait_done(int cpu)
{
    if (cpu <= 0 || cpu >= SMP_MAX_CPUS)
        return false;
    return smp_wait_u32(&done[cpu], 1);
}
