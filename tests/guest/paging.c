/* paging.c: 4-level paging beyond permissions (SDM Vol 3A ch. 4):
 * 4K/2M/1G translations, accessed/dirty bits (4.8), TLB invalidation by
 * INVLPG, CR3 load, CR4.PGE toggle, global pages (4.10.4), reserved-bit
 * faults (4.7, PFERR_RSVD), and non-canonical addresses (#GP).
 *
 * Only behaviour the SDM requires is checked: e.g. whether a CR3 load keeps
 * a global entry is allowed either way (a TLB may drop entries at any time),
 * so the test never relies on a stale translation being used.
 */
// @qemu-differs: QEMU 7.2 leaves P=0 in the error code of a reserved-bit #PF (SDM 4.7: P=1), and faults on a non-canonical branch target at the target, not at the branch
// @qemu-args: -append qemu
#include "kit.h"

extern char jmp_nc_insn[], call_nc_insn[];
static void jmp_nc(void *a)
{
    asm volatile(".globl jmp_nc_insn\njmp_nc_insn: jmp *%0" :: "r"(a));
}
static void call_nc(void *a)
{
    asm volatile(".globl call_nc_insn\ncall_nc_insn: call *%0" :: "r"(a)
                 : "memory", "rax", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11");
}

#define VA4K  0x180000000ull   /* PML4 slot 0, beyond the 4 GiB identity map */
#define VA2M  0x1c0000000ull
#define VA1G  0x200000000ull   /* 1G-aligned */
#define VAX   0x8000000000ull  /* PML4 slot 1: nothing else uses it */

static u64 read64(u64 va) { return *(volatile u64 *)va; }
static void write64(u64 va, u64 v) { *(volatile u64 *)va = v; }

static void read_at(void *arg) { (void)read64((u64)arg); }
static void write_at(void *arg) { write64((u64)arg, 1); }
static void call_at(void *arg)
{
    asm volatile("call *%0" :: "r"(arg)
                 : "memory", "rax", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11");
}

static bool pf_is(int v, u64 err, u64 cr2)
{
    bool ok = v == PF_VECTOR && ex_last.error_code == err && ex_last.cr2 == cr2;
    if (!ok)
        printf("got vector %d error %lx cr2 %lx; want #PF(%lx) at %lx\n", v,
               v >= 0 ? ex_last.error_code : 0, v >= 0 ? ex_last.cr2 : 0, err, cr2);
    return ok;
}

/* A reserved-bit fault: RSVD and the access bits are checked as usual, the
 * P bit separately: SDM 4.7, "bit 3 of the error code can be set only if
 * bit 0 is also set"; QEMU 7.2 leaves it 0. */
static void report_rsvd(int v, u64 err, u64 cr2, const char *what)
{
    report(v == PF_VECTOR && (ex_last.error_code & ~PFERR_P) == err && ex_last.cr2 == cr2,
           "%s: #PF, RSVD error code %lx at %lx", what, err, cr2);
    report_sdm(v == PF_VECTOR && (ex_last.error_code & PFERR_P),
               "%s: P=1 in the error code (got %lx)", what,
               v == PF_VECTOR ? ex_last.error_code : 0);
}

static u64 kernel_marker = 0x1234abcd5678ef00ull;

static void test_sizes(void)
{
    u64 *p = alloc_page();
    int level = 0;
    p[3] = 0x4444;
    map_4k(VA4K, virt_to_phys(p), PT_PRESENT | PT_WRITABLE);
    get_pte(VA4K, &level);
    report(level == 1 && read64(VA4K + 24) == 0x4444, "4K page: read through alias");
    write64(VA4K + 32, 0x5555);
    report(p[4] == 0x5555, "4K page: write through alias");

    /* 2M: alias of physical 0x400000 (identity-mapped, not used by the kit). */
    write64(0x400000 + 0x12340, 0x2222);
    map_2m(VA2M, 0x400000, PT_PRESENT | PT_WRITABLE);
    get_pte(VA2M + 0x12340, &level);
    report(level == 2 && read64(VA2M + 0x12340) == 0x2222, "2M page: offset 0x12340");
    write64(VA2M + 0x1ffff8, 0x2323);
    report(read64(0x400000 + 0x1ffff8) == 0x2323, "2M page: write at its last qword");

    if (!cpuid_bit(0x80000001, 0, 'd', CPUID_80000001_EDX_PDPE1GB)) {
        report(false, "CPUID: 1G pages");
        return;
    }
    map_1g(VA1G, 0, PT_PRESENT | PT_WRITABLE);
    get_pte(VA1G + (u64)&kernel_marker, &level);
    report(level == 3 && read64(VA1G + (u64)&kernel_marker) == kernel_marker,
           "1G page: alias of physical 0 reads the kernel");
    write64(VA1G + 0x7f00000, 0x1111);   /* in RAM (-m 128) */
    report(read64(0x7f00000) == 0x1111, "1G page: write at 127 MiB");
}

/* ---- accessed and dirty (SDM 4.8) ------------------------------------------ */
static void test_ad(void)
{
    u64 *p = alloc_page();
    u64 *pte = map_4k(VA4K, virt_to_phys(p), PT_PRESENT | PT_WRITABLE);
    u64 *pde = pte_at(VA4K, 2);
    *pde &= ~PT_ACCESSED;
    flush_tlb();
    report(!(*pte & (PT_ACCESSED | PT_DIRTY)), "4K: A=0 D=0 after mapping");
    (void)read64(VA4K);
    report((*pte & (PT_ACCESSED | PT_DIRTY)) == PT_ACCESSED, "4K: read sets A only");
    report(*pde & PT_ACCESSED, "4K: the walk set A in the PDE");
    write64(VA4K, 1);
    report((*pte & (PT_ACCESSED | PT_DIRTY)) == (PT_ACCESSED | PT_DIRTY), "4K: write sets D");
    /* A write through a translation cached with D=0 must set D (4.8). */
    *pte &= ~PT_DIRTY;
    invlpg((void *)VA4K);
    (void)read64(VA4K);
    write64(VA4K, 2);
    report(*pte & PT_DIRTY, "4K: write after clearing D sets D again");

    /* Fetch sets A. */
    u64 *code = alloc_page();
    *(u8 *)code = 0xc3;
    pte = map_4k(VA4K + 0x1000, virt_to_phys(code), PT_PRESENT);
    call_at((void *)(VA4K + 0x1000));
    report((*pte & (PT_ACCESSED | PT_DIRTY)) == PT_ACCESSED, "4K: fetch sets A only");

    /* A faulting write must not set D. */
    pte = map_4k(VA4K + 0x2000, virt_to_phys(p), PT_PRESENT);
    int v = try_call(write_at, (void *)(VA4K + 0x2000));
    report(pf_is(v, PFERR_P | PFERR_W, VA4K + 0x2000) && !(*pte & PT_DIRTY),
           "4K: write to read-only page faults, D stays 0");

    u64 *e2 = map_2m(VA2M, 0x400000, PT_PRESENT | PT_WRITABLE);
    (void)read64(VA2M + 0x1000);
    report((*e2 & (PT_ACCESSED | PT_DIRTY)) == PT_ACCESSED, "2M: read sets A in the PDE");
    write64(VA2M + 0x1000, 0);
    report(*e2 & PT_DIRTY, "2M: write sets D in the PDE");

    if (cpuid_bit(0x80000001, 0, 'd', CPUID_80000001_EDX_PDPE1GB)) {
        u64 *e3 = map_1g(VA1G, 0, PT_PRESENT | PT_WRITABLE);
        (void)read64(VA1G + 0x500000);
        report((*e3 & (PT_ACCESSED | PT_DIRTY)) == PT_ACCESSED, "1G: read sets A in the PDPTE");
        write64(VA1G + 0x500000, 0);
        report(*e3 & PT_DIRTY, "1G: write sets D in the PDPTE");
    }
}

/* ---- TLB invalidation (SDM 4.10.4) ------------------------------------------ */
static void test_tlb(void)
{
    u64 *a = alloc_page(), *b = alloc_page();
    a[0] = 0xaaaa;
    b[0] = 0xbbbb;
    u64 *pte = map_4k(VA4K, virt_to_phys(a), PT_PRESENT | PT_WRITABLE);
    (void)read64(VA4K);                       /* cache the translation */
    *pte = virt_to_phys(b) | PT_PRESENT | PT_WRITABLE;
    invlpg((void *)VA4K);
    report(read64(VA4K) == 0xbbbb, "INVLPG: new translation used");
    *pte = virt_to_phys(a) | PT_PRESENT | PT_WRITABLE;
    write_cr3(read_cr3());
    report(read64(VA4K) == 0xaaaa, "CR3 load: non-global translation flushed");

    /* Global pages: INVLPG and a CR4.PGE toggle flush them. */
    write_cr4(read_cr4() | X86_CR4_PGE);
    *pte = virt_to_phys(a) | PT_PRESENT | PT_WRITABLE | PT_GLOBAL;
    invlpg((void *)VA4K);
    (void)read64(VA4K);
    *pte = virt_to_phys(b) | PT_PRESENT | PT_WRITABLE | PT_GLOBAL;
    invlpg((void *)VA4K);
    report(read64(VA4K) == 0xbbbb, "INVLPG flushes a global translation");
    *pte = virt_to_phys(a) | PT_PRESENT | PT_WRITABLE | PT_GLOBAL;
    write_cr4(read_cr4() & ~X86_CR4_PGE);
    write_cr4(read_cr4() | X86_CR4_PGE);
    report(read64(VA4K) == 0xaaaa, "CR4.PGE toggle flushes a global translation");
    write_cr4(read_cr4() & ~X86_CR4_PGE);
    *pte = virt_to_phys(a) | PT_PRESENT | PT_WRITABLE;
    invlpg((void *)VA4K);

    /* INVLPG of any address in a 2M page flushes that translation. */
    u64 *e2 = map_2m(VA2M, 0x400000, PT_PRESENT | PT_WRITABLE);
    write64(0x400000 + 0x8000, 0x1);
    write64(0x600000 + 0x8000, 0x2);
    (void)read64(VA2M + 0x8000);
    *e2 = 0x600000 | PT_PRESENT | PT_WRITABLE | PT_PS;
    invlpg((void *)(VA2M + 0x1f0000));
    report(read64(VA2M + 0x8000) == 0x2, "INVLPG elsewhere in a 2M page flushes it");

    /* Switching CR3 switches address spaces. */
    map_4k(VAX, virt_to_phys(a), PT_PRESENT | PT_WRITABLE);
    u64 cr3a = read_cr3();
    u64 *pml4b = alloc_page();
    memcpy(pml4b, (void *)(cr3a & PT_ADDR_MASK), PAGE_SIZE);
    pml4b[1] = 0;
    write_cr3(virt_to_phys(pml4b));
    map_4k(VAX, virt_to_phys(b), PT_PRESENT | PT_WRITABLE);
    report(read64(VAX) == 0xbbbb, "CR3 B: its own mapping");
    write_cr3(cr3a);
    report(read64(VAX) == 0xaaaa, "CR3 A: back to the first mapping");
    write_cr3(virt_to_phys(pml4b));
    report(read64(VAX) == 0xbbbb, "CR3 B again");
    write_cr3(cr3a);
}

/* ---- reserved bits (SDM 4.7: RSVD) ------------------------------------------ */
static void test_rsvd(void)
{
    u64 *p = alloc_page();
    u8 maxphy = cpuid(0x80000008).a & 0xff;
    u64 flags = PT_PRESENT | PT_WRITABLE;
    int v;
    report(maxphy >= 36 && maxphy <= 52, "MAXPHYADDR in 36..52");
    if (maxphy < 52) {
        u64 *pte = map_4k(VA4K, virt_to_phys(p) | BIT(maxphy), flags);
        v = try_call(read_at, (void *)(VA4K + 8));
        report_rsvd(v, PFERR_RSVD, VA4K + 8, "PTE bit MAXPHYADDR, read");
        v = try_call(write_at, (void *)(VA4K + 8));
        report_rsvd(v, PFERR_W | PFERR_RSVD, VA4K + 8, "PTE bit MAXPHYADDR, write");
        v = try_call(call_at, (void *)VA4K);
        report_rsvd(v, PFERR_RSVD | PFERR_I, VA4K, "PTE bit MAXPHYADDR, fetch");
        *pte = virt_to_phys(p) | flags;
        invlpg((void *)VA4K);
    }
    /* PS in a PML4E is reserved. */
    map_4k(VAX, virt_to_phys(p), flags);
    u64 *pml4e = pte_at(VAX, 4);
    *pml4e |= PT_PS;
    flush_tlb();
    v = try_call(read_at, (void *)VAX);
    report_rsvd(v, PFERR_RSVD, VAX, "PML4E.PS=1");
    *pml4e &= ~PT_PS;
    flush_tlb();
    report(try_call(read_at, (void *)VAX) == -1, "PML4E.PS=0 again: no fault");
    /* Bits 20:13 of a 2M PDE are reserved. */
    u64 *e2 = map_2m(VA2M, 0x400000 | BIT(13), flags);
    v = try_call(read_at, (void *)(VA2M + 16));
    report_rsvd(v, PFERR_RSVD, VA2M + 16, "2M PDE bit 13");
    *e2 = 0x400000 | flags | PT_PS;
    invlpg((void *)VA2M);
    /* XD is reserved when EFER.NXE=0. */
    u64 efer = rdmsr(MSR_EFER);
    u64 *pte = map_4k(VA4K, virt_to_phys(p), flags | PT_NX);
    wrmsr(MSR_EFER, efer & ~EFER_NXE);
    flush_tlb();
    v = try_call(read_at, (void *)VA4K);
    wrmsr(MSR_EFER, efer);
    flush_tlb();
    report_rsvd(v, PFERR_RSVD, VA4K, "XD with NXE=0");
    report(try_call(read_at, (void *)VA4K) == -1, "XD with NXE=1: read works");
    *pte = 0;
    invlpg((void *)VA4K);
    /* A not-present entry never causes RSVD, whatever its other bits. */
    *pml4e = 0xffffffffffffff00ull & ~PT_PRESENT;
    flush_tlb();
    v = try_call(read_at, (void *)VAX);
    report(pf_is(v, 0, VAX), "not-present PML4E with junk: #PF(0)");
    *pml4e = 0;
    flush_tlb();
}

/* ---- canonical addresses ---------------------------------------------------- */
static void test_canonical(void)
{
    int v = try_call(read_at, (void *)0x0000800000000000ull);
    report(v == GP_VECTOR && ex_last.error_code == 0, "read 0x0000800000000000: #GP(0)");
    v = try_call(read_at, (void *)0xffff7ffffffffff8ull);
    report(v == GP_VECTOR && ex_last.error_code == 0, "read 0xffff7ffffffffff8: #GP(0)");
    v = try_call(write_at, (void *)0x8000000000000000ull);
    report(v == GP_VECTOR && ex_last.error_code == 0, "write 0x8000000000000000: #GP(0)");
    v = try_call(read_at, (void *)0xffff800000000000ull);
    report(pf_is(v, 0, 0xffff800000000000ull), "read 0xffff800000000000 (canonical): #PF");
    v = try_call(read_at, (void *)0x00007ffffffffff8ull);
    report(pf_is(v, 0, 0x00007ffffffffff8ull), "read 0x00007ffffffffff8 (canonical): #PF");
    /* A near branch to a non-canonical target: #GP(0) on the branch itself
     * (SDM JMP/CALL, 64-bit mode exceptions), nothing pushed by CALL. */
    v = try_call(jmp_nc, (void *)0x0000800000000000ull);
    report(v == GP_VECTOR && ex_last.error_code == 0, "jmp to a non-canonical address: #GP(0)");
    report_sdm(v == GP_VECTOR && ex_last.rip == (u64)jmp_nc_insn,
               "jmp to a non-canonical address: RIP is the jmp (got %lx)", ex_last.rip);
    v = try_call(call_nc, (void *)0x0000800000000000ull);
    report(v == GP_VECTOR && ex_last.error_code == 0, "call to a non-canonical address: #GP(0)");
    report_sdm(v == GP_VECTOR && ex_last.rip == (u64)call_nc_insn,
               "call to a non-canonical address: RIP is the call (got %lx)", ex_last.rip);
}

int main(struct mb_info *mbi)
{
    (void)mbi;
    test_sizes();
    test_ad();
    test_tlb();
    test_rsvd();
    test_canonical();
    return report_summary();
}
