/* sysops.h: handlers for system, privileged, segment, far-transfer,
 * interrupt and I/O instructions. IMPLEMENTED BY the system part of the
 * core (system.c, seg.c, except.c, io.c ...); REFERENCED BY the decode
 * table (decode.c). All have the op_fn signature from decode.h and end the
 * decoded block (INSN_F_ENDBLOCK), since they may change mode, CPL, paging
 * or deliver an event. */
#ifndef PINVM_SYSOPS_H
#define PINVM_SYSOPS_H

#include "decode.h"

#define SYSOP(name) void name(struct cpu *c, const struct insn *i)

/* 0F 00: SLDT/STR/LLDT/LTR/VERR/VERW (by ModRM.reg) */
SYSOP(op_grp6);
/* 0F 01: SGDT/SIDT/LGDT/LIDT/SMSW/LMSW/INVLPG and the register forms
 * (MONITOR/MWAIT, CLAC/STAC, XGETBV, SWAPGS, RDTSCP) */
SYSOP(op_grp7);
SYSOP(op_lar);            /* 0F 02 */
SYSOP(op_lsl);            /* 0F 03 */
SYSOP(op_syscall);        /* 0F 05 */
SYSOP(op_clts);           /* 0F 06 */
SYSOP(op_sysret);         /* 0F 07 */
SYSOP(op_invd);           /* 0F 08 INVD, 0F 09 WBINVD */
SYSOP(op_mov_from_cr);    /* 0F 20 */
SYSOP(op_mov_from_dr);    /* 0F 21 */
SYSOP(op_mov_to_cr);      /* 0F 22 */
SYSOP(op_mov_to_dr);      /* 0F 23 */
SYSOP(op_wrmsr);          /* 0F 30 */
SYSOP(op_rdtsc);          /* 0F 31 */
SYSOP(op_rdmsr);          /* 0F 32 */
SYSOP(op_rdpmc);          /* 0F 33 */
SYSOP(op_sysenter);       /* 0F 34 */
SYSOP(op_sysexit);        /* 0F 35 */
SYSOP(op_cpuid);          /* 0F A2 */
SYSOP(op_rsm);            /* 0F AA */

SYSOP(op_jmp_far_imm);    /* EA ptr16:16/32 (invalid in 64-bit) */
SYSOP(op_call_far_imm);   /* 9A ptr16:16/32 (invalid in 64-bit) */
SYSOP(op_jmp_far_mem);    /* FF /5 m16:16/32/64 */
SYSOP(op_call_far_mem);   /* FF /3 m16:16/32/64 */
SYSOP(op_retf);           /* CA iw / CB (imm = bytes to pop, 0 for CB) */
SYSOP(op_iret);           /* CF (IRET/IRETD/IRETQ by opsize) */

SYSOP(op_int3);           /* CC */
SYSOP(op_int_imm);        /* CD ib */
SYSOP(op_into);           /* CE (invalid in 64-bit) */
SYSOP(op_int1);           /* F1 */
SYSOP(op_hlt);            /* F4 */
SYSOP(op_cli);            /* FA */
SYSOP(op_sti);            /* FB */
SYSOP(op_pushf);          /* 9C */
SYSOP(op_popf);           /* 9D */

SYSOP(op_in_imm);         /* E4/E5 ib */
SYSOP(op_out_imm);        /* E6/E7 ib */
SYSOP(op_in_dx);          /* EC/ED */
SYSOP(op_out_dx);         /* EE/EF */
SYSOP(op_ins);            /* 6C/6D, honours i->rep */
SYSOP(op_outs);           /* 6E/6F, honours i->rep */

SYSOP(op_mov_sreg_load);  /* 8E /r: MOV Sreg, r/m16 */
SYSOP(op_mov_sreg_store); /* 8C /r: MOV r/m, Sreg */
SYSOP(op_push_sreg);      /* 06 0E 16 1E, 0F A0, 0F A8 (sreg from opcode) */
SYSOP(op_pop_sreg);       /* 07 17 1F, 0F A1, 0F A9 */
SYSOP(op_load_far_ptr);   /* C4 LES, C5 LDS (non-64), 0F B2 LSS, 0F B4 LFS, 0F B5 LGS */
SYSOP(op_arpl);           /* 63 in non-64-bit modes */

#undef SYSOP
#endif
