/* kitself.c: the guest kit tests itself: printf formatting, try_call
 * nesting, ASM_TRY, handlers, run_user, paging helpers, the command line.
 * Every other kernel relies on these. */
// @qemu-args: -append "alpha beta=1 gamma"
// @pinvm-args: -append "alpha beta=1 gamma"
#include "kit.h"

static bool fmt_is(const char *want, const char *fmt, ...)
{
    char buf[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    bool ok = !strcmp(buf, want);
    report(ok, "printf \"%s\" -> \"%s\"", fmt, buf);
    return ok;
}

static void test_printf(void)
{
    fmt_is("-42 7 3000000000", "%d %i %u", -42, 7, 3000000000u);
    fmt_is("beef BEEF 17", "%x %X %o", 0xbeefu, 0xbeefu, 15u);
    fmt_is("123456789ab fedcba9876543210", "%lx %llx", 0x123456789abul,
           0xfedcba9876543210ull);
    fmt_is("-9223372036854775808", "%ld", (long)(-9223372036854775807L - 1));
    fmt_is("18446744073709551615", "%lu", ~0ul);
    fmt_is("[00042][   42][42   ][-0042]", "[%05d][%5d][%-5d][%05d]", 42, 42, 42, -42);
    fmt_is("[  abc][abc  ][x][%]", "[%5s][%-5s][%c][%%]", "abc", "abc", 'x');
    fmt_is("0x1000 0x0", "%p %p", (void *)0x1000, (void *)0);
    fmt_is("(null)", "%s", (char *)NULL);
    fmt_is("[0000beef]", "[%08x]", 0xbeefu);
    char small[4];
    int n = snprintf(small, sizeof(small), "%d", 123456);
    report(n == 6 && !strcmp(small, "123"), "snprintf truncates, returns full length");
}

/* ---- try_call ------------------------------------------------------------- */
static volatile int depth_seen; /* stores must survive the unwind */
static void fault_ud(void *arg) { (void)arg; asm volatile("ud2"); }
static void fault_pf(void *arg) { (void)arg; (void)*(volatile u64 *)0x300000000ull; }
static void nested(void *arg)
{
    (void)arg;
    int v = try_call(fault_ud, NULL);
    depth_seen = v;
    /* The outer try is still armed: this one ends nested(). */
    fault_pf(NULL);
    depth_seen = 99;
}
static void no_fault(void *arg) { *(int *)arg = 7; }

static void test_try(void)
{
    int x = 0;
    report(try_call(no_fault, &x) == -1 && x == 7 && ex_last.vector == -1,
           "try_call: no exception -> -1");
    report(try_call(fault_ud, NULL) == UD_VECTOR && ex_last.error_code == 0,
           "try_call: #UD -> 6");
    int v = try_call(nested, NULL);
    report(depth_seen == UD_VECTOR && v == PF_VECTOR && ex_last.cr2 == 0x300000000ull,
           "try_call nests: inner #UD, then outer #PF");
    /* Callee-saved registers survive an exception unwind. */
    u64 r12 = 0x1212, r15 = 0x1515;
    asm volatile("" : "+r"(r12), "+r"(r15));
    try_call(fault_ud, NULL);
    asm volatile("" : "+r"(r12), "+r"(r15));
    report(r12 == 0x1212 && r15 == 0x1515, "try_call: registers kept across an unwind");
}

/* ---- ASM_TRY and handlers --------------------------------------------------- */
static int ud_count;
static void skip_ud2(struct ex_regs *r)
{
    ud_count++;
    r->rip += 2;
}

static void test_asm_try_and_handlers(void)
{
    u64 val = 5;
    asm volatile(ASM_TRY("1f") "movq (%1), %0\n1:" : "+r"(val) : "r"(&val) : "memory");
    report(exception_vector() == -1 && val == 5, "ASM_TRY: no fault -> -1");
    asm volatile(ASM_TRY("1f") "movq (%1), %0\n1:" : "+r"(val) : "r"(0x300000000ull));
    report(exception_vector() == PF_VECTOR && exception_error_code() == 0 &&
           ex_last.cr2 == 0x300000000ull, "ASM_TRY: #PF caught, error code and cr2");
    u64 msr;
    report(rdmsr_safe(MSR_EFER, &msr) == -1 && msr == rdmsr(MSR_EFER), "rdmsr_safe on EFER");

    ex_handler_t old = handle_exception(UD_VECTOR, skip_ud2);
    asm volatile("ud2; ud2");
    handle_exception(UD_VECTOR, old);
    report(ud_count == 2 && old == NULL, "handler: two ud2 skipped, back to none");
}

/* ---- CPL3 --------------------------------------------------------------------- */
USER_DATA static long user_counter;
USER_TEXT static long user_add(long a) { user_counter += a; return user_counter * 2; }
USER_TEXT static long user_fault(long a) { return *(volatile long *)a; }
USER_TEXT static long user_cpl(long a)
{
    u16 cs;
    (void)a;
    asm volatile("mov %%cs, %0" : "=r"(cs));
    return cs & 3;
}

static void test_user(void)
{
    long ret = 0;
    report(run_user(user_cpl, 0, &ret) == -1 && ret == 3, "run_user runs at CPL3");
    report(run_user(user_add, 20, &ret) == -1 && ret == 40, "run_user: return value");
    report(run_user(user_add, 1, &ret) == -1 && ret == 42, "run_user: user data persists");
    int v = run_user(user_fault, (long)__kernel_start, &ret);
    report(v == PF_VECTOR && ex_last.error_code == (PFERR_P | PFERR_U) &&
           (ex_last.cs & 3) == 3, "run_user: user read of kernel page -> #PF(P|U)");
    report(run_user(user_cpl, 0, &ret) == -1 && ret == 3, "run_user works after a fault");
    report(read_ds() == KERNEL_DS && read_cs() == KERNEL_CS, "segments restored");
    u64 *pte = get_pte((u64)user_add, NULL);
    report(pte && (*pte & PT_USER) && !(pte_get((u64)test_user) & PT_USER),
           "USER_TEXT page has U=1, kernel text U=0");
}

/* ---- paging helpers ------------------------------------------------------------ */
static void test_vm(void)
{
    u8 *a = alloc_page(), *b = alloc_page();
    bool zero = true;
    for (int i = 0; i < 4096; i++)
        zero &= a[i] == 0;
    report(zero && !((u64)a & 0xfff) && a != b, "alloc_page: zeroed, aligned, distinct");

    /* Splitting the 2M identity page at 0x600000 keeps its other pages. */
    *(volatile u64 *)0x605000 = 0xabcd;
    int level;
    get_pte(0x603000, &level);
    report(level == 2, "0x603000 starts in a 2M page");
    map_4k(0x603000, virt_to_phys(b), PT_PRESENT | PT_WRITABLE);
    get_pte(0x605000, &level);
    report(level == 1 && *(volatile u64 *)0x605000 == 0xabcd, "map_4k split: neighbours intact");
    b[8] = 0x77;
    report(*(volatile u8 *)0x603008 == 0x77, "map_4k: new page mapped");
    map_4k(0x603000, 0x603000, PT_PRESENT | PT_WRITABLE);

    u64 old = pte_clear(0x603000, PT_WRITABLE);
    report((old & PT_WRITABLE) && !(pte_get(0x603000) & PT_WRITABLE), "pte_clear returns old");
    old = pte_set(0x603000, PT_WRITABLE);
    report(!(old & PT_WRITABLE) && (pte_get(0x603000) & PT_WRITABLE), "pte_set returns old");
    unmap(0x603000);
    report(pte_get(0x603000) == 0, "unmap");
    map_4k(0x603000, 0x603000, PT_PRESENT | PT_WRITABLE);
}

static void test_cmdline(void)
{
    report(cmdline_has("alpha") && cmdline_has("beta=1") && cmdline_has("gamma"),
           "cmdline has the -append words");
    report(!cmdline_has("alph") && !cmdline_has("beta") && !on_qemu(),
           "cmdline matches whole words only");
}

int main(struct mb_info *mbi)
{
    (void)mbi;
    test_printf();
    test_try();
    test_asm_try_and_handlers();
    test_user();
    test_vm();
    test_cmdline();
    return report_summary();
}
