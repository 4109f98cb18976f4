/* sys.c: system features: CPUID bits, SYSCALL/SYSRET, SWAPGS, RDTSC,
 * UMIP, STAC/CLAC with SMAP, unassigned I/O ports, fw_cfg, Multiboot memory
 * info, and the #GP checks of MOV to CR0/CR4 and WRMSR/RDMSR.
 *
 * QEMU 7.2 TCG does not check most of the CR0/CR4/MSR rules: it hangs on a
 * reserved CR4 bit, triple-faults on clearing CR4.PAE or CR0.PG in 64-bit
 * mode, and accepts reserved CR0/EFER bits, CR0.PE=0 with PG=1, NW without
 * CD, unimplemented MSRs and a non-canonical MSR_GS_BASE. Those checks follow the SDM (report_sdm); the
 * ones that would hang or crash QEMU are not run there.
 */
// @qemu-differs: QEMU 7.2 does not #GP on reserved/invalid CR0, CR4, EFER values, unimplemented MSRs, non-canonical GS_BASE (it hangs on reserved CR4 bits); SYSRET to a non-canonical RCX faults at CPL3 (AMD) instead of CPL0 (Intel SDM)
// @qemu-args: -append qemu
#include "kit.h"

#define X86_CR3_PWT_PCD 0x18ull

/* ---- CPUID ---------------------------------------------------------------- */
static void test_cpuid(void)
{
    report(cpuid(0).a >= 7, "cpuid: max basic leaf >= 7");
    report(cpuid(0x80000000).a >= 0x80000001, "cpuid: max extended leaf >= 0x80000001");
    report(cpuid_bit(7, 0, 'b', CPUID_7_EBX_SMEP), "cpuid 7: SMEP");
    report(cpuid_bit(7, 0, 'b', CPUID_7_EBX_SMAP), "cpuid 7: SMAP");
    report(cpuid_bit(7, 0, 'c', CPUID_7_ECX_UMIP), "cpuid 7: UMIP");
    report(cpuid_bit(0x80000001, 0, 'd', CPUID_80000001_EDX_LM), "cpuid 0x80000001: LM");
    report(cpuid_bit(0x80000001, 0, 'd', CPUID_80000001_EDX_NX), "cpuid 0x80000001: NX");
    report(cpuid_bit(0x80000001, 0, 'd', CPUID_80000001_EDX_SYSCALL),
           "cpuid 0x80000001: SYSCALL");
}

/* ---- SYSCALL / SYSRET (SDM Vol 3A 5.8.8) ------------------------------------ */
u64 sc_user_rsp, sc_rcx, sc_r11, sc_rflags;
u16 sc_cs, sc_ss;
u8 sc_stack[4096] __aligned(16);
void syscall_entry(void);
asm(".text\n"
    ".globl syscall_entry\n"
    "syscall_entry:\n"
    "    movq %rsp, sc_user_rsp(%rip)\n"
    "    leaq sc_stack+4096(%rip), %rsp\n"
    "    movq %rcx, sc_rcx(%rip)\n"
    "    movq %r11, sc_r11(%rip)\n"
    "    pushfq\n"
    "    popq sc_rflags(%rip)\n"
    "    movw %cs, sc_cs(%rip)\n"
    "    movw %ss, sc_ss(%rip)\n"
    "    leaq (%rdi,%rdi), %rax\n"     /* the "system call": 2 * arg */
    "    movq sc_user_rsp(%rip), %rsp\n"
    "    sysretq\n");

USER_DATA static u64 u_rflags;
USER_DATA static u16 u_cs, u_ss;
extern char after_syscall[];
USER_TEXT static long user_syscall(long arg)
{
    long ret;
    asm volatile("syscall\n"
                 ".globl after_syscall\n"
                 "after_syscall:"
                 : "=a"(ret) : "D"(arg) : "rcx", "r11", "memory");
    asm volatile("mov %%cs, %0; mov %%ss, %1; pushfq; popq %2"
                 : "=r"(u_cs), "=r"(u_ss), "=r"(u_rflags));
    return ret;
}

extern char sysret_nc_insn[];
static void sysret_noncanonical(void *arg)
{
    (void)arg;
    asm volatile("movq $0x0000800000000000, %%rcx\n\t"
                 "movq $2, %%r11\n\t"
                 ".globl sysret_nc_insn\nsysret_nc_insn: sysretq" ::: "rcx", "r11");
}

static void test_syscall(void)
{
    u64 efer = rdmsr(MSR_EFER);
    wrmsr(MSR_EFER, efer | EFER_SCE);
    wrmsr(MSR_STAR, STAR_VALUE);
    wrmsr(MSR_LSTAR, (u64)syscall_entry);
    wrmsr(MSR_SYSCALL_MASK, X86_EFLAGS_AC | X86_EFLAGS_DF | X86_EFLAGS_TF |
                            X86_EFLAGS_IF);
    long ret = 0;
    int v = run_user_flags(user_syscall, 21, &ret, X86_EFLAGS_AC);
    report(v == -1 && ret == 42, "syscall round trip: result %ld", ret);
    report(sc_cs == KERNEL_CS && sc_ss == KERNEL_DS,
           "syscall: cs %x ss %x (STAR[47:32], +8)", sc_cs, sc_ss);
    report(sc_rcx == (u64)after_syscall, "syscall: rcx = return rip");
    report((sc_r11 & ~X86_EFLAGS_ARITH) == (X86_EFLAGS_AC | X86_EFLAGS_FIXED),
           "syscall: r11 = user rflags (%lx)", (u64)(sc_r11 & ~X86_EFLAGS_ARITH));
    report((sc_rflags & ~X86_EFLAGS_ARITH) == X86_EFLAGS_FIXED,
           "syscall: rflags masked by SFMASK (%lx)", (u64)(sc_rflags & ~X86_EFLAGS_ARITH));
    report(u_cs == (USER_CS | 3) && u_ss == (USER_DS | 3),
           "sysretq: cs %x ss %x (STAR[63:48]+16, +8)", u_cs, u_ss);
    report((u_rflags & X86_EFLAGS_AC) != 0, "sysretq: rflags from r11");
    /* SYSRET with a non-canonical RCX: #GP(0) at CPL0, on the SYSRET (SDM
     * SYSRET; the "Intel SYSRET" behaviour). QEMU 7.2 switches to CPL3 first
     * and faults on the fetch there, as AMD does. */
    v = try_call(sysret_noncanonical, NULL);
    report(v == GP_VECTOR && ex_last.error_code == 0, "sysretq to a non-canonical RCX: #GP(0)");
    report_sdm(v == GP_VECTOR && ex_last.cs == KERNEL_CS && ex_last.rip == (u64)sysret_nc_insn,
               "sysretq to a non-canonical RCX: fault at CPL0 on the sysret (got cs %lx)",
               ex_last.cs);
    /* SYSCALL with EFER.SCE=0 is #UD. */
    wrmsr(MSR_EFER, efer & ~EFER_SCE);
    v = run_user(user_syscall, 1, &ret);
    report(v == UD_VECTOR, "syscall with EFER.SCE=0: #UD");
    wrmsr(MSR_EFER, efer);
}

/* ---- SWAPGS ---------------------------------------------------------------- */
static u64 gs_a = 0xaaaa, gs_b = 0xbbbb;

static u64 read_gs0(void)
{
    u64 v;
    asm volatile("movq %%gs:0, %0" : "=r"(v) :: "memory");
    return v;
}

USER_TEXT static long user_swapgs(long arg)
{
    (void)arg;
    asm volatile("swapgs");
    return 0;
}

static void test_swapgs(void)
{
    wrmsr(MSR_GS_BASE, (u64)&gs_a);
    wrmsr(MSR_KERNEL_GS_BASE, (u64)&gs_b);
    report(read_gs0() == 0xaaaa, "gs base from MSR_GS_BASE");
    asm volatile("swapgs" ::: "memory");
    report(read_gs0() == 0xbbbb, "swapgs: gs base from MSR_KERNEL_GS_BASE");
    report(rdmsr(MSR_GS_BASE) == (u64)&gs_b &&
           rdmsr(MSR_KERNEL_GS_BASE) == (u64)&gs_a, "swapgs exchanges the MSRs");
    asm volatile("swapgs" ::: "memory");
    report(read_gs0() == 0xaaaa, "swapgs twice: back");
    long ret;
    report(run_user(user_swapgs, 0, &ret) == GP_VECTOR && ex_last.error_code == 0,
           "swapgs at CPL3: #GP(0)");
    wrmsr(MSR_GS_BASE, 0);
    wrmsr(MSR_KERNEL_GS_BASE, 0);
}

/* ---- RDTSC ------------------------------------------------------------------ */
USER_TEXT static long user_rdtsc(long arg)
{
    u32 lo, hi;
    (void)arg;
    asm volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return 1;
}

static void do_rdtsc(void *arg) { *(u64 *)arg = rdtsc(); }

static void test_rdtsc(void)
{
    u64 prev = rdtsc();
    bool mono = true;
    for (int i = 0; i < 100; i++) {
        u64 t = rdtsc();
        mono &= t >= prev;
        prev = t;
    }
    report(mono, "rdtsc monotonic over 100 reads");
    long ret = 0;
    report(run_user(user_rdtsc, 0, &ret) == -1 && ret == 1, "rdtsc at CPL3, TSD=0");
    write_cr4(read_cr4() | X86_CR4_TSD);
    report(run_user(user_rdtsc, 0, &ret) == GP_VECTOR && ex_last.error_code == 0,
           "rdtsc at CPL3, TSD=1: #GP(0)");
    u64 t0;
    report(try_call(do_rdtsc, &t0) == -1, "rdtsc at CPL0, TSD=1");
    write_cr4(read_cr4() & ~X86_CR4_TSD);
}

/* ---- UMIP (SDM Vol 3A 2.5: CR4.UMIP) ------------------------------------------ */
USER_DATA static struct dtr u_dtr;
USER_TEXT static long user_umip(long n)
{
    u16 s = 0;
    switch (n) {
    case 0: asm volatile("sgdt %0" : "=m"(u_dtr)); return u_dtr.limit;
    case 1: asm volatile("sidt %0" : "=m"(u_dtr)); return u_dtr.limit;
    case 2: asm volatile("sldt %0" : "=r"(s)); return s;
    case 3: asm volatile("str %0" : "=r"(s)); return s;
    default: asm volatile("smsw %0" : "=r"(s)); return s;
    }
}

static void test_umip(void)
{
    static const char *const names[] = { "sgdt", "sidt", "sldt", "str", "smsw" };
    long ret;
    for (int i = 0; i < 5; i++) {
        ret = -1;
        int v = run_user(user_umip, i, &ret);
        report(v == -1, "%s at CPL3, UMIP=0: %lx", names[i], ret);
    }
    write_cr4(read_cr4() | X86_CR4_UMIP);
    for (int i = 0; i < 5; i++) {
        int v = run_user(user_umip, i, &ret);
        report(v == GP_VECTOR && ex_last.error_code == 0,
               "%s at CPL3, UMIP=1: #GP(0)", names[i]);
    }
    struct dtr d;
    sgdt(&d);
    report(d.limit == GDT_ENTRIES * 8 - 1, "sgdt at CPL0, UMIP=1");
    write_cr4(read_cr4() & ~X86_CR4_UMIP);
}

/* ---- STAC/CLAC with SMAP ---------------------------------------------------------- */
USER_DATA static volatile u64 user_word = 0x5a5a;

static void read_user_word(void *arg)
{
    (void)arg;
    (void)user_word;
}

USER_TEXT static long user_stac(long n)
{
    if (n)
        asm volatile(".byte 0x0f,0x01,0xcb"); /* stac */
    else
        asm volatile(".byte 0x0f,0x01,0xca"); /* clac */
    return 0;
}

static void test_smap(void)
{
    write_cr4(read_cr4() | X86_CR4_SMAP);
    int v = try_call(read_user_word, NULL);
    report(v == PF_VECTOR && ex_last.error_code == PFERR_P &&
           ex_last.cr2 == (u64)&user_word, "SMAP: CPL0 read of user page: #PF(1)");
    stac();
    report(try_call(read_user_word, NULL) == -1, "SMAP: after stac, read works");
    report(read_rflags() & X86_EFLAGS_AC, "stac sets AC");
    clac();
    report(!(read_rflags() & X86_EFLAGS_AC), "clac clears AC");
    report(try_call(read_user_word, NULL) == PF_VECTOR, "SMAP: after clac, #PF again");
    write_cr4(read_cr4() & ~X86_CR4_SMAP);
    report(try_call(read_user_word, NULL) == -1, "SMAP off: read works");
    long ret;
    report(run_user(user_stac, 1, &ret) == UD_VECTOR, "stac at CPL3: #UD");
    report(run_user(user_stac, 0, &ret) == UD_VECTOR, "clac at CPL3: #UD");
}

/* ---- ports, fw_cfg, Multiboot memory -------------------------------------------------- */
static void test_platform(void)
{
    /* COM3, COM4, LPT2: no device on either machine. */
    static const u16 ports[] = { 0x3e8, 0x2e8, 0x278 };
    for (unsigned i = 0; i < ARRAY_SIZE(ports); i++) {
        u8 b = inb(ports[i]);
        u16 w = inw(ports[i]);
        u32 l = inl(ports[i]);
        report(b == 0xff && w == 0xffff && l == 0xffffffff,
               "unassigned port %x reads all ones (%x %x %x)", ports[i], b, w, l);
    }
    char sig[5] = { 0 };
    fw_cfg_read(FW_CFG_SIGNATURE, sig, 4);
    report(!strcmp(sig, "QEMU"), "fw_cfg signature '%s'", sig);
    u64 ram = fw_cfg_read_int(FW_CFG_RAM_SIZE, 8);
    report(ram == 128ull << 20, "fw_cfg RAM size %lu MiB (-m 128)", ram >> 20);
    report(fw_cfg_read_int(FW_CFG_NB_CPUS, 2) == 1, "fw_cfg CPU count %lu",
           fw_cfg_read_int(FW_CFG_NB_CPUS, 2));
    /* QEMU's option ROM reports what SeaBIOS leaves (639/129920 KiB); a
     * BIOS-less loader may report 640/130048: check the range only. */
    report((boot_info->flags & MB_INFO_MEM) && boot_info->mem_lower >= 512 &&
           boot_info->mem_lower <= 640 && boot_info->mem_upper >= (120 << 10) &&
           boot_info->mem_upper <= (127 << 10), "multiboot mem_lower/mem_upper in range");
}

/* ---- the other ways to write CR0 (LMSW, CLTS) and plain MOV CR ------------- */
USER_TEXT static long user_crop(long n)
{
    if (n == 0)
        asm volatile("lmsw %w0" :: "r"(1));
    else
        asm volatile("clts");
    return 0;
}

static void test_cr_paths(void)
{
    u64 cr0 = read_cr0();
    /* LMSW loads PE, MP, EM, TS only, and cannot clear PE (SDM LMSW). */
    asm volatile("lmsw %w0" :: "r"((u16)(X86_CR0_TS | X86_CR0_MP)));
    report(read_cr0() == (cr0 | X86_CR0_TS | X86_CR0_MP), "lmsw sets TS and MP, keeps PE");
    asm volatile("lmsw %w0" :: "r"((u16)0xfff0));
    report(read_cr0() == cr0, "lmsw 0xfff0: clears MP/EM/TS, PE stays, bits 4-15 untouched");
    asm volatile("lmsw %w0" :: "r"((u16)X86_CR0_TS));
    asm volatile("clts");
    report(read_cr0() == cr0, "clts clears TS");
    u16 msw;
    asm volatile("smsw %0" : "=m"(msw));
    report(msw == (u16)cr0, "smsw m16 = CR0[15:0]");
    long ret;
    report(run_user(user_crop, 0, &ret) == GP_VECTOR && ex_last.error_code == 0,
           "lmsw at CPL3: #GP(0)");
    report(run_user(user_crop, 1, &ret) == GP_VECTOR && ex_last.error_code == 0,
           "clts at CPL3: #GP(0)");

    /* MOV to CR0/CR4 toggling the bits the pins protect (nothing pinned). */
    write_cr0(cr0 & ~X86_CR0_WP);
    report(!(read_cr0() & X86_CR0_WP), "mov cr0: clear WP");
    write_cr0(cr0);
    report(read_cr0() == cr0, "mov cr0: set WP again");
    u64 cr4 = read_cr4(), bits = X86_CR4_SMEP | X86_CR4_SMAP | X86_CR4_UMIP;
    write_cr4(cr4 | bits);
    report((read_cr4() & bits) == bits, "mov cr4: set SMEP SMAP UMIP");
    write_cr4(cr4);
    report(read_cr4() == cr4, "mov cr4: clear them again");

    write_cr2(0xdeadbeef000ull);
    report(read_cr2() == 0xdeadbeef000ull, "mov cr2 round trip");
    write_cr8(5);
    report(read_cr8() == 5, "mov cr8 (TPR) round trip");
    write_cr8(0);
    u64 cr3 = read_cr3();
    write_cr3(cr3 | X86_CR3_PWT_PCD);
    report(read_cr3() == (cr3 | X86_CR3_PWT_PCD), "mov cr3 keeps PWT/PCD");
    write_cr3(cr3);
}

/* ---- MOV to CR0/CR4, WRMSR: #GP(0) cases (SDM Vol 3A 2.5, MOV CR; WRMSR) ---- */
static void check_cr(bool is_cr4, u64 val, bool qemu_hangs, const char *what)
{
    u64 old = is_cr4 ? read_cr4() : read_cr0();
    if (qemu_hangs && on_qemu()) {
        report_sdm(false, "%s: #GP(0) (not run: QEMU 7.2 hangs or crashes)", what);
        return;
    }
    int v = is_cr4 ? write_cr4_safe(val) : write_cr0_safe(val);
    u64 now = is_cr4 ? read_cr4() : read_cr0();
    if (now != old) { /* accepted: put it back */
        if (is_cr4)
            write_cr4(old);
        else
            write_cr0(old);
    }
    report_sdm(v == GP_VECTOR && ex_last.error_code == 0 && now == old,
               "%s: #GP(0), register unchanged (got vector %d)", what, v);
}

static void test_cr_gp(void)
{
    u64 cr0 = read_cr0(), cr4 = read_cr4();
    /* QEMU gets this one right. */
    report(write_cr4_safe(cr4 | X86_CR4_LA57) == GP_VECTOR && read_cr4() == cr4,
           "mov cr4: toggling LA57 in IA-32e mode: #GP");
    check_cr(true, cr4 | BIT(15), true, "mov cr4: reserved bit 15");
    check_cr(true, cr4 | BIT(63), true, "mov cr4: reserved bit 63");
    check_cr(true, cr4 & ~X86_CR4_PAE, true, "mov cr4: clear PAE in IA-32e mode");
    check_cr(false, cr0 | BIT(32), false, "mov cr0: reserved bit 32");
    check_cr(false, cr0 | X86_CR0_NW, false, "mov cr0: NW=1 with CD=0");
    check_cr(false, cr0 & ~X86_CR0_PE, true, "mov cr0: PG=1 with PE=0");
    check_cr(false, cr0 & ~X86_CR0_PG, true, "mov cr0: clear PG in 64-bit mode");
    report(read_cr0() == cr0 && read_cr4() == cr4, "cr0/cr4 unchanged after the #GP tests");

    u64 efer = rdmsr(MSR_EFER), v;
    int r = wrmsr_safe(MSR_EFER, efer | BIT(1));
    if (r < 0)
        wrmsr(MSR_EFER, efer);
    report_sdm(r == GP_VECTOR, "wrmsr EFER reserved bit 1: #GP (got %d)", r);
    r = rdmsr_safe(0x12345678, &v);
    report_sdm(r == GP_VECTOR, "rdmsr unimplemented MSR 0x12345678: #GP (got %d)", r);
    r = wrmsr_safe(0x12345678, 0);
    report_sdm(r == GP_VECTOR, "wrmsr unimplemented MSR 0x12345678: #GP (got %d)", r);
    r = wrmsr_safe(MSR_GS_BASE, 0x0000800000000000ull);
    wrmsr(MSR_GS_BASE, 0);
    report_sdm(r == GP_VECTOR, "wrmsr GS_BASE non-canonical: #GP (got %d)", r);
    report(rdmsr(MSR_EFER) == efer, "EFER unchanged");
}

int main(struct mb_info *mbi)
{
    (void)mbi;
    test_cpuid();
    test_syscall();
    test_swapgs();
    test_rdtsc();
    test_umip();
    test_smap();
    test_platform();
    test_cr_paths();
    test_cr_gp();
    return report_summary();
}
