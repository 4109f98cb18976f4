/* Privilege rules of the system instructions (system.c, seg.c): which
 * fault at CPL 3, IOPL rules of CLI/STI/POPF, STI shadow, debug
 * registers, LAR/LSL/VERR/VERW, SGDT/LGDT, SWAPGS, RDTSC(P). Handlers are
 * called directly with a decoded instruction. */
#include <setjmp.h>

#include "cpu/sys.h"
#include "cpu/sysops.h"
#include "cpu_harness.h"
#include "unit.h"

static struct harness h;

static int try_op(op_fn fn, const struct insn *i)
{
    struct cpu *c = &h.c;
    c->fault_vec = -1;
    static cpu_jmp_buf jb;
    c->fault_jmp = &jb;
    if (CPU_SETJMP(jb))
        return c->fault_vec;
    fn(c, i);
    return -1;
}

static const struct insn none = {.opsize = 4, .addrsize = 4};

TEST(privileged_instructions_fault_at_cpl3)
{
    h_init(&h, H_LONG);
    h.c.cpl = 3;
    struct insn rm = {.mod = 3, .reg = 0, .rm = R_RAX, .opsize = 8};
    CHECK_EQ(try_op(op_hlt, &none), EXC_GP);
    CHECK(!h.c.halted);
    CHECK_EQ(try_op(op_rdmsr, &none), EXC_GP);
    CHECK_EQ(try_op(op_wrmsr, &none), EXC_GP);
    CHECK_EQ(try_op(op_invd, &none), EXC_GP);
    CHECK_EQ(try_op(op_clts, &none), EXC_GP);
    CHECK_EQ(try_op(op_mov_from_cr, &rm), EXC_GP);
    CHECK_EQ(try_op(op_mov_to_dr, &rm), EXC_GP);
    CHECK_EQ(try_op(op_rdpmc, &none), EXC_GP);
    struct insn swapgs = {.mod = 3, .reg = 7, .rm = 0};
    CHECK_EQ(try_op(op_grp7, &swapgs), EXC_GP);
    struct insn stac = {.mod = 3, .reg = 1, .rm = 3};
    CHECK_EQ(try_op(op_grp7, &stac), EXC_UD); /* STAC/CLAC: #UD at CPL > 0 */
    CHECK_EQ(h_flags(&h) & F_AC, 0);
    h.c.cpl = 0;
    CHECK_EQ(try_op(op_grp7, &stac), -1);
    CHECK(h_flags(&h) & F_AC);
    struct insn monitor = {.mod = 3, .reg = 1, .rm = 0};
    CHECK_EQ(try_op(op_grp7, &monitor), EXC_UD);
    struct insn xgetbv = {.mod = 3, .reg = 2, .rm = 0};
    CHECK_EQ(try_op(op_grp7, &xgetbv), EXC_UD);
    CHECK_EQ(try_op(op_rsm, &none), EXC_UD); /* not in SMM */
    h_free(&h);
}

TEST(cli_sti_popf_follow_iopl)
{
    h_init(&h, H_LONG);
    h.c.cpl = 3;
    CHECK_EQ(try_op(op_cli, &none), EXC_GP);
    cpu_set_eflags(&h.c, h_flags(&h) | (3u << 12)); /* IOPL 3 */
    CHECK_EQ(try_op(op_cli, &none), -1);
    CHECK_EQ(h_flags(&h) & F_IF, 0);
    CHECK_EQ(try_op(op_sti, &none), -1);
    CHECK(h_flags(&h) & F_IF);
    CHECK(h.c.intr_shadow);
    /* POPF at CPL 3 with IOPL 0: IF and IOPL silently unchanged */
    cpu_set_eflags(&h.c, F_IF | 2);
    h.c.intr_shadow = false;
    h.c.regs[R_RSP] = H_STACK - 8;
    h_w64(&h, H_STACK - 8, F_CF | (3u << 12) | F_AC);
    struct insn popf = {.opsize = 8};
    CHECK_EQ(try_op(op_popf, &popf), -1);
    CHECK_EQ(h_flags(&h) & (F_IF | F_IOPL | F_CF | F_AC), F_IF | F_CF | F_AC);
    /* CPL 0: IOPL and IF change */
    h.c.cpl = 0;
    h.c.regs[R_RSP] = H_STACK - 8;
    h_w64(&h, H_STACK - 8, 3u << 12);
    CHECK_EQ(try_op(op_popf, &popf), -1);
    CHECK_EQ(h_flags(&h) & (F_IF | F_IOPL), 3u << 12);
    /* PUSHF clears VM and RF in the image */
    cpu_set_eflags(&h.c, h_flags(&h) | F_RF);
    CHECK_EQ(try_op(op_pushf, &popf), -1);
    CHECK_EQ(h_r64(&h, H_STACK - 8) & F_RF, 0);
    h_free(&h);
}

TEST(debug_registers)
{
    h_init(&h, H_LONG);
    struct insn to = {.mod = 3, .reg = 7, .rm = R_RAX};
    struct insn from = {.mod = 3, .reg = 6, .rm = R_RBX};
    h.c.regs[R_RAX] = 0x1;
    CHECK_EQ(try_op(op_mov_to_dr, &to), -1);
    CHECK_EQ(h.c.dr[7], 0x401);
    h.c.regs[R_RAX] = 1ull << 32;
    CHECK_EQ(try_op(op_mov_to_dr, &to), EXC_GP);
    CHECK_EQ(try_op(op_mov_from_dr, &from), -1);
    CHECK_EQ(h.c.regs[R_RBX], 0xffff0ff0);
    struct insn dr4 = {.mod = 3, .reg = 4, .rm = R_RBX};
    CHECK_EQ(try_op(op_mov_from_dr, &dr4), -1); /* alias of DR6 */
    h.c.cr4 |= CR4_DE;
    CHECK_EQ(try_op(op_mov_from_dr, &dr4), EXC_UD);
    struct insn dr9 = {.mod = 3, .reg = 9, .rm = R_RBX};
    CHECK_EQ(try_op(op_mov_from_dr, &dr9), EXC_UD);
    h_free(&h);
}

TEST(lar_lsl_verr_verw)
{
    h_init(&h, H_PROT32);
    h_w64(&h, H_GDT + 0x18, 0x00cf9b000000ffffull);  /* code DPL0 */
    h_w64(&h, H_GDT + 0x08, 0x00cf9b000000ffffull);
    struct insn lar = {.mod = 3, .reg = R_RAX, .rm = R_RBX, .opsize = 4};
    h.c.regs[R_RBX] = 0x10;
    CHECK_EQ(try_op(op_lar, &lar), -1);
    CHECK(h_flags(&h) & F_ZF);
    CHECK_EQ(h.c.regs[R_RAX], 0x00cf9300);
    CHECK_EQ(try_op(op_lsl, &lar), -1);
    CHECK_EQ(h.c.regs[R_RAX], 0xffffffff);
    h.c.regs[R_RBX] = 0x48; /* beyond the GDT limit */
    h.c.regs[R_RAX] = 7;
    CHECK_EQ(try_op(op_lar, &lar), -1);
    CHECK_EQ(h_flags(&h) & F_ZF, 0);
    CHECK_EQ(h.c.regs[R_RAX], 7);
    /* at CPL 3 a DPL 0 segment is invisible */
    h.c.cpl = 3;
    h.c.regs[R_RBX] = 0x13;
    CHECK_EQ(try_op(op_lar, &lar), -1);
    CHECK_EQ(h_flags(&h) & F_ZF, 0);
    h.c.cpl = 0;
    struct insn verw = {.mod = 3, .reg = 5, .rm = R_RBX};
    struct insn verr = {.mod = 3, .reg = 4, .rm = R_RBX};
    h.c.regs[R_RBX] = 0x10;
    CHECK_EQ(try_op(op_grp6, &verw), -1);
    CHECK(h_flags(&h) & F_ZF);
    h.c.regs[R_RBX] = 0x08; /* code: readable, not writable */
    CHECK_EQ(try_op(op_grp6, &verw), -1);
    CHECK_EQ(h_flags(&h) & F_ZF, 0);
    CHECK_EQ(try_op(op_grp6, &verr), -1);
    CHECK(h_flags(&h) & F_ZF);
    h_free(&h);
}

TEST(sgdt_lgdt_round_trip_and_lgdt_needs_cpl0)
{
    h_init(&h, H_LONG);
    struct insn m = {.mod = 0, .reg = 0, .rm = R_RBX, .base = R_RBX, .index = 0xff,
                     .seg = S_DS, .opsize = 8, .addrsize = 8};
    h.c.regs[R_RBX] = H_DATA;
    CHECK_EQ(try_op(op_grp7, &m), -1); /* SGDT */
    CHECK_EQ(h_r16(&h, H_DATA), h.c.gdtr.limit);
    CHECK_EQ(h_r64(&h, H_DATA + 2), H_GDT);
    h_w16(&h, H_DATA, 0x7f);
    h_w64(&h, H_DATA + 2, 0x123000);
    m.reg = 2; /* LGDT */
    h.c.cpl = 3;
    CHECK_EQ(try_op(op_grp7, &m), EXC_GP);
    h.c.cpl = 0;
    CHECK_EQ(try_op(op_grp7, &m), -1);
    CHECK_EQ(h.c.gdtr.limit, 0x7f);
    CHECK_EQ(h.c.gdtr.base, 0x123000);
    h_w64(&h, H_DATA + 2, 0x0000800000000000ull);
    CHECK_EQ(try_op(op_grp7, &m), EXC_GP); /* non-canonical base */
    h_free(&h);
}

TEST(swapgs_and_rdtsc)
{
    h_init(&h, H_LONG);
    h.c.seg[S_GS].base = 0x1111;
    h.c.kernel_gs_base = 0x2222;
    struct insn swapgs = {.mod = 3, .reg = 7, .rm = 0};
    CHECK_EQ(try_op(op_grp7, &swapgs), -1);
    CHECK_EQ(h.c.seg[S_GS].base, 0x2222);
    CHECK_EQ(h.c.kernel_gs_base, 0x1111);
    h.c.tsc_offset = 100 - h.c.icount;
    h.c.tsc_aux = 5;
    struct insn rdtscp = {.mod = 3, .reg = 7, .rm = 1};
    CHECK_EQ(try_op(op_grp7, &rdtscp), -1);
    CHECK_EQ(h.c.regs[R_RAX], 100);
    CHECK_EQ(h.c.regs[R_RCX], 5);
    h.c.cr4 |= CR4_TSD;
    h.c.cpl = 3;
    CHECK_EQ(try_op(op_rdtsc, &none), EXC_GP);
    h_free(&h);

    h_init(&h, H_PROT32);
    CHECK_EQ(try_op(op_grp7, &swapgs), EXC_UD); /* only in 64-bit mode */
    h_free(&h);
}

static const struct unit_test tests[] = {
    T(privileged_instructions_fault_at_cpl3),
    T(cli_sti_popf_follow_iopl),
    T(debug_registers),
    T(lar_lsl_verr_verw),
    T(sgdt_lgdt_round_trip_and_lgdt_needs_cpl0),
    T(swapgs_and_rdtsc),
};
UNIT_MAIN(tests)
