/* precise.c: faults are precise and code is coherent with data
 * (SDM Vol 3A 6.5 "faults ... restart", 11.6 "self-modifying code"):
 *   - stores to code are seen by the next execution: same address, an
 *     alias of the same physical page, and the very next instruction;
 *   - accesses and fetches that cross into a bad page fault with CR2 in
 *     the second page and change nothing (no half-done store, RSP kept);
 *   - a faulting REP MOVSB stops with RCX/RSI/RDI at the faulting element
 *     and resumes from there once the handler fixes the page.
 */
#include "kit.h"

#define ALIAS 0x500000000ull   /* a second mapping of a code page */
#define WIN   0x540000000ull   /* two-page windows with one bad page */

typedef int (*fn_t)(void);

static void set_ret_imm(u8 *p, u32 v)
{
    /* mov $v, %eax; ret */
    p[0] = 0xb8;
    memcpy(p + 1, &v, 4);
    p[5] = 0xc3;
}

static void test_smc(void)
{
    u8 *code = alloc_page();
    set_ret_imm(code, 1);
    report(((fn_t)code)() == 1, "smc: first version runs");
    set_ret_imm(code, 2);
    report(((fn_t)code)() == 2, "smc: store to the code, next call sees it");

    map_4k(ALIAS, virt_to_phys(code), PT_PRESENT | PT_WRITABLE);
    report(((fn_t)ALIAS)() == 2, "smc: alias runs the same code");
    set_ret_imm(code, 3);   /* store through the identity mapping */
    report(((fn_t)ALIAS)() == 3, "smc: store through another mapping is seen");
    *(volatile u32 *)(ALIAS + 1) = 4;   /* and the other way round */
    report(((fn_t)code)() == 4, "smc: store through the alias is seen");

    /* The instruction right after the store: movb $2, 1(%rip) patches the
     * immediate of the following "mov $1, %eax". */
    static const u8 patch_next[] = {
        0xc6, 0x05, 0x01, 0x00, 0x00, 0x00, 0x02, /* movb $2, next+1 */
        0xb8, 0x01, 0x00, 0x00, 0x00,             /* next: mov $1, %eax */
        0xc3,
    };
    memcpy(code + 64, patch_next, sizeof(patch_next));
    report(((fn_t)(code + 64))() == 2, "smc: patching the next instruction takes effect");
    report(((fn_t)(code + 64))() == 2 && code[64 + 8] == 2, "smc: and stays patched");
}

/* ---- page-crossing faults ------------------------------------------------------ */
static void read8(void *p) { (void)*(volatile u64 *)p; }
static void write8(void *p) { *(volatile u64 *)p = 0x1122334455667788ull; }
static void call_it(void *p)
{
    asm volatile("call *%0" :: "r"(p) : "memory", "rax", "rcx", "rdx", "rsi", "rdi", "r8",
                 "r9", "r10", "r11");
}

/* push at the bottom of a one-page stack whose lower neighbour is absent. */
u64 push_rsp; /* written by the asm below */
static void push_fault(void *top)
{
    asm volatile("movq %%rsp, %%rbx\n\t"
                 "movq %0, %%rsp\n\t"
                 "movq %%rsp, push_rsp(%%rip)\n\t"
                 "pushq $1\n\t"
                 "movq %%rbx, %%rsp"
                 :: "r"(top) : "rbx", "memory");
}

static void test_crossing(void)
{
    u8 *lo = alloc_page(), *hi = alloc_page();
    int v;

    /* Second page not present. */
    map_4k(WIN, virt_to_phys(lo), PT_PRESENT | PT_WRITABLE);
    unmap(WIN + 4096);
    v = try_call(read8, (void *)(WIN + 4092));
    report(v == PF_VECTOR && ex_last.error_code == 0 && ex_last.cr2 == WIN + 4096,
           "8-byte read across into a missing page: #PF(0), cr2 = second page");

    /* Second page read-only: the store faults and writes nothing. */
    map_4k(WIN + 4096, virt_to_phys(hi), PT_PRESENT);
    memset(lo, 0xaa, 4096);
    memset(hi, 0xbb, 4096);
    v = try_call(write8, (void *)(WIN + 4092));
    report(v == PF_VECTOR && ex_last.error_code == (PFERR_P | PFERR_W) &&
           ex_last.cr2 == WIN + 4096, "8-byte write across into a read-only page: #PF(P|W)");
    report(lo[4092] == 0xaa && lo[4095] == 0xaa && hi[0] == 0xbb,
           "the faulting store changed neither page");

    /* An instruction whose bytes run into a missing page. */
    unmap(WIN + 4096);
    set_ret_imm(lo + 4094, 7);   /* b8 | 07 00 00 00 c3 in the missing page */
    v = try_call(call_it, (void *)(WIN + 4094));
    report(v == PF_VECTOR && ex_last.error_code == PFERR_I && ex_last.cr2 == WIN + 4096 &&
           ex_last.rip == WIN + 4094, "fetch across into a missing page: #PF(I), rip = insn");

    /* PUSH that faults leaves RSP as it was. #PF goes to an IST stack: on
     * the broken stack its delivery would fault again (#DF). */
    map_4k(WIN, virt_to_phys(lo), PT_PRESENT | PT_WRITABLE);
    unmap(WIN - 4096);
    idt_set_ist(PF_VECTOR, 2);
    v = try_call(push_fault, (void *)WIN);
    idt_set_ist(PF_VECTOR, 0);
    report(v == PF_VECTOR && ex_last.cr2 == WIN - 8 && ex_last.rsp == push_rsp &&
           push_rsp == WIN, "faulting push: cr2 = rsp-8, saved rsp unchanged");
}

/* ---- REP MOVSB restarts at the faulting element ---------------------------------- */
static u64 fault_rcx, fault_rsi, fault_rdi, fault_cr2;
static int fixups;
static void make_writable(struct ex_regs *r)
{
    fault_rcx = r->rcx;
    fault_rsi = r->rsi;
    fault_rdi = r->rdi;
    fault_cr2 = read_cr2();
    fixups++;
    pte_set(fault_cr2 & ~0xfffull, PT_WRITABLE);
}

static void test_rep_restart(void)
{
    u8 *src = alloc_page(), *d0 = alloc_page(), *d1 = alloc_page();
    u8 *s1 = alloc_page();
    for (int i = 0; i < 4096; i++) {
        src[i] = (u8)i;
        s1[i] = (u8)(i * 3);
    }
    map_4k(WIN + 0x10000, virt_to_phys(src), PT_PRESENT);
    map_4k(WIN + 0x11000, virt_to_phys(s1), PT_PRESENT);
    map_4k(WIN + 0x20000, virt_to_phys(d0), PT_PRESENT | PT_WRITABLE);
    map_4k(WIN + 0x21000, virt_to_phys(d1), PT_PRESENT);   /* read-only */

    ex_handler_t old = handle_exception(PF_VECTOR, make_writable);
    u64 si = WIN + 0x10000 + 100, di = WIN + 0x20000 + 100, cx = 6000;
    asm volatile("cld; rep movsb" : "+S"(si), "+D"(di), "+c"(cx) :: "memory");
    handle_exception(PF_VECTOR, old);

    u64 done = WIN + 0x21000 - (WIN + 0x20000 + 100);
    report(fixups == 1 && fault_cr2 == WIN + 0x21000, "rep movsb: one #PF at the read-only page");
    report(fault_rdi == WIN + 0x21000 && fault_rsi == WIN + 0x10000 + 100 + done &&
           fault_rcx == 6000 - done, "rep movsb: rcx/rsi/rdi at the faulting byte (%lu done)",
           done);
    bool ok = cx == 0 && si == WIN + 0x10000 + 6100 && di == WIN + 0x20000 + 6100;
    for (u64 i = 0; i < 6000; i++) {
        u64 s = 100 + i, d = 100 + i;
        u8 want = s < 4096 ? src[s] : s1[s - 4096];
        u8 got = d < 4096 ? d0[d] : d1[d - 4096];
        ok &= want == got;
    }
    report(ok, "rep movsb: resumed and copied all 6000 bytes");
}

int main(struct mb_info *mbi)
{
    (void)mbi;
    test_smc();
    test_crossing();
    test_rep_restart();
    return report_summary();
}
