/* decode.h: the decoded form of one instruction. OWNED BY the decoder/ALU
 * part of the core; the layout below is the contract with system handlers
 * (sysops.h), so change fields only together with them. */
#ifndef PINVM_DECODE_H
#define PINVM_DECODE_H

#include <stdbool.h>
#include <stdint.h>

struct cpu;
struct insn;

/* Handler: executes one decoded instruction. On entry c->rip is the
 * instruction's address and c->next_rip = rip + len; a branch sets
 * c->next_rip. (For speed the run loop sets next_rip only for the last
 * instruction of a decoded block, which is every branch and every
 * INSN_F_ENDBLOCK instruction; others use c->rip + i->len.)
 * Faults: cpu_raise() before committing any state. */
typedef void (*op_fn)(struct cpu *c, const struct insn *i);

struct insn {
    op_fn fn;
    op_fn run;        /* threaded entry inside a cached block (ops.h, exec.c) */
    uint8_t len;      /* total length in bytes, 1..15 */
    uint8_t opsize;   /* operand size in bytes: 2, 4 or 8 (byte ops: 1) */
    uint8_t addrsize; /* address size in bytes: 2, 4 or 8 */
    uint8_t seg;      /* effective segment of the memory operand (S_*) */
    uint8_t map;      /* 0: one-byte map, 1: 0F, 2: 0F38, 3: 0F3A */
    uint8_t opcode;   /* last opcode byte */
    uint8_t modrm;    /* raw ModRM byte (0 if none) */
    uint8_t mod;      /* ModRM.mod (3 = register operand) */
    uint8_t reg;      /* ModRM.reg | REX.R << 3 */
    uint8_t rm;       /* ModRM.rm | REX.B << 3 (register form) */
    uint8_t base;     /* base register, or 0xff for none */
    uint8_t index;    /* index register, or 0xff for none */
    uint8_t scale;    /* 0..3 */
    uint8_t rex;      /* raw REX byte, 0 if none (byte regs: SPL vs AH) */
    uint8_t rep;      /* 0, 0xF2 (REPNE) or 0xF3 (REP/REPE) */
    uint8_t lock;     /* LOCK prefix present */
    uint8_t flags;    /* INSN_F_* */
    uint8_t after;    /* instructions after this one in its block (exec.c) */
    int32_t disp;     /* displacement (sign-extended) */
    uint64_t imm;     /* first immediate (sign- or zero-extended per opcode) */
    uint64_t imm2;    /* second immediate: ENTER level, far pointer selector */
};
#define INSN_F_RIPREL   0x01 /* RIP-relative memory operand */
#define INSN_F_ENDBLOCK 0x02 /* decoded block ends after this instruction */
#define INSN_F_SEGOVR   0x04 /* explicit segment override prefix */
#define INSN_F_NEARBR   0x08 /* near branch: CS, mode and CPL unchanged */
#define INSN_F_CONDBR   0x10 /* Jcc: a block may go on past it (exec.c) */

/* Effective address (offset within i->seg) of the memory operand,
 * truncated to the address size. Valid when i->mod != 3. */
uint64_t insn_ea(struct cpu *c, const struct insn *i);

/* Decode one instruction from bytes (at most 15 available, fewer if the
 * fetch hit the end of a page: then *need_more is set if more would be
 * needed). code_size is 2, 4 or 8. Returns length, or 0 if the bytes are
 * not a valid instruction for pinvm (fn is then the #UD handler). */
int decode_insn(struct insn *i, const uint8_t *bytes, int avail,
                int code_size, bool *need_more);

#endif
