/* decode.c: the x86-64 instruction decoder.
 *
 * The opcode maps are data: one row per opcode, operands in the notation
 * of SDM Vol 2 Appendix A (E,b = Eb: ModRM r/m byte; G,v = Gv: ModRM reg,
 * word/dword/qword; I,z = Iz: immediate word or dword ...), plus what the
 * row needs from the decoder:
 *
 *   I64  invalid in 64-bit mode          O64  valid only in 64-bit mode
 *   D64  operand size defaults to 64 in 64-bit mode (66 still gives 16)
 *   F64  operand size is 64 in 64-bit mode, prefixes notwithstanding
 *   LK   LOCK allowed (only with a memory destination)
 *   END  the decoded block ends after it (system, branch, mode change)
 *
 * Groups (ModRM.reg selects the operation) have their own 8-row tables;
 * a group row's second operand, if given, replaces the parent's (TEST in
 * group 3 is the only group member with an immediate). No x87, SSE, AVX:
 * those rows are empty and decode to #UD. */
#include <string.h>

#include "ops.h"
#include "sysops.h"

/* Operand kinds (SDM Vol 2 A.2). Z: register from the opcode's low three
 * bits; X/Y: DS:rSI / ES:rDI string operands; I1: the constant 1 (shift
 * group D0/D1); Ix: Ib for byte forms, Iz otherwise (group 3 TEST). */
enum opnd {
    _ = 0,
    Eb, Ew, Ed, Ev, Gb, Gw, Gv, Gz, M, Mp, Mq,
    Ib, Ibs, Iw, Iz, Iv, Ix, I1, Jb, Jz, Ob, Ov, Ap,
    Sw, Cd, Dd, Rd,
    AL, CL, DX, rAX, Zb, Zv, Xb, Xv, Yb, Yv,
};

enum {
    D_I64 = 1 << 0,
    D_O64 = 1 << 1,
    D_D64 = 1 << 2,
    D_F64 = 1 << 3,
    D_LK  = 1 << 4,
    D_END = 1 << 5,
    D_GRP = 1 << 6,
};

struct opdesc {
    op_fn fn;
    uint8_t o1, o2, o3;
    uint8_t grp;
    uint16_t f;
};

enum { G1 = 1, G1A, G2, G3, G4, G5, G8, G9, G11, G15, NGRP };

#define ROW(fn, a, b, c, fl) { fn, a, b, c, 0, fl }
#define GRP(g, a, b, fl) { NULL, a, b, _, g, (fl) | D_GRP }

/* ALU rows 00-05, 08-0D, ...: E,b G,b / E,v G,v / G,b E,b / G,v E,v /
 * AL,I,b / rAX,I,z. CMP writes nothing, so LOCK CMP is #UD. */
#define ALU6(base, n, lk)                                          \
    [base + 0] = ROW(op_##n##_EG, Eb, Gb, _, lk),                  \
    [base + 1] = ROW(op_##n##_EG, Ev, Gv, _, lk),                  \
    [base + 2] = ROW(op_##n##_GE, Gb, Eb, _, 0),                   \
    [base + 3] = ROW(op_##n##_GE, Gv, Ev, _, 0),                   \
    [base + 4] = ROW(op_##n##_AI, AL, Ib, _, 0),                   \
    [base + 5] = ROW(op_##n##_AI, rAX, Iz, _, 0)

static const struct opdesc map1[256] = {
    ALU6(0x00, add, D_LK),
    [0x06] = ROW(op_push_sreg, _, _, _, D_I64 | D_END),  /* PUSH ES */
    [0x07] = ROW(op_pop_sreg, _, _, _, D_I64 | D_END),   /* POP ES */
    ALU6(0x08, or, D_LK),
    [0x0e] = ROW(op_push_sreg, _, _, _, D_I64 | D_END),  /* PUSH CS */
    ALU6(0x10, adc, D_LK),
    [0x16] = ROW(op_push_sreg, _, _, _, D_I64 | D_END),  /* PUSH SS */
    [0x17] = ROW(op_pop_sreg, _, _, _, D_I64 | D_END),   /* POP SS */
    ALU6(0x18, sbb, D_LK),
    [0x1e] = ROW(op_push_sreg, _, _, _, D_I64 | D_END),  /* PUSH DS */
    [0x1f] = ROW(op_pop_sreg, _, _, _, D_I64 | D_END),   /* POP DS */
    ALU6(0x20, and, D_LK),
    [0x27] = ROW(op_daa, _, _, _, D_I64),
    ALU6(0x28, sub, D_LK),
    [0x2f] = ROW(op_das, _, _, _, D_I64),
    ALU6(0x30, xor, D_LK),
    [0x37] = ROW(op_aaa, _, _, _, D_I64),
    ALU6(0x38, cmp, 0),
    [0x3f] = ROW(op_aas, _, _, _, D_I64),
    /* 40-4F: REX prefixes in 64-bit mode (consumed before the table) */
    [0x40 ... 0x47] = ROW(op_inc_Z, Zv, _, _, D_I64),
    [0x48 ... 0x4f] = ROW(op_dec_Z, Zv, _, _, D_I64),
    [0x50 ... 0x57] = ROW(op_push_Z, Zv, _, _, D_D64),
    [0x58 ... 0x5f] = ROW(op_pop_Z, Zv, _, _, D_D64),
    [0x60] = ROW(op_pusha, _, _, _, D_I64),
    [0x61] = ROW(op_popa, _, _, _, D_I64),
    [0x62] = ROW(op_bound, Gv, M, _, D_I64),             /* 64: EVEX, #UD */
    [0x63] = ROW(op_arpl, Ew, Gw, _, D_I64 | D_END),     /* 64: MOVSXD */
    [0x68] = ROW(op_push_I, Iz, _, _, D_D64),
    [0x69] = ROW(op_imul_GEI, Gv, Ev, Iz, 0),
    [0x6a] = ROW(op_push_I, Ibs, _, _, D_D64),
    [0x6b] = ROW(op_imul_GEI, Gv, Ev, Ibs, 0),
    [0x6c] = ROW(op_ins, Yb, DX, _, D_END),
    [0x6d] = ROW(op_ins, Yv, DX, _, D_END),
    [0x6e] = ROW(op_outs, DX, Xb, _, D_END),
    [0x6f] = ROW(op_outs, DX, Xv, _, D_END),
    [0x70 ... 0x7f] = ROW(op_jcc, Jb, _, _, D_F64 | D_END),
    [0x80] = GRP(G1, Eb, Ib, 0),
    [0x81] = GRP(G1, Ev, Iz, 0),
    [0x82] = GRP(G1, Eb, Ib, D_I64),
    [0x83] = GRP(G1, Ev, Ibs, 0),
    [0x84] = ROW(op_test_EG, Eb, Gb, _, 0),
    [0x85] = ROW(op_test_EG, Ev, Gv, _, 0),
    [0x86] = ROW(op_xchg_EG, Eb, Gb, _, D_LK),
    [0x87] = ROW(op_xchg_EG, Ev, Gv, _, D_LK),
    [0x88] = ROW(op_mov_EG, Eb, Gb, _, 0),
    [0x89] = ROW(op_mov_EG, Ev, Gv, _, 0),
    [0x8a] = ROW(op_mov_GE, Gb, Eb, _, 0),
    [0x8b] = ROW(op_mov_GE, Gv, Ev, _, 0),
    [0x8c] = ROW(op_mov_sreg_store, Ev, Sw, _, D_END),
    [0x8d] = ROW(op_lea, Gv, M, _, 0),
    [0x8e] = ROW(op_mov_sreg_load, Sw, Ew, _, D_END),
    [0x8f] = GRP(G1A, Ev, _, D_D64),
    [0x90 ... 0x97] = ROW(op_xchg_ZA, Zv, rAX, _, 0), /* 90: NOP/PAUSE */
    [0x98] = ROW(op_cbw, _, _, _, 0),
    [0x99] = ROW(op_cwd, _, _, _, 0),
    [0x9a] = ROW(op_call_far_imm, Ap, _, _, D_I64 | D_END),
    [0x9b] = ROW(op_nop, _, _, _, 0),                    /* WAIT: no x87 state */
    [0x9c] = ROW(op_pushf, _, _, _, D_D64 | D_END),
    [0x9d] = ROW(op_popf, _, _, _, D_D64 | D_END),
    [0x9e] = ROW(op_sahf, _, _, _, 0),
    [0x9f] = ROW(op_lahf, _, _, _, 0),
    [0xa0] = ROW(op_mov_AO, AL, Ob, _, 0),
    [0xa1] = ROW(op_mov_AO, rAX, Ov, _, 0),
    [0xa2] = ROW(op_mov_OA, Ob, AL, _, 0),
    [0xa3] = ROW(op_mov_OA, Ov, rAX, _, 0),
    [0xa4] = ROW(op_movs, Yb, Xb, _, 0),
    [0xa5] = ROW(op_movs, Yv, Xv, _, 0),
    [0xa6] = ROW(op_cmps, Xb, Yb, _, 0),
    [0xa7] = ROW(op_cmps, Xv, Yv, _, 0),
    [0xa8] = ROW(op_test_AI, AL, Ib, _, 0),
    [0xa9] = ROW(op_test_AI, rAX, Iz, _, 0),
    [0xaa] = ROW(op_stos, Yb, AL, _, 0),
    [0xab] = ROW(op_stos, Yv, rAX, _, 0),
    [0xac] = ROW(op_lods, AL, Xb, _, 0),
    [0xad] = ROW(op_lods, rAX, Xv, _, 0),
    [0xae] = ROW(op_scas, AL, Yb, _, 0),
    [0xaf] = ROW(op_scas, rAX, Yv, _, 0),
    [0xb0 ... 0xb7] = ROW(op_mov_ZI, Zb, Ib, _, 0),
    [0xb8 ... 0xbf] = ROW(op_mov_ZI, Zv, Iv, _, 0),
    [0xc0] = GRP(G2, Eb, Ib, 0),
    [0xc1] = GRP(G2, Ev, Ib, 0),
    [0xc2] = ROW(op_ret, Iw, _, _, D_F64 | D_END),
    [0xc3] = ROW(op_ret, _, _, _, D_F64 | D_END),
    [0xc4] = ROW(op_load_far_ptr, Gz, Mp, _, D_I64 | D_END), /* LES; VEX */
    [0xc5] = ROW(op_load_far_ptr, Gz, Mp, _, D_I64 | D_END), /* LDS; VEX */
    [0xc6] = GRP(G11, Eb, Ib, 0),
    [0xc7] = GRP(G11, Ev, Iz, 0),
    [0xc8] = ROW(op_enter, Iw, Ib, _, D_D64),
    [0xc9] = ROW(op_leave, _, _, _, D_D64),
    [0xca] = ROW(op_retf, Iw, _, _, D_END),
    [0xcb] = ROW(op_retf, _, _, _, D_END),
    [0xcc] = ROW(op_int3, _, _, _, D_END),
    [0xcd] = ROW(op_int_imm, Ib, _, _, D_END),
    [0xce] = ROW(op_into, _, _, _, D_I64 | D_END),
    [0xcf] = ROW(op_iret, _, _, _, D_END),
    [0xd0] = GRP(G2, Eb, I1, 0),
    [0xd1] = GRP(G2, Ev, I1, 0),
    [0xd2] = GRP(G2, Eb, CL, 0),
    [0xd3] = GRP(G2, Ev, CL, 0),
    [0xd4] = ROW(op_aam, Ib, _, _, D_I64),
    [0xd5] = ROW(op_aad, Ib, _, _, D_I64),
    [0xd6] = ROW(op_salc, _, _, _, D_I64),    /* undocumented, as on Intel/AMD/QEMU */
    [0xd7] = ROW(op_xlat, _, _, _, 0),
    /* D8-DF: x87, #UD */
    [0xe0] = ROW(op_loopne, Jb, _, _, D_F64 | D_END),
    [0xe1] = ROW(op_loope, Jb, _, _, D_F64 | D_END),
    [0xe2] = ROW(op_loop, Jb, _, _, D_F64 | D_END),
    [0xe3] = ROW(op_jcxz, Jb, _, _, D_F64 | D_END),
    [0xe4] = ROW(op_in_imm, AL, Ib, _, D_END),
    [0xe5] = ROW(op_in_imm, rAX, Ib, _, D_END),
    [0xe6] = ROW(op_out_imm, Ib, AL, _, D_END),
    [0xe7] = ROW(op_out_imm, Ib, rAX, _, D_END),
    [0xe8] = ROW(op_call, Jz, _, _, D_F64 | D_END),
    [0xe9] = ROW(op_jmp, Jz, _, _, D_F64 | D_END),
    [0xea] = ROW(op_jmp_far_imm, Ap, _, _, D_I64 | D_END),
    [0xeb] = ROW(op_jmp, Jb, _, _, D_F64 | D_END),
    [0xec] = ROW(op_in_dx, AL, DX, _, D_END),
    [0xed] = ROW(op_in_dx, rAX, DX, _, D_END),
    [0xee] = ROW(op_out_dx, DX, AL, _, D_END),
    [0xef] = ROW(op_out_dx, DX, rAX, _, D_END),
    [0xf1] = ROW(op_int1, _, _, _, D_END),
    [0xf4] = ROW(op_hlt, _, _, _, D_END),
    [0xf5] = ROW(op_cmc, _, _, _, 0),
    [0xf6] = GRP(G3, Eb, _, 0),
    [0xf7] = GRP(G3, Ev, _, 0),
    [0xf8] = ROW(op_clc, _, _, _, 0),
    [0xf9] = ROW(op_stc, _, _, _, 0),
    [0xfa] = ROW(op_cli, _, _, _, D_END),
    [0xfb] = ROW(op_sti, _, _, _, D_END),
    [0xfc] = ROW(op_cld, _, _, _, 0),
    [0xfd] = ROW(op_std, _, _, _, 0),
    [0xfe] = GRP(G4, Eb, _, 0),
    [0xff] = GRP(G5, Ev, _, 0),
};

/* 0F xx (SDM Vol 2 Table A-3). */
static const struct opdesc map2[256] = {
    [0x00] = ROW(op_grp6, Ew, _, _, D_END),
    [0x01] = ROW(op_grp7, Ev, _, _, D_END),
    [0x02] = ROW(op_lar, Gv, Ew, _, D_END),
    [0x03] = ROW(op_lsl, Gv, Ew, _, D_END),
    [0x05] = ROW(op_syscall, _, _, _, D_END),
    [0x06] = ROW(op_clts, _, _, _, D_END),
    [0x07] = ROW(op_sysret, _, _, _, D_END),
    [0x08] = ROW(op_invd, _, _, _, D_END),
    [0x09] = ROW(op_invd, _, _, _, D_END),
    /* 0B UD2: empty row, #UD */
    [0x0d] = ROW(op_nop, Ev, _, _, 0),                   /* PREFETCHW */
    [0x18 ... 0x1f] = ROW(op_nop, Ev, _, _, 0),          /* hint NOPs, ENDBR */
    [0x20] = ROW(op_mov_from_cr, Rd, Cd, _, D_END),
    [0x21] = ROW(op_mov_from_dr, Rd, Dd, _, D_END),
    [0x22] = ROW(op_mov_to_cr, Cd, Rd, _, D_END),
    [0x23] = ROW(op_mov_to_dr, Dd, Rd, _, D_END),
    [0x30] = ROW(op_wrmsr, _, _, _, D_END),
    [0x31] = ROW(op_rdtsc, _, _, _, D_END),
    [0x32] = ROW(op_rdmsr, _, _, _, D_END),
    [0x33] = ROW(op_rdpmc, _, _, _, D_END),
    [0x34] = ROW(op_sysenter, _, _, _, D_END),
    [0x35] = ROW(op_sysexit, _, _, _, D_END),
    [0x40 ... 0x4f] = ROW(op_cmovcc, Gv, Ev, _, 0),
    [0x80 ... 0x8f] = ROW(op_jcc, Jz, _, _, D_F64 | D_END),
    [0x90 ... 0x9f] = ROW(op_setcc, Eb, _, _, 0),
    [0xa0] = ROW(op_push_sreg, _, _, _, D_D64 | D_END),  /* PUSH FS */
    [0xa1] = ROW(op_pop_sreg, _, _, _, D_D64 | D_END),   /* POP FS */
    [0xa2] = ROW(op_cpuid, _, _, _, D_END),
    [0xa3] = ROW(op_bt_G, Ev, Gv, _, 0),
    [0xa4] = ROW(op_shld, Ev, Gv, Ib, 0),
    [0xa5] = ROW(op_shld, Ev, Gv, CL, 0),
    [0xa8] = ROW(op_push_sreg, _, _, _, D_D64 | D_END),  /* PUSH GS */
    [0xa9] = ROW(op_pop_sreg, _, _, _, D_D64 | D_END),   /* POP GS */
    [0xaa] = ROW(op_rsm, _, _, _, D_END),
    [0xab] = ROW(op_bts_G, Ev, Gv, _, D_LK),
    [0xac] = ROW(op_shrd, Ev, Gv, Ib, 0),
    [0xad] = ROW(op_shrd, Ev, Gv, CL, 0),
    [0xae] = GRP(G15, Ev, _, 0),
    [0xaf] = ROW(op_imul_GE, Gv, Ev, _, 0),
    [0xb0] = ROW(op_cmpxchg, Eb, Gb, _, D_LK),
    [0xb1] = ROW(op_cmpxchg, Ev, Gv, _, D_LK),
    [0xb2] = ROW(op_load_far_ptr, Gv, Mp, _, D_END),     /* LSS */
    [0xb3] = ROW(op_btr_G, Ev, Gv, _, D_LK),
    [0xb4] = ROW(op_load_far_ptr, Gv, Mp, _, D_END),     /* LFS */
    [0xb5] = ROW(op_load_far_ptr, Gv, Mp, _, D_END),     /* LGS */
    [0xb6] = ROW(op_movzx_b, Gv, Eb, _, 0),
    [0xb7] = ROW(op_movzx_w, Gv, Ew, _, 0),
    [0xb8] = ROW(op_popcnt, Gv, Ev, _, 0),               /* F3 only */
    [0xba] = GRP(G8, Ev, Ib, 0),
    [0xbb] = ROW(op_btc_G, Ev, Gv, _, D_LK),
    [0xbc] = ROW(op_bsf, Gv, Ev, _, 0),                  /* F3: TZCNT */
    [0xbd] = ROW(op_bsr, Gv, Ev, _, 0),                  /* F3: LZCNT */
    [0xbe] = ROW(op_movsx_b, Gv, Eb, _, 0),
    [0xbf] = ROW(op_movsx_w, Gv, Ew, _, 0),
    [0xc0] = ROW(op_xadd, Eb, Gb, _, D_LK),
    [0xc1] = ROW(op_xadd, Ev, Gv, _, D_LK),
    [0xc7] = GRP(G9, Mq, _, 0),
    [0xc8 ... 0xcf] = ROW(op_bswap, Zv, _, _, 0),
};

#define GROW(fn, fl) { fn, _, _, _, 0, fl }
#define GROWI(fn, imm, fl) { fn, _, imm, _, 0, fl }
static const struct opdesc groups[NGRP][8] = {
    [G1] = { GROW(op_add_EI, D_LK), GROW(op_or_EI, D_LK),
             GROW(op_adc_EI, D_LK), GROW(op_sbb_EI, D_LK),
             GROW(op_and_EI, D_LK), GROW(op_sub_EI, D_LK),
             GROW(op_xor_EI, D_LK), GROW(op_cmp_EI, 0) },
    [G1A] = { GROW(op_pop_E, 0) },
    [G2] = { GROW(op_rol, 0), GROW(op_ror, 0), GROW(op_rcl, 0),
             GROW(op_rcr, 0), GROW(op_shl, 0), GROW(op_shr, 0),
             GROW(op_shl, 0) /* /6: SAL alias */, GROW(op_sar, 0) },
    [G3] = { GROWI(op_test_EI, Ix, 0), GROWI(op_test_EI, Ix, 0) /* alias */,
             GROW(op_not, D_LK), GROW(op_neg, D_LK),
             GROW(op_mul, 0), GROW(op_imul1, 0),
             GROW(op_div, 0), GROW(op_idiv, 0) },
    [G4] = { GROW(op_inc_E, D_LK), GROW(op_dec_E, D_LK) },
    [G5] = { GROW(op_inc_E, D_LK), GROW(op_dec_E, D_LK),
             GROW(op_call_E, D_F64 | D_END), GROW(op_call_far_mem, D_END),
             GROW(op_jmp_E, D_F64 | D_END), GROW(op_jmp_far_mem, D_END),
             GROW(op_push_E, D_D64) },
    [G8] = { [4] = GROW(op_bt_I, 0), GROW(op_bts_I, D_LK),
             GROW(op_btr_I, D_LK), GROW(op_btc_I, D_LK) },
    [G9] = { [1] = GROW(op_cmpxchg8b, D_LK) },
    [G11] = { GROW(op_mov_EI, 0) },
    /* G15: fences and CLFLUSH are NOPs for one in-order vCPU; the
     * FXSAVE/LDMXCSR/... members are SSE/x87 state: #UD. Filtered by mod
     * in decode_insn(). */
    [G15] = { [5] = GROW(op_nop, 0), GROW(op_nop, 0), GROW(op_nop, 0) },
};

static bool opnd_needs_modrm(unsigned o)
{
    return (o >= Eb && o <= Mq) || (o >= Sw && o <= Rd);
}

static bool opnd_is_byte(unsigned o)
{
    return o == Eb || o == Gb || o == AL || o == Zb || o == Ob || o == Xb ||
           o == Yb;
}

static bool opnd_is_mem_only(unsigned o)
{
    return o == M || o == Mp || o == Mq;
}

/* Hot handlers specialised for the register-register form at one operand
 * size: the dependent ALU chains of compiled loops run these. */
static op_fn specialise(op_fn fn, const struct insn *i)
{
    if (fn == op_jcc)
        return op_jcc_by_cc[i->opcode & 15];
    /* ALU rAX, imm (no ModRM: rm stays 0, i.e. rAX): the reg,imm handlers */
    if (i->opsize == 4) {
        if (fn == op_add_AI) return op_add_r32_i;
        if (fn == op_sub_AI) return op_sub_r32_i;
        if (fn == op_and_AI) return op_and_r32_i;
        if (fn == op_cmp_AI) return op_cmp_r32_i;
    } else if (i->opsize == 8) {
        if (fn == op_add_AI) return op_add_r64_i;
        if (fn == op_sub_AI) return op_sub_r64_i;
        if (fn == op_and_AI) return op_and_r64_i;
        if (fn == op_cmp_AI) return op_cmp_r64_i;
    }
    if (fn == op_cmp_AI && i->opsize == 1)
        return op_cmp_al_i;
    if (i->mod != 3) {
        if (fn == op_movzx_b && i->opsize >= 4)
            return op_movzx_r_m8;
        if (fn == op_inc_E && (i->opsize == 4 || i->opsize == 8))
            return i->opsize == 8 ? op_inc_m64 : op_inc_m32;
        if (fn == op_dec_E && (i->opsize == 4 || i->opsize == 8))
            return i->opsize == 8 ? op_dec_m64 : op_dec_m32;
        if (i->opsize == 4) {
            if (fn == op_mov_GE) return op_mov_r32_m;
            if (fn == op_mov_EG) return op_mov_m_r32;
        } else if (i->opsize == 8) {
            if (fn == op_mov_GE) return op_mov_r64_m;
            if (fn == op_mov_EG) return op_mov_m_r64;
            if (fn == op_lea && i->addrsize == 8 && i->base != 0xff &&
                !(i->flags & INSN_F_RIPREL))
                return i->index != 0xff ? op_lea64_bi : op_lea64_b;
            if (fn == op_lea) return op_lea64;
        }
        return fn;
    }
    if (i->lock)
        return fn; /* LOCK with a register operand: the generic path's #UD */
    /* shift/rotate by an immediate: a masked count of 0 stays generic */
    bool shimm = i->map == 0 && (i->opcode == 0xc1 || i->opcode == 0xd1) &&
                 (i->imm & (i->opsize == 8 ? 63 : 31)) != 0;
    if (i->opsize == 4) {
        if (shimm) {
            if (fn == op_shl) return op_shl_r32_i;
            if (fn == op_shr) return op_shr_r32_i;
            if (fn == op_sar) return op_sar_r32_i;
            if (fn == op_rol) return op_rol_r32_i;
            if (fn == op_ror) return op_ror_r32_i;
        }
        if (fn == op_not) return op_not_r32;
        if (fn == op_neg) return op_neg_r32;
        if (fn == op_imul_GE) return op_imul_r32_r32;
        if (fn == op_imul_GEI) return op_imul_r32_ri;
        if (fn == op_add_EG) return op_add_r32_r32;
        if (fn == op_sub_EG) return op_sub_r32_r32;
        if (fn == op_xor_EG) return op_xor_r32_r32;
        if (fn == op_and_EG) return op_and_r32_r32;
        if (fn == op_or_EG) return op_or_r32_r32;
        if (fn == op_cmp_EG) return op_cmp_r32_r32;
        if (fn == op_mov_EG) return op_mov_r32_r32;
        if (fn == op_dec_E) return op_dec_r32;
        if (fn == op_inc_E) return op_inc_r32;
        if (fn == op_test_EG) return op_test_r32_r32;
        if (fn == op_add_EI) return op_add_r32_i;
        if (fn == op_sub_EI) return op_sub_r32_i;
        if (fn == op_and_EI) return op_and_r32_i;
        if (fn == op_cmp_EI) return op_cmp_r32_i;
    } else if (i->opsize == 8) {
        if (shimm) {
            if (fn == op_shl) return op_shl_r64_i;
            if (fn == op_shr) return op_shr_r64_i;
            if (fn == op_sar) return op_sar_r64_i;
            if (fn == op_rol) return op_rol_r64_i;
            if (fn == op_ror) return op_ror_r64_i;
        }
        if (fn == op_not) return op_not_r64;
        if (fn == op_neg) return op_neg_r64;
        if (fn == op_dec_E) return op_dec_r64;
        if (fn == op_inc_E) return op_inc_r64;
        if (fn == op_imul_GE) return op_imul_r64_r64;
        if (fn == op_imul_GEI) return op_imul_r64_ri;
        if (fn == op_add_EG) return op_add_r64_r64;
        if (fn == op_sub_EG) return op_sub_r64_r64;
        if (fn == op_xor_EG) return op_xor_r64_r64;
        if (fn == op_cmp_EG) return op_cmp_r64_r64;
        if (fn == op_mov_EG) return op_mov_r64_r64;
        if (fn == op_test_EG) return op_test_r64_r64;
        if (fn == op_add_EI) return op_add_r64_i;
        if (fn == op_sub_EI) return op_sub_r64_i;
        if (fn == op_and_EI) return op_and_r64_i;
        if (fn == op_cmp_EI) return op_cmp_r64_i;
    }
    return fn;
}

/* Read an n-byte little-endian immediate at b[p]. */
static uint64_t rd_le(const uint8_t *b, int p, int n)
{
    uint64_t v = 0;
    for (int k = n - 1; k >= 0; k--)
        v = v << 8 | b[p + k];
    return v;
}

static int imm_size(unsigned o, const struct insn *i)
{
    switch (o) {
    case Ib: case Ibs: case Jb: return 1;
    case Iw: return 2;
    case Iz: case Jz: return i->opsize == 2 ? 2 : 4;
    case Ix: return i->opsize == 1 ? 1 : i->opsize == 2 ? 2 : 4;
    case Iv: return i->opsize;
    case Ob: case Ov: return i->addrsize;
    case Ap: return (i->opsize == 2 ? 2 : 4) + 2;
    default: return 0;
    }
}

static uint64_t imm_value(unsigned o, const uint8_t *b, int p, int n)
{
    uint64_t v = rd_le(b, p, n);
    switch (o) {
    case Ibs: case Jb: return (uint64_t)(int64_t)(int8_t)v;
    case Iz: case Jz: case Ix:
        /* Iz is sign-extended to a 64-bit operand (SDM Vol 2 2.2.1.5) */
        return n == 2 ? (uint64_t)(int64_t)(int16_t)v
             : n == 4 ? (uint64_t)(int64_t)(int32_t)v : v;
    default: return v;
    }
}

static int fail(struct insn *i, op_fn fn)
{
    i->fn = fn;
    i->flags |= INSN_F_ENDBLOCK;
    return 0;
}

int decode_insn(struct insn *i, const uint8_t *b, int avail, int code_size,
                bool *need_more)
{
    unsigned rex = 0, opsz66 = 0, adsz67 = 0, lock = 0, rep = 0;
    int segovr = -1, p = 0;
    const int lim = avail < 15 ? avail : 15;

    memset(i, 0, sizeof(*i));
    i->base = i->index = 0xff;
    i->seg = S_DS;
    if (need_more)
        *need_more = false;

/* Need n more bytes at p: more than 15 in all is #GP(0) (SDM Vol 2
 * 2.3.11); past what the caller had (page end) asks for more. */
#define NEED(n)                                                        \
    do {                                                               \
        if (p + (n) > lim) {                                           \
            if (p + (n) > 15)                                          \
                return fail(i, op_gp0);                                \
            if (need_more)                                             \
                *need_more = true;                                     \
            return fail(i, op_ud);                                     \
        }                                                              \
    } while (0)

    /* Prefixes: legacy ones in any order; a REX only counts when it is
     * the last byte before the opcode (SDM Vol 2 2.2.1). */
    for (;;) {
        NEED(1);
        uint8_t x = b[p];
        switch (x) {
        case 0x66: opsz66 = 1; break;
        case 0x67: adsz67 = 1; break;
        case 0xf0: lock = 1; break;
        case 0xf2: case 0xf3: rep = x; break;
        case 0x26: segovr = S_ES; break;
        case 0x2e: segovr = S_CS; break;
        case 0x36: segovr = S_SS; break;
        case 0x3e: segovr = S_DS; break;
        case 0x64: segovr = S_FS; break;
        case 0x65: segovr = S_GS; break;
        default:
            if (code_size == 8 && (x & 0xf0) == 0x40) {
                rex = x;
                p++;
                NEED(1);
                x = b[p];
                if ((x & 0xf0) == 0x40)
                    continue; /* REX REX: the last one counts */
                if (x == 0x66 || x == 0x67 || x == 0xf0 || x == 0xf2 ||
                    x == 0xf3 || x == 0x26 || x == 0x2e || x == 0x36 ||
                    x == 0x3e || x == 0x64 || x == 0x65) {
                    rex = 0; /* not last: ignored */
                    continue;
                }
            }
            goto opcode;
        }
        rex = 0;
        p++;
    }

opcode:;
    const struct opdesc *d;
    uint8_t op = b[p++];
    i->rex = rex;
    i->rep = rep;
    i->lock = lock;
    if (op == 0x0f) {
        NEED(1);
        op = b[p++];
        i->map = 1;
        if (op == 0x38 || op == 0x3a) { /* SSSE3+/SSE4 maps: none here */
            i->map = op == 0x38 ? 2 : 3;
            NEED(1);
            i->opcode = b[p++];
            i->len = p;
            return fail(i, op_ud);
        }
        d = &map2[op];
    } else {
        d = &map1[op];
        if (op == 0x63 && code_size == 8) {
            static const struct opdesc movsxd = ROW(op_movsxd, Gv, Ed, _, 0);
            d = &movsxd;
        }
    }
    i->opcode = op;

    unsigned o1 = d->o1, o2 = d->o2, o3 = d->o3, f = d->f;
    op_fn fn = d->fn;
    if (!fn && !(f & D_GRP))
        goto ud;
    if (code_size == 8 ? (f & D_I64) : (f & D_O64))
        goto ud;

    /* operand size (SDM Vol 1 3.6; Vol 2 2.2.1.2 for 64-bit mode) */
    bool byte = opnd_is_byte(o1) || ((o1 == Ib || o1 == DX) && opnd_is_byte(o2));
    if (byte)
        i->opsize = 1;
    else if (code_size == 8)
        i->opsize = (f & D_F64) || (rex & 8) ? 8 : opsz66 ? 2 : (f & D_D64) ? 8 : 4;
    else
        i->opsize = (code_size == 2) ^ opsz66 ? 2 : 4;
    if (code_size == 8)
        i->addrsize = adsz67 ? 4 : 8;
    else
        i->addrsize = (code_size == 2) ^ adsz67 ? 2 : 4;
    /* IN/OUT/INS/OUTS have no 64-bit form: REX.W is ignored */
    if (i->opsize == 8 && i->map == 0 &&
        ((op >= 0xe4 && op <= 0xe7) || (op >= 0xec && op <= 0xef) ||
         (op >= 0x6c && op <= 0x6f)))
        i->opsize = 4;

    if (o1 == Zb || o1 == Zv) {
        i->mod = 3;
        i->rm = (op & 7) | (rex & 1) << 3;
    }

    /* ModRM, SIB, displacement (SDM Vol 2 2.1.5, 2.2.1) */
    if (opnd_needs_modrm(o1) || opnd_needs_modrm(o2) || (f & D_GRP)) {
        NEED(1);
        uint8_t m = b[p++];
        i->modrm = m;
        i->mod = m >> 6;
        i->reg = ((m >> 3) & 7) | (rex & 4) << 1;
        if (f & D_GRP) {
            const struct opdesc *g = &groups[d->grp][(m >> 3) & 7];
            if (!g->fn)
                goto ud;
            fn = g->fn;
            f = (f & ~D_GRP) | g->f;
            if (g->o2)
                o2 = g->o2;
            if (code_size == 8 && !byte && ((f & D_F64) || ((f & D_D64) && !opsz66)))
                i->opsize = 8;
            if (d->grp == G15) {
                /* LFENCE/MFENCE/SFENCE (/5-/7 reg) and CLFLUSH (/7 mem)
                 * take no 66/F2/F3; 66 /6, /7 mem are CLWB, CLFLUSHOPT
                 * (SDM Vol 2 Table A-6, group 15) */
                unsigned r = (m >> 3) & 7;
                bool mem = i->mod != 3;
                if (rep || (opsz66 && !(mem && r >= 6)) || (mem && r < 7 && !opsz66))
                    goto ud;
            }
        }
        if (o1 == Rd || o2 == Rd) {
            /* MOV to/from CR/DR: mod is ignored, always a register
             * (SDM Vol 2 MOV-Control Registers). */
            i->mod = 3;
            i->rm = (m & 7) | (rex & 1) << 3;
            if (code_size == 8)
                i->opsize = 8;
        } else if (i->mod == 3) {
            i->rm = (m & 7) | (rex & 1) << 3;
        } else if (i->addrsize == 2) {
            static const uint8_t b16[8] = { R_RBX, R_RBX, R_RBP, R_RBP,
                                            0xff, 0xff, R_RBP, R_RBX };
            static const uint8_t x16[8] = { R_RSI, R_RDI, R_RSI, R_RDI,
                                            R_RSI, R_RDI, 0xff, 0xff };
            unsigned rm = m & 7;
            i->rm = rm;
            i->base = b16[rm];
            i->index = x16[rm];
            if (i->mod == 0 && rm == 6) {
                i->base = 0xff;
                NEED(2);
                i->disp = (int16_t)rd_le(b, p, 2);
                p += 2;
            } else if (i->mod == 1) {
                NEED(1);
                i->disp = (int8_t)b[p++];
            } else if (i->mod == 2) {
                NEED(2);
                i->disp = (int16_t)rd_le(b, p, 2);
                p += 2;
            }
            if (i->base == R_RBP)
                i->seg = S_SS;
        } else {
            unsigned rm = m & 7;
            i->rm = rm | (rex & 1) << 3;
            if (rm == 4) {
                NEED(1);
                uint8_t sib = b[p++];
                unsigned idx = ((sib >> 3) & 7) | (rex & 2) << 2;
                i->scale = sib >> 6;
                i->index = idx == 4 ? 0xff : idx; /* no index without REX.X */
                i->base = (sib & 7) | (rex & 1) << 3;
                if ((sib & 7) == 5 && i->mod == 0) {
                    i->base = 0xff;
                    NEED(4);
                    i->disp = (int32_t)rd_le(b, p, 4);
                    p += 4;
                }
            } else if (rm == 5 && i->mod == 0) {
                if (code_size == 8)
                    i->flags |= INSN_F_RIPREL;
                NEED(4);
                i->disp = (int32_t)rd_le(b, p, 4);
                p += 4;
            } else {
                i->base = rm | (rex & 1) << 3;
            }
            if (i->mod == 1) {
                NEED(1);
                i->disp = (int8_t)b[p++];
            } else if (i->mod == 2) {
                NEED(4);
                i->disp = (int32_t)rd_le(b, p, 4);
                p += 4;
            }
            if (i->base == R_RSP || i->base == R_RBP)
                i->seg = S_SS;
        }
        if (i->mod == 3 && (opnd_is_mem_only(o1) || opnd_is_mem_only(o2)))
            goto ud;
    }

    /* Segment override. In 64-bit mode the bases of ES/CS/SS/DS are
     * ignored (SDM Vol 1 3.3.7.1; the MMU applies only FS/GS bases) but the
     * segment still decides the fault: an SS: access to a non-canonical
     * address is #SS, not #GP (SDM Vol 3A 6.15). */
    if (segovr >= 0) {
        i->seg = segovr;
        i->flags |= INSN_F_SEGOVR;
    }

    /* LOCK only on the read-modify-write forms with a memory destination
     * (SDM Vol 2 LOCK: #UD otherwise). */
    if (lock && (!(f & D_LK) || i->mod == 3))
        goto ud;

    /* mandatory-prefix rows */
    if (i->map == 1 && op == 0x01 && (i->modrm == 0xca || i->modrm == 0xcb) &&
        (opsz66 || rep))
        goto ud; /* CLAC/STAC: no 66/F2/F3 */
    if (i->map == 1 && op == 0xb8 && rep != 0xf3)
        goto ud; /* POPCNT needs F3 */

    /* immediates: the first goes to imm, a second (ENTER) to imm2 */
    {
        unsigned ops[3] = { o1, o2, o3 };
        int nimm = 0;
        for (int k = 0; k < 3; k++) {
            unsigned o = ops[k];
            if (o == I1) {
                i->imm = 1;
                nimm++;
                continue;
            }
            int n = imm_size(o, i);
            if (!n)
                continue;
            NEED(n);
            if (o == Ap) {
                int on = n - 2;
                i->imm = rd_le(b, p, on);
                i->imm2 = rd_le(b, p + on, 2);
            } else if (nimm == 0) {
                i->imm = imm_value(o, b, p, n);
            } else {
                i->imm2 = imm_value(o, b, p, n);
            }
            nimm++;
            p += n;
        }
    }

    i->len = p;
    if (f & D_END)
        i->flags |= INSN_F_ENDBLOCK;
    /* A REP string op may stop early (to take interrupts) and restart
     * itself, so it must be the last instruction of its block. */
    if (rep && i->map == 0 && ((op >= 0xa4 && op <= 0xa7) || (op >= 0xaa && op <= 0xaf)))
        i->flags |= INSN_F_ENDBLOCK;
    /* near jumps, calls, returns and loops: the run loop may chain the
     * next block directly (exec.c) */
    if ((f & D_F64) && (f & D_END) && !(f & D_GRP) &&
        fn != op_call_far_mem && fn != op_jmp_far_mem)
        i->flags |= INSN_F_NEARBR;
    if (fn == op_jcc)
        i->flags |= INSN_F_CONDBR;
    i->fn = specialise(fn, i);
    return p;
#undef NEED

ud:
    /* Length of an invalid encoding does not matter: it faults. */
    i->len = p;
    return fail(i, op_ud);
}

/* Effective address (SDM Vol 1 3.7.5): base + index * scale + disp,
 * RIP-relative from the next instruction, truncated to the address size
 * (so 16-bit forms wrap at 64K). */
uint64_t insn_ea(struct cpu *c, const struct insn *i)
{
    return ea_fast(c, i);
}
