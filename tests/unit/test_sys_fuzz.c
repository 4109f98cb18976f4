/* Robustness of the system paths against a hostile guest: random
 * descriptor tables, IDT, TSS and control-transfer code (far JMP/CALL/RET,
 * IRET, INT n, segment loads, LTR/LLDT, task switches) from every mode.
 * The only acceptable outcomes are guest-visible ones: events, a halt or
 * a triple fault. Run under ASan/UBSan (make test-asan) this also checks
 * that no guest value indexes host memory. Deterministic seed. */
#include "cpu/sys.h"
#include "cpu_harness.h"
#include "unit.h"

static struct harness h;

static uint64_t rng_state;
static uint64_t rnd(void)
{
    return unit_xorshift64(&rng_state);
}

/* Random but plausible descriptors: mostly present segments and gates
 * with random types, DPLs, selectors and bases inside RAM. */
static uint64_t rnd_desc(void)
{
    uint64_t d = rnd();
    switch (rnd() % 4) {
    case 0: /* flat-ish code/data with random type and DPL */
        d = 0x00cf00000000ffffull | (uint64_t)(0x90 | (rnd() & 0x6f)) << 40;
        break;
    case 1: /* gate to a random selector */
        d = (rnd() & 0xffff) | (rnd() & 0x7f) << 16 | (uint64_t)(0x80 | (rnd() & 0x7f)) << 40 |
            (uint64_t)(rnd() & 0x1f) << 32;
        break;
    case 2: /* TSS/LDT with a base in RAM */
        d = 0x67 | (uint64_t)(0x120000 + (rnd() & 0xf000)) << 16 |
            (uint64_t)(0x80 | (rnd() & 0x6f)) << 40;
        break;
    default:
        break;
    }
    return d;
}

static const uint8_t snippets[][8] = {
    {0xcf},                         /* iret */
    {0x48, 0xcf},                   /* iretq */
    {0xcb},                         /* retf */
    {0xca, 0x08, 0x00},             /* retf 8 */
    {0xcd, 0x80},                   /* int 0x80 */
    {0xcc},                         /* int3 */
    {0xf1},                         /* int1 */
    {0x8e, 0xd0},                   /* mov ss, ax */
    {0x8e, 0xd8},                   /* mov ds, ax */
    {0x8e, 0xe0},                   /* mov fs, ax */
    {0x0f, 0x00, 0xd8},             /* ltr ax */
    {0x0f, 0x00, 0xd0},             /* lldt ax */
    {0xff, 0x18},                   /* call far [eax/rax] */
    {0xff, 0x28},                   /* jmp far [eax/rax] */
    {0x0f, 0x01, 0x18},             /* lidt [eax/rax] */
    {0x0f, 0x22, 0xc0},             /* mov cr0, eax */
    {0x0f, 0x22, 0xe0},             /* mov cr4, eax */
    {0x0f, 0x30},                   /* wrmsr */
    {0x0f, 0x05},                   /* syscall */
    {0x0f, 0x07},                   /* sysret */
    {0x0f, 0x34},                   /* sysenter */
    {0x0f, 0x35},                   /* sysexit */
    {0x6c},                         /* insb */
    {0xe6, 0x80},                   /* out 0x80, al */
    {0x9d},                         /* popf */
    {0x0f, 0x02, 0xc0},             /* lar eax, eax */
    {0xfb},                         /* sti */
};

static void fuzz_one(int mode)
{
    h_init(&h, mode);
    struct cpu *c = &h.c;
    /* GDT: 32 random entries after the harness ones; LDT/TSS area random */
    for (int k = 4; k < 32; k++)
        h_w64(&h, H_GDT + 8u * k, rnd_desc());
    c->gdtr.limit = 32 * 8 - 1;
    for (int k = 0; k < 0x2000; k += 8)
        h_w64(&h, 0x120000u + k, rnd() & (rnd() | 0xffff0000ffffull));
    /* corrupt some IDT entries and maybe the IDT limit */
    for (int k = 0; k < 16; k++) {
        unsigned v = rnd() & 0xff;
        uint64_t at = H_IDT + (uint64_t)v * (mode == H_LONG ? 16 : 8);
        h_w64(&h, at, rnd_desc());
    }
    if (rnd() % 4 == 0)
        c->idtr.limit = rnd() & 0xfff;
    /* registers point into the random areas */
    for (int r = 0; r < 16; r++)
        c->regs[r] = rnd() % 3 == 0 ? (rnd() & 0xff) : 0x120000u + (rnd() & 0x1ff8);
    c->regs[R_RSP] = mode == H_REAL ? H_STACK16 : 0x120000u + (rnd() & 0x1ff0);
    c->regs[R_RCX] = rnd() % 2 ? 0xc0000080u : (uint32_t)rnd();
    c->star = rnd();
    c->sysenter_cs = rnd() & 0xffff;
    c->efer |= EFER_SCE;
    if (mode != H_REAL)
        h_seg(c, S_TR, 0x20 + 8 * (rnd() % 4), 0x120000, 0x2000, 0x8b);
    /* code: random snippets, then HLT */
    uint8_t code[256];
    size_t n = 0;
    while (n < sizeof code - 16) {
        const uint8_t *s = snippets[rnd() % (sizeof snippets / sizeof snippets[0])];
        size_t len = s[0] == 0x48 || s[0] == 0x0f || s[0] == 0xca ? 3 : 2;
        if (s[0] == 0x48)
            len = mode == H_LONG ? 2 : 0;
        if (s[0] == 0xcf || s[0] == 0xcb || s[0] == 0xcc || s[0] == 0xf1 ||
            s[0] == 0x6c || s[0] == 0x9d || s[0] == 0xfb)
            len = 1;
        if (s[0] == 0x0f && (s[1] == 0x30 || s[1] == 0x05 || s[1] == 0x07 ||
                             s[1] == 0x34 || s[1] == 0x35))
            len = 2;
        memcpy(code + n, s, len);
        n += len;
    }
    memset(code + n, 0xf4, sizeof code - n);
    h_load(&h, code, sizeof code);
    for (int slice = 0; slice < 4; slice++) {
        enum cpu_exit e = h_run_n(&h, 2000);
        CHECK(e == CPU_EXIT_BUDGET || e == CPU_EXIT_HLT || e == CPU_EXIT_SHUTDOWN);
        CHECK(c->cpl <= 3);
        CHECK(c->mode <= MODE_LONG);
        CHECK(c->fault_vec == -1);
        if (e == CPU_EXIT_SHUTDOWN)
            break;
        c->halted = false;
    }
    h_free(&h);
}

TEST(random_tables_and_transfers_never_escape)
{
    rng_state = 0x9e3779b97f4a7c15ull;
    for (int k = 0; k < 200; k++)
        fuzz_one(k % 3 == 0 ? H_REAL : k % 3 == 1 ? H_PROT32 : H_LONG);
}

static const struct unit_test tests[] = {
    T(random_tables_and_transfers_never_escape),
};
UNIT_MAIN(tests)
