/* The decoder: prefixes, ModRM/SIB/displacement forms, immediates,
 * lengths, and the encodings that must fault (#UD, #GP for > 15 bytes). */
#include "cpu_harness.h"
#include "unit.h"

static struct insn in;

static int dec(int code_size, const uint8_t *b, int n)
{
    bool more;
    return decode_insn(&in, b, n, code_size, &more);
}
#define DEC(cs, ...)                                                       \
    ({ static const uint8_t b_[] = { __VA_ARGS__ }; dec(cs, b_, sizeof(b_)); })

TEST(lengths_of_common_forms)
{
    CHECK_EQ(DEC(8, 0x90), 1);
    CHECK_EQ(DEC(8, 0x48, 0xb8, 1, 2, 3, 4, 5, 6, 7, 8), 10); /* mov r64, imm64 */
    CHECK_EQ(in.imm, 0x0807060504030201ull);
    CHECK_EQ(DEC(8, 0x8b, 0x44, 0x24, 0x08), 4);              /* SIB + disp8 */
    CHECK_EQ(in.base, R_RSP);
    CHECK_EQ(in.index, 0xff);
    CHECK_EQ(in.seg, S_SS);
    CHECK_EQ(in.disp, 8);
    CHECK_EQ(DEC(8, 0x8b, 0x05, 0x10, 0, 0, 0), 6);           /* RIP-relative */
    CHECK(in.flags & INSN_F_RIPREL);
    CHECK_EQ(DEC(4, 0x8b, 0x05, 0x10, 0, 0, 0), 6);           /* disp32 absolute */
    CHECK(!(in.flags & INSN_F_RIPREL));
    CHECK_EQ(in.base, 0xff);
    CHECK_EQ(DEC(2, 0x8b, 0x46, 0xfe), 3);                    /* [bp-2]: SS */
    CHECK_EQ(in.seg, S_SS);
    CHECK_EQ(in.disp, -2);
    CHECK_EQ(DEC(2, 0x8b, 0x06, 0x34, 0x12), 4);              /* [disp16] */
    CHECK_EQ(in.base, 0xff);
    CHECK_EQ(in.disp, 0x1234);
    CHECK_EQ(DEC(8, 0x81, 0x84, 0x88, 1, 0, 0, 0, 0x78, 0x56, 0x34, 0x12), 11);
    CHECK_EQ(in.index, R_RCX);
    CHECK_EQ(in.scale, 2);
    CHECK_EQ(in.imm, 0x12345678);
    CHECK_EQ(DEC(8, 0x48, 0x83, 0xc0, 0xff), 4);              /* Ib sign-extended */
    CHECK_EQ(in.imm, ~0ull);
    CHECK_EQ(DEC(4, 0xc8, 0x10, 0x00, 0x03), 4);              /* enter iw, ib */
    CHECK_EQ(in.imm, 0x10);
    CHECK_EQ(in.imm2, 3);
    CHECK_EQ(DEC(4, 0xa1, 0x78, 0x56, 0x34, 0x12), 5);        /* moffs32 */
    CHECK_EQ(DEC(8, 0xa1, 1, 2, 3, 4, 5, 6, 7, 8), 9);        /* moffs64 */
    CHECK_EQ(DEC(4, 0x0f, 0x20, 0xc0), 3);                    /* mov eax, cr0 */
    CHECK_EQ(DEC(4, 0x0f, 0x22, 0x00), 3);                    /* mod ignored: no disp */
    CHECK_EQ(in.mod, 3);
    CHECK_EQ(DEC(4, 0xea, 1, 2, 3, 4, 0x08, 0x00), 7);        /* jmp far ptr16:32 */
    CHECK_EQ(in.imm2, 8);
}

TEST(operand_and_address_size_prefixes)
{
    DEC(8, 0x66, 0x48, 0x01, 0xc0); /* REX.W beats 66 */
    CHECK_EQ(in.opsize, 8);
    DEC(8, 0x66, 0x01, 0xc0);
    CHECK_EQ(in.opsize, 2);
    DEC(8, 0x50);                   /* push: 64-bit default */
    CHECK_EQ(in.opsize, 8);
    DEC(8, 0x66, 0x50);
    CHECK_EQ(in.opsize, 2);
    DEC(8, 0x66, 0xe8, 0, 0, 0, 0); /* near branches: 64 regardless */
    CHECK_EQ(in.opsize, 8);
    DEC(2, 0x66, 0x01, 0xc0);
    CHECK_EQ(in.opsize, 4);
    DEC(2, 0x67, 0x8b, 0x04, 0x24); /* 32-bit addressing in 16-bit code */
    CHECK_EQ(in.addrsize, 4);
    CHECK_EQ(in.len, 4);
    DEC(8, 0x67, 0x8b, 0x00);
    CHECK_EQ(in.addrsize, 4);
    DEC(8, 0x41, 0x88, 0xc4);       /* mov r12b, al: REX */
    CHECK_EQ(in.rm, 12);
    DEC(8, 0x44, 0x8b, 0x04, 0x8d, 0, 0, 0, 0); /* REX.R, SIB no base */
    CHECK_EQ(in.reg, 8);
    CHECK_EQ(in.base, 0xff);
    DEC(8, 0x8b, 0x04, 0x25, 0, 0, 0, 0);       /* index 0b100 is "none" */
    CHECK_EQ(in.index, 0xff);
    DEC(8, 0x42, 0x8b, 0x04, 0x25, 0, 0, 0, 0); /* but with REX.X it is r12 */
    CHECK_EQ(in.index, 12);
    DEC(8, 0x64, 0x8b, 0x00);       /* FS override counts in 64-bit mode */
    CHECK_EQ(in.seg, S_FS);
    DEC(8, 0x36, 0x8b, 0x00);       /* SS: base ignored, but #SS faults */
    CHECK_EQ(in.seg, S_SS);
    DEC(4, 0x26, 0x8b, 0x00);
    CHECK_EQ(in.seg, S_ES);
}

/* A REX followed by a legacy prefix is ignored (SDM Vol 2 2.2.1). */
TEST(rex_must_be_last)
{
    DEC(8, 0x48, 0x66, 0x01, 0xc0);
    CHECK_EQ(in.opsize, 2);
    CHECK_EQ(in.rex, 0);
    DEC(8, 0x48, 0x41, 0x01, 0xc0); /* the last REX counts */
    CHECK_EQ(in.opsize, 4);
    CHECK_EQ(in.rm, 8);
    CHECK_EQ(DEC(4, 0x48, 0x90), 1); /* 32-bit mode: DEC eax */
}

TEST(fifteen_byte_limit)
{
    uint8_t b[20];
    memset(b, 0x66, sizeof(b));
    b[14] = 0x90;                    /* 14 prefixes + NOP = 15: fine */
    CHECK_EQ(dec(8, b, 20), 15);
    b[14] = 0x66;
    b[15] = 0x90;                    /* 16 bytes */
    CHECK_EQ(dec(8, b, 20), 0);
    CHECK(in.fn != NULL);
}

TEST(need_more_at_page_end)
{
    static const uint8_t b[] = { 0xb8, 1, 2 };
    bool more = false;
    CHECK_EQ(decode_insn(&in, b, 3, 4, &more), 0);
    CHECK(more);
    CHECK_EQ(decode_insn(&in, b, 1, 4, &more), 0);
    CHECK(more);
}

/* ---- run-time: the faults of invalid encodings ---- */

static struct harness h;

static int run_vec(int mode, const uint8_t *code, size_t len)
{
    h_init(&h, mode);
    h_load(&h, code, len);
    h_run(&h);
    int v = h_vector(&h);
    return v;
}

TEST(invalid_encodings_raise_ud)
{
    static const uint8_t ud2[] = { 0x0f, 0x0b, 0xf4 };
    static const uint8_t lock_reg[] = { 0xf0, 0x01, 0xc3, 0xf4 };      /* lock add ebx, eax */
    static const uint8_t lock_mov[] = { 0xf0, 0x89, 0x03, 0xf4 };      /* lock mov [rbx], eax */
    static const uint8_t lock_cmp[] = { 0xf0, 0x39, 0x03, 0xf4 };      /* lock cmp */
    static const uint8_t x87[] = { 0xd9, 0xe8, 0xf4 };                 /* fld1 */
    static const uint8_t sse[] = { 0x0f, 0x28, 0xc1, 0xf4 };           /* movaps */
    static const uint8_t lea_reg[] = { 0x8d, 0xc0, 0xf4 };             /* lea eax, eax */
    static const uint8_t push_es64[] = { 0x06, 0xf4 };
    static const uint8_t popcnt_nof3[] = { 0x0f, 0xb8, 0xc0, 0xf4 };
    static const uint8_t map38[] = { 0x66, 0x0f, 0x38, 0x00, 0xc1, 0xf4 };
    static const uint8_t sfence66[] = { 0x66, 0x0f, 0xae, 0xf8, 0xf4 };
    static const uint8_t clflush_f3[] = { 0xf3, 0x0f, 0xae, 0x38, 0xf4 };
    static const uint8_t fxsave[] = { 0x0f, 0xae, 0x00, 0xf4 };
    static const uint8_t stac66[] = { 0x66, 0x0f, 0x01, 0xcb, 0xf4 };
    static const uint8_t salc64[] = { 0xd6, 0xf4 };
    struct { const uint8_t *b; size_t n; } cases[] = {
        { ud2, sizeof(ud2) }, { lock_reg, sizeof(lock_reg) },
        { lock_mov, sizeof(lock_mov) }, { lock_cmp, sizeof(lock_cmp) },
        { x87, sizeof(x87) }, { sse, sizeof(sse) }, { lea_reg, sizeof(lea_reg) },
        { push_es64, sizeof(push_es64) }, { popcnt_nof3, sizeof(popcnt_nof3) },
        { map38, sizeof(map38) }, { sfence66, sizeof(sfence66) },
        { clflush_f3, sizeof(clflush_f3) }, { fxsave, sizeof(fxsave) },
        { stac66, sizeof(stac66) }, { salc64, sizeof(salc64) },
    };
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        int v = run_vec(H_LONG, cases[k].b, cases[k].n);
        if (v != EXC_UD)
            printf("  case %zu: vector %d\n", k, v);
        CHECK_EQ(v, EXC_UD);
        CHECK_EQ(h_frame(&h, 0), H_CODE);
        h_free(&h);
    }
}

TEST(lock_on_memory_rmw_is_fine)
{
    static const uint8_t code[] = {
        0x48, 0xc7, 0xc3, 0x00, 0x00, 0x10, 0x00, /* mov rbx, 0x100000 */
        0xf0, 0x83, 0x03, 0x05,                   /* lock add dword [rbx], 5 */
        0xf0, 0x0f, 0xba, 0x2b, 0x04,             /* lock bts dword [rbx], 4 */
        0xf4,
    };
    CHECK_EQ(run_vec(H_LONG, code, sizeof(code)), H_NOVEC);
    CHECK_EQ(h_r32(&h, H_DATA), 0x15);
    h_free(&h);
}

TEST(sixteen_bytes_is_gp0)
{
    uint8_t code[17];
    memset(code, 0x66, 15);
    code[15] = 0x90;
    code[16] = 0xf4;
    CHECK_EQ(run_vec(H_LONG, code, sizeof(code)), EXC_GP);
    CHECK_EQ(h_frame(&h, 0), 0);      /* error code 0 */
    CHECK_EQ(h_frame(&h, 1), H_CODE);
    h_free(&h);
}

TEST(nop_forms_execute)
{
    static const uint8_t code[] = {
        0x0f, 0x1f, 0x44, 0x00, 0x00,             /* nopl 0(rax,rax) */
        0x66, 0x0f, 0x1f, 0x84, 0, 0, 0, 0, 0,    /* nopw */
        0xf3, 0x0f, 0x1e, 0xfa,                   /* endbr64 */
        0xf3, 0x90,                               /* pause */
        0x0f, 0x18, 0x08,                         /* prefetcht0 [rax] */
        0x0f, 0xae, 0xf0,                         /* mfence */
        0x66, 0x90,                               /* xchg ax, ax */
        0xf4,
    };
    CHECK_EQ(run_vec(H_LONG, code, sizeof(code)), H_NOVEC);
    CHECK_EQ(h.c.rip, H_CODE + sizeof(code));
    h_free(&h);
}

/* 90 with REX.B is XCHG r8, rax, not NOP. */
TEST(rex_b_90_is_xchg)
{
    static const uint8_t code[] = { 0x41, 0x90, 0xf4 };
    h_init(&h, H_LONG);
    h_load(&h, code, sizeof(code));
    h.c.regs[R_RAX] = 1;
    h.c.regs[R_R8] = 2;
    h_run(&h);
    CHECK_EQ(h.c.regs[R_RAX], 2);
    CHECK_EQ(h.c.regs[R_R8], 1);
    h_free(&h);
}

static const struct unit_test tests[] = {
    T(lengths_of_common_forms), T(operand_and_address_size_prefixes),
    T(rex_must_be_last), T(fifteen_byte_limit), T(need_more_at_page_end),
    T(invalid_encodings_raise_ud), T(lock_on_memory_rmw_is_fine),
    T(sixteen_bytes_is_gp0), T(nop_forms_execute), T(rex_b_90_is_xchg),
};
UNIT_MAIN(tests)
