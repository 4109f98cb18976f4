/* sys.h: private to the system part of the core (seg.c, except.c,
 * system.c, msr.c, cpuid.c, io.c, task.c, smm.c): descriptor access,
 * segment loads, operand helpers and the event-delivery internals. */
#ifndef PINVM_SYS_H
#define PINVM_SYS_H

#include <string.h>

#include "cpu.h"
#include "decode.h"

/* ---- Segment descriptors (SDM Vol 3A 3.4.5) ----
 *
 *   hi: 31..24 base 31:24 | 23 G | 22 D/B | 21 L | 20 AVL | 19..16 limit 19:16
 *       15 P | 14..13 DPL | 12 S | 11..8 type | 7..0 base 23:16
 *   lo: 31..16 base 15:0 | 15..0 limit 15:0
 *
 * System descriptors in IA-32e mode (LDT, TSS, call gates) are 16 bytes:
 * hi2 holds base/offset 63:32; hi3 bits 12:8 must be zero. */
struct desc {
    uint32_t lo, hi;
    uint32_t hi2, hi3; /* only for 16-byte system descriptors */
};

static inline unsigned desc_type(const struct desc *d) { return (d->hi >> 8) & 0xf; }
static inline bool desc_s(const struct desc *d) { return (d->hi >> 12) & 1; }
static inline unsigned desc_dpl(const struct desc *d) { return (d->hi >> 13) & 3; }
static inline bool desc_p(const struct desc *d) { return (d->hi >> 15) & 1; }
static inline bool desc_is_code(const struct desc *d) { return desc_s(d) && (d->hi & (1u << 11)); }
static inline bool desc_is_data(const struct desc *d) { return desc_s(d) && !(d->hi & (1u << 11)); }
static inline bool desc_conforming(const struct desc *d) { return (d->hi & (1u << 10)) != 0; }
/* code: readable; data: writable (type bit 1) */
static inline bool desc_rw(const struct desc *d) { return (d->hi & (1u << 9)) != 0; }
static inline bool desc_l(const struct desc *d) { return (d->hi >> 21) & 1; }
static inline bool desc_db(const struct desc *d) { return (d->hi >> 22) & 1; }

static inline uint64_t desc_base(const struct desc *d)
{
    return (d->lo >> 16) | ((d->hi & 0xffu) << 16) | (d->hi & 0xff000000u);
}
static inline uint32_t desc_limit(const struct desc *d)
{
    uint32_t l = (d->lo & 0xffffu) | (d->hi & 0xf0000u);
    return (d->hi & (1u << 23)) ? (l << 12) | 0xfffu : l;
}
static inline uint16_t desc_attr(const struct desc *d)
{
    return (uint16_t)((d->hi >> 8) & 0xf0ffu);
}
/* Gate fields (call/interrupt/trap/task gates). */
static inline uint16_t gate_sel(const struct desc *d) { return (uint16_t)(d->lo >> 16); }
static inline uint32_t gate_off32(const struct desc *d)
{
    return (d->lo & 0xffffu) | (d->hi & 0xffff0000u);
}

static inline bool is_canonical(uint64_t a)
{
    return (uint64_t)((int64_t)(a << 16) >> 16) == a;
}

/* System descriptor types (S = 0). */
enum {
    DT_TSS16_AVAIL = 1, DT_LDT = 2, DT_TSS16_BUSY = 3, DT_CALL16 = 4,
    DT_TASK = 5, DT_INT16 = 6, DT_TRAP16 = 7, DT_TSS32_AVAIL = 9,
    DT_TSS32_BUSY = 11, DT_CALL32 = 12, DT_INT32 = 14, DT_TRAP32 = 15,
};

/* Selector error code: index, TI, and EXT (bit 0) instead of RPL. */
static inline int32_t sel_err(uint16_t sel) { return sel & 0xfffc; }

/* seg.c: read the descriptor for sel from the GDT or LDT. Returns false if
 * it lies outside the table limit (or the LDT is unusable); the caller
 * raises the exception it needs. wide = 16-byte system descriptor.
 * desc_fetch() is the inline front: an 8-byte GDT descriptor on a
 * same-page TLB hit (the common case of every delivery and IRET) is read
 * in place; everything else goes to desc_fetch_slow(). The descriptor is
 * read from memory each time, as the SDM requires. */
bool desc_fetch_slow(struct cpu *c, uint16_t sel, struct desc *d, bool wide);
static inline bool desc_fetch(struct cpu *c, uint16_t sel, struct desc *d,
                              bool wide)
{
    uint32_t idx = sel & 0xfff8u;
    if (!wide && !(sel & 4) && idx + 7u <= c->gdtr.limit) {
        uint64_t lin = c->gdtr.base + idx;
        const uint8_t *p = NULL;
        /* as desc_fetch_slow: 32-bit linear outside IA-32e mode, and in
         * it a canonical range (else lin_read_sys's #GP) */
        if (!cpu_long_mode(c))
            p = mmu_tlb_hit(c, TLB_READ, TLB_CTX_SUP, (uint32_t)lin, 8);
        else if (lin + (1ull << 47) <= (1ull << 48) - 8)
            p = mmu_tlb_hit(c, TLB_READ, TLB_CTX_SUP, lin, 8);
        if (p) {
            uint64_t q;
            memcpy(&q, p, 8);
            d->lo = (uint32_t)q;
            d->hi = (uint32_t)(q >> 32);
            d->hi2 = d->hi3 = 0;
            return true;
        }
    }
    return desc_fetch_slow(c, sel, d, wide);
}
/* Set the accessed bit of a code/data descriptor (or busy bit of a TSS)
 * in memory: or_bits is ORed into byte 5 of the descriptor. */
void desc_set_bits(struct cpu *c, uint16_t sel, uint8_t or_bits);
void desc_clear_bits(struct cpu *c, uint16_t sel, uint8_t bits);
/* Load the hidden part of segment register s from a descriptor. */
static inline void seg_load_desc(struct cpu *c, int s, uint16_t sel,
                                 const struct desc *d)
{
    struct seg *g = &c->seg[s];
    g->sel = sel;
    g->attr = desc_attr(d);
    g->limit = desc_limit(d);
    g->base = desc_base(d);
    if (!desc_s(d) && cpu_long_mode(c)) /* LDT/TSS: 64-bit base */
        g->base |= (uint64_t)d->hi2 << 32;
}
/* Load a null selector (protected mode): unusable, P clear. */
void seg_load_null(struct cpu *c, int s, uint16_t sel);
/* MOV/POP/LxS: load a data segment register (ES, SS, DS, FS, GS) with all
 * the checks of the current mode (SDM Vol 2B MOV "Operation"). */
void seg_load(struct cpu *c, int s, uint16_t sel);
/* Real-mode style load: base = sel << 4. */
void seg_load_real(struct cpu *c, int s, uint16_t sel);
/* Flat segment for SYSCALL/SYSENTER style transfers. */
void seg_load_flat(struct cpu *c, int s, uint16_t sel, unsigned dpl,
                   bool code, bool l64);
/* After a return to an outer privilege level: null data segment registers
 * the new CPL may not use (SDM Vol 2A RET/IRET "Operation"). */
void seg_null_outer(struct cpu *c);

/* seg.c: the stack for privilege level dpl from the current TSS (SDM Vol
 * 3A 7.2.1 / 7.7). Legacy 16/32-bit TSS: SS:ESP; 64-bit TSS: idx 0..2 is
 * RSPn, 3 + k is ISTk (k = 1..7). #TS(TR | ext) if outside the TSS limit. */
void tss_legacy_stack(struct cpu *c, unsigned dpl, uint16_t *ss,
                      uint32_t *sp, int ext);
uint64_t tss64_stack(struct cpu *c, unsigned idx, int ext);
/* Check the SS selector of an inner stack switch (SDM Vol 3A 6.12.1.1):
 * #TS(ss | ext) unless a present writable data segment with RPL = DPL =
 * dpl; not present: #SS(ss | ext). Fills d. */
void check_inner_ss(struct cpu *c, uint16_t ss, unsigned dpl, int ext,
                    struct desc *d);
/* Write to a stack that is not (yet) the current one: supervisor access. */
void stack_write_sys(struct cpu *c, const struct seg *ss, uint64_t off,
                     int size, uint64_t v, int32_t err);

/* EFLAGS bits IRET/POPF may load at the current CPL and IOPL (SDM Vol
 * 2A IRET, Vol 2B POPF); for a 16-bit operand only bits 15:0. */
uint32_t eflags_writable(const struct cpu *c, int osz);

/* ---- Event delivery (except.c) ---- */
enum ev_kind {
    EV_EXC = 0,  /* exception (fault or trap) raised by the CPU */
    EV_EXT,      /* external interrupt (INTR) */
    EV_NMI,      /* NMI */
    EV_SOFT,     /* INT n: gate DPL checked, returns to next_rip */
    EV_SOFT_EXC, /* INT3 / INTO: like INT n */
    EV_INT1,     /* INT1 (ICEBP): no DPL check, returns to next_rip */
};
void deliver_event(struct cpu *c, int vec, int32_t err, int kind);

/* ---- Task switch (task.c) ---- */
enum { TS_JMP, TS_CALL, TS_IRET, TS_INT };
/* Switch to the task whose TSS selector is sel (descriptor d). For TS_INT
 * err is pushed on the new task's stack if != CPU_NOERR. */
void task_switch(struct cpu *c, uint16_t sel, const struct desc *d, int how,
                 int32_t err, uint64_t ret_eip);

/* ---- I/O permission (io.c) ---- */
void io_check(struct cpu *c, uint16_t port, int size);

/* ---- CPUID (cpuid.c) ---- */
void cpu_cpuid(const struct cpu *c, uint32_t leaf, uint32_t sub,
               uint32_t out[4]);

/* except.c: raise vec(err) and, under -d guest_errors, name the rule the
 * guest broke, Bochs style ("#GP(0x0030): MOV SS: RPL != CPL"). */
_Noreturn void sys_fault(struct cpu *c, int vec, int32_t err, const char *rule);

/* cpu_update_mode() after a transfer that leaves the CPU in 64-bit mode:
 * EFER.LMA=1 (so CR0.PE=1), EFLAGS.VM=0 and a CS with L=1 just loaded.
 * Computes exactly what cpu_update_mode() would (CPL = SS.DPL), without
 * the call and the mode tests. */
static inline void cpu_mode_long64(struct cpu *c)
{
    c->cpl = (uint8_t)((c->seg[S_SS].attr >> 5) & 3);
    c->mode = MODE_LONG;
    c->code_size = 8;
    c->stack_size = 8;
}

/* ---- Privilege helpers ---- */
static inline unsigned cpu_iopl(const struct cpu *c)
{
    return (c->eflags >> 12) & 3;
}
static inline void need_cpl0(struct cpu *c)
{
    if (c->cpl != 0)
        cpu_raise(c, EXC_GP, 0);
}

/* ---- Operand helpers (the decoder's are private to core-exec) ---- */
static inline uint64_t sys_mask(int size)
{
    return size == 8 ? ~0ull : (1ull << (size * 8)) - 1;
}
/* General register r at size 2/4/8 (no byte registers here). */
static inline uint64_t sys_reg_get(const struct cpu *c, unsigned r, int size)
{
    return c->regs[r & 15] & sys_mask(size);
}
/* 32-bit writes zero-extend, 16-bit writes merge (SDM Vol 1 3.4.1.1). */
static inline void sys_reg_set(struct cpu *c, unsigned r, int size, uint64_t v)
{
    r &= 15;
    if (size == 2)
        c->regs[r] = (c->regs[r] & ~0xffffull) | (v & 0xffff);
    else if (size == 4)
        c->regs[r] = (uint32_t)v;
    else
        c->regs[r] = v;
}
static inline uint64_t sys_rm_get(struct cpu *c, const struct insn *i, int size)
{
    if (i->mod == 3)
        return sys_reg_get(c, i->rm, size);
    return mem_read(c, i->seg, insn_ea(c, i), size);
}
static inline void sys_rm_set(struct cpu *c, const struct insn *i, int size,
                              uint64_t v)
{
    if (i->mod == 3)
        sys_reg_set(c, i->rm, size, v);
    else
        mem_write(c, i->seg, insn_ea(c, i), size, v);
}
static inline void sys_set_zf(struct cpu *c, bool z)
{
    uint32_t f = cpu_get_eflags(c);
    cpu_set_eflags(c, z ? (f | F_ZF) : (f & ~F_ZF));
}

/* Linear address of the stack slot at offset off from the current SS,
 * with the limit check of SDM Vol 3A 5.3 (expand-down aware). */
uint64_t stack_lin(struct cpu *c, const struct seg *ss, uint64_t off,
                   int size, int32_t err);

#endif
