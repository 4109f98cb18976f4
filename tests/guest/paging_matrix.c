/* paging_matrix.c: the page-permission matrix of SDM Vol 3A 4.6 (4-level
 * paging, EFER.NXE=1), in the spirit of kvm-unit-tests' access test.
 *
 * Part 1: every combination of PTE U/S, R/W, NX x CR0.WP x CR4.SMEP x
 * CR4.SMAP x EFLAGS.AC x CPL 0/3 x read/write/fetch (768 accesses). Each
 * result (no fault, or #PF with its error code and CR2) is compared with
 * the rules computed here. One line per PTE/control combination:
 *
 *   PASS: U1 W0 X1 wp1 smep0 smap1 ac0 | cpl0 r. w03 x. | cpl3 r. w07 x.
 *
 * "." = no fault, "NN" = #PF error code (hex), "vNN" = another vector.
 *
 * Part 2: the PDE and PTE bits combine (U and R/W must be 1 at both levels,
 * NX at either level forbids fetches: SDM 4.6.1), at WP=1, no SMEP/SMAP.
 *
 * Part 3: the part-1 rules for a 2 MiB leaf (PDE.PS=1), AC=0.
 */
#include "kit.h"

#define TEST_VA  0x140000000ull   /* own PDPT/PD/PT: nothing else shares them */
#define DATA_OFF 0x800            /* read/write here; a RET at offset 0 */

enum { RD, WR, EX };
static const char kind_ch[] = "rwx";

/* The SDM's rules. Returns -1 if the access is allowed, else the #PF error
 * code. (Only permission faults: the page is present, no reserved bits.) */
static int expect(bool u, bool w, bool nx, bool wp, bool smep, bool smap,
                  bool ac, int cpl, int kind)
{
    bool ok;
    if (cpl == 3) {
        /* User-mode access: U/S=1 at every level; writes need R/W=1
         * regardless of WP; fetches need XD=0. */
        ok = u && (kind == RD || (kind == WR && w) || (kind == EX && !nx));
    } else if (kind == RD) {
        /* Supervisor read of a user page: forbidden by SMAP unless AC=1. */
        ok = !(u && smap && !ac);
    } else if (kind == WR) {
        /* SMAP as for reads; then with WP=1 writes need R/W=1. */
        ok = !(u && smap && !ac) && (!wp || w);
    } else {
        /* Supervisor fetch: XD=0 and, with SMEP, not a user page. */
        ok = !nx && !(u && smep);
    }
    if (ok)
        return -1;
    /* I/D is set for fetches when NXE=1 or SMEP=1 (SDM 4.7); NXE is on. */
    return PFERR_P | (kind == WR ? PFERR_W : 0) | (cpl == 3 ? PFERR_U : 0) |
           (kind == EX ? PFERR_I : 0);
}

USER_TEXT static long user_access(long arg)
{
    u64 a = (u64)arg & ~3ull;
    int kind = arg & 3;
    if (kind == RD)
        return *(volatile u8 *)a;
    if (kind == WR)
        *(volatile u8 *)a = 1;
    else
        ((void (*)(void))(a & ~0xfffull))();
    return 0;
}

static bool kernel_ac;
static void kernel_access(void *arg)
{
    u64 a = (u64)arg & ~3ull;
    int kind = (u64)arg & 3;
    if (kernel_ac)
        write_rflags(read_rflags() | X86_EFLAGS_AC);
    if (kind == RD)
        (void)*(volatile u8 *)a;
    else if (kind == WR)
        *(volatile u8 *)a = 1;
    else
        asm volatile("call *%0" :: "r"(a & ~0xfffull)
                     : "memory", "rax", "rcx", "rdx", "rsi", "rdi", "r8", "r9",
                       "r10", "r11");
    write_rflags(read_rflags() & ~X86_EFLAGS_AC);
}

/* Do one access at `base` (TEST_VA unless part 3); return -1 (no fault),
 * the #PF error code, or 0x100 | vector for another exception, 0x200 if
 * CR2 was wrong. */
static u64 base = TEST_VA;
static int do_access(int cpl, int kind, bool ac)
{
    u64 a = (kind == EX ? base : base + DATA_OFF) | kind;
    int v;
    if (cpl == 3) {
        long ret;
        v = run_user_flags(user_access, (long)a, &ret, ac ? X86_EFLAGS_AC : 0);
    } else {
        kernel_ac = ac;
        v = try_call(kernel_access, (void *)a);
    }
    if (v < 0)
        return -1;
    if (v != PF_VECTOR)
        return 0x100 | v;
    if (ex_last.cr2 != (a & ~3ull))
        return 0x200;
    return (int)ex_last.error_code;
}

static int fmt_result(char *p, int r)
{
    if (r < 0)
        return snprintf(p, 8, ".");
    if (r >= 0x200)
        return snprintf(p, 8, "cr2!");
    if (r >= 0x100)
        return snprintf(p, 8, "v%02d", r & 0xff);
    return snprintf(p, 8, "%02x", r);
}

static u8 *page;

static void set_controls(bool wp, bool smep, bool smap)
{
    u64 cr0 = read_cr0() & ~X86_CR0_WP, cr4 = read_cr4();
    cr4 &= ~(X86_CR4_SMEP | X86_CR4_SMAP);
    write_cr0(cr0 | (wp ? X86_CR0_WP : 0));
    write_cr4(cr4 | (smep ? X86_CR4_SMEP : 0) | (smap ? X86_CR4_SMAP : 0));
    invlpg((void *)TEST_VA);
    invlpg((void *)(TEST_VA + DATA_OFF));
}

static void part1(void)
{
    for (int pte = 0; pte < 8; pte++) {
        bool u = pte & 4, w = pte & 2, nx = pte & 1;
        map_4k(TEST_VA, virt_to_phys(page), PT_PRESENT | (u ? PT_USER : 0) |
               (w ? PT_WRITABLE : 0) | (nx ? PT_NX : 0));
        for (int ctl = 0; ctl < 16; ctl++) {
            bool wp = ctl & 8, smep = ctl & 4, smap = ctl & 2, ac = ctl & 1;
            char line[160], *p = line;
            bool all = true;
            set_controls(wp, smep, smap);
            p += snprintf(p, 64, "U%d W%d X%d wp%d smep%d smap%d ac%d", u, w,
                          !nx, wp, smep, smap, ac);
            char want_s[64], *q = want_s;
            for (int cpl = 0; cpl <= 3; cpl += 3) {
                p += snprintf(p, 16, " | cpl%d", cpl);
                q += snprintf(q, 16, " | cpl%d", cpl);
                for (int k = RD; k <= EX; k++) {
                    page[0] = 0xc3; /* RET, for fetches */
                    int got = do_access(cpl, k, ac);
                    int want = expect(u, w, nx, wp, smep, smap, ac, cpl, k);
                    all &= got == want;
                    *p++ = ' ';
                    *p++ = kind_ch[k];
                    p += fmt_result(p, got);
                    *q++ = ' ';
                    *q++ = kind_ch[k];
                    q += fmt_result(q, want);
                }
            }
            set_controls(true, false, false);
            if (all)
                report(true, "%s", line);
            else
                report(false, "%s (want%s)", line, want_s + 0);
        }
    }
}

/* Part 2: PDE x PTE. Access rights combine: U and R/W are ANDed, XD ORed. */
static void part2(void)
{
    u64 *pde = pte_at(TEST_VA, 2);
    for (int bits = 0; bits < 64; bits++) {
        bool pu = bits & 32, pw = bits & 16, pnx = bits & 8;
        bool u = bits & 4, w = bits & 2, nx = bits & 1;
        map_4k(TEST_VA, virt_to_phys(page), PT_PRESENT | (u ? PT_USER : 0) |
               (w ? PT_WRITABLE : 0) | (nx ? PT_NX : 0));
        pde = pte_at(TEST_VA, 2);
        *pde = (*pde & PT_ADDR_MASK) | PT_PRESENT | (pu ? PT_USER : 0) |
               (pw ? PT_WRITABLE : 0) | (pnx ? PT_NX : 0);
        flush_tlb();
        char line[128], *p = line;
        bool all = true;
        p += snprintf(p, 64, "pde U%d W%d X%d pte U%d W%d X%d", pu, pw, !pnx,
                      u, w, !nx);
        for (int cpl = 0; cpl <= 3; cpl += 3) {
            p += snprintf(p, 16, " | cpl%d", cpl);
            for (int k = RD; k <= EX; k++) {
                page[0] = 0xc3;
                int got = do_access(cpl, k, false);
                int want = expect(pu && u, pw && w, pnx || nx, true, false,
                                  false, false, cpl, k);
                all &= got == want;
                *p++ = ' ';
                *p++ = kind_ch[k];
                p += fmt_result(p, got);
            }
        }
        report(all, "%s", line);
    }
    *pde = (*pde & PT_ADDR_MASK) | PT_PRESENT | PT_WRITABLE | PT_USER;
    flush_tlb();
}

/* Part 3: a 2M leaf. The 2M page is physical 0x800000 (identity-mapped,
 * unused by the kit); its first bytes hold the RET. */
#define LARGE_VA 0x180000000ull
static void part3(void)
{
    u8 *phys = (u8 *)0x800000;
    base = LARGE_VA;
    for (int pte = 0; pte < 8; pte++) {
        bool u = pte & 4, w = pte & 2, nx = pte & 1;
        map_2m(LARGE_VA, 0x800000, PT_PRESENT | (u ? PT_USER : 0) |
               (w ? PT_WRITABLE : 0) | (nx ? PT_NX : 0));
        for (int ctl = 0; ctl < 8; ctl++) {
            bool wp = ctl & 4, smep = ctl & 2, smap = ctl & 1;
            char line[160], *p = line;
            bool all = true;
            set_controls(wp, smep, smap);
            invlpg((void *)LARGE_VA);
            p += snprintf(p, 64, "2M U%d W%d X%d wp%d smep%d smap%d", u, w, !nx, wp, smep, smap);
            for (int cpl = 0; cpl <= 3; cpl += 3) {
                p += snprintf(p, 16, " | cpl%d", cpl);
                for (int k = RD; k <= EX; k++) {
                    phys[0] = 0xc3;
                    int got = do_access(cpl, k, false);
                    int want = expect(u, w, nx, wp, smep, smap, false, cpl, k);
                    all &= got == want;
                    *p++ = ' ';
                    *p++ = kind_ch[k];
                    p += fmt_result(p, got);
                }
            }
            set_controls(true, false, false);
            report(all, "%s", line);
        }
    }
    unmap(LARGE_VA);
    base = TEST_VA;
}

int main(struct mb_info *mbi)
{
    (void)mbi;
    if (!cpuid_bit(7, 0, 'b', CPUID_7_EBX_SMEP) ||
        !cpuid_bit(7, 0, 'b', CPUID_7_EBX_SMAP) ||
        !(rdmsr(MSR_EFER) & EFER_NXE)) {
        report(false, "CPU has SMEP, SMAP and NX");
        return report_summary();
    }
    page = alloc_page();
    part1();
    part2();
    part3();
    return report_summary();
}
