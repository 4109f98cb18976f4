/* seg.c: segmentation: descriptor access, segment-register loads, far
 * JMP/CALL/RET, IRET, SYSCALL/SYSRET, SYSENTER/SYSEXIT.
 * References: SDM Vol 3A ch. 3 and 5, Vol 2 instruction pages. */
#include "sys.h"
#include "sysops.h"

/* ---- Descriptor tables ---- */

static bool desc_addr(struct cpu *c, uint16_t sel, int bytes, uint64_t *lin)
{
    uint64_t base;
    uint32_t limit;

    if (sel & 4) {
        const struct seg *l = &c->seg[S_LDTR];
        if (!(l->attr & SEG_ATTR_P) || (l->sel & 0xfffc) == 0)
            return false; /* LDT unusable: every TI=1 selector is invalid */
        base = l->base;
        limit = l->limit;
    } else {
        base = c->gdtr.base;
        limit = c->gdtr.limit;
    }
    uint32_t idx = sel & 0xfff8u;
    if ((uint64_t)idx + (uint64_t)bytes - 1 > limit)
        return false;
    *lin = base + idx;
    if (!cpu_long_mode(c))
        *lin = (uint32_t)*lin;
    return true;
}

bool desc_fetch_slow(struct cpu *c, uint16_t sel, struct desc *d, bool wide)
{
    uint64_t lin;
    int bytes = wide ? 16 : 8;
    if (!desc_addr(c, sel, bytes, &lin))
        return false;
    /* Same-page TLB hit (desc_addr already cut lin to 32 bits outside
     * IA-32e mode; in it the range must be canonical, as lin_read_sys
     * checks): read it in place, nothing can fault. Else lin_read_sys. */
    const uint8_t *p = NULL;
    if (!cpu_long_mode(c) || lin + (1ull << 47) <= (1ull << 48) - (uint64_t)bytes)
        p = mmu_tlb_hit(c, TLB_READ, TLB_CTX_SUP, lin, bytes);
    if (p) {
        uint32_t w[4] = {0, 0, 0, 0};
        memcpy(w, p, 8);
        if (wide)
            memcpy(w + 2, p + 8, 8);
        d->lo = w[0];
        d->hi = w[1];
        d->hi2 = w[2];
        d->hi3 = w[3];
        return true;
    }
    uint64_t q = lin_read_sys(c, lin, 8);
    d->lo = (uint32_t)q;
    d->hi = (uint32_t)(q >> 32);
    d->hi2 = d->hi3 = 0;
    if (wide) {
        q = lin_read_sys(c, lin + 8, 8);
        d->hi2 = (uint32_t)q;
        d->hi3 = (uint32_t)(q >> 32);
    }
    return true;
}

void desc_set_bits(struct cpu *c, uint16_t sel, uint8_t or_bits)
{
    uint64_t lin;
    if (!desc_addr(c, sel, 8, &lin))
        return;
    uint8_t b = (uint8_t)lin_read_sys(c, lin + 5, 1);
    if ((b | or_bits) != b)
        lin_write_sys(c, lin + 5, 1, b | or_bits);
}

void desc_clear_bits(struct cpu *c, uint16_t sel, uint8_t bits)
{
    uint64_t lin;
    if (!desc_addr(c, sel, 8, &lin))
        return;
    uint8_t b = (uint8_t)lin_read_sys(c, lin + 5, 1);
    if (b & bits)
        lin_write_sys(c, lin + 5, 1, b & ~bits);
}

void seg_load_null(struct cpu *c, int s, uint16_t sel)
{
    struct seg *g = &c->seg[s];
    g->sel = sel;
    g->base = 0;
    g->limit = 0;
    /* SS keeps its DPL: CPL is SS.DPL (64-bit null SS, SDM 6.14.4). */
    g->attr = (uint16_t)(s == S_SS ? (sel & 3) << 5 : 0);
}

void seg_load_real(struct cpu *c, int s, uint16_t sel)
{
    struct seg *g = &c->seg[s];
    g->sel = sel;
    g->base = (uint64_t)sel << 4;
    /* Real mode keeps the cached limit ("unreal mode"); the attributes
     * only need to be present with DPL 0 (CPL = SS.DPL once PE is set). */
    g->attr = (uint16_t)((g->attr & ~SEG_ATTR_DPL) | SEG_ATTR_P | SEG_ATTR_S);
    if (s != S_CS)
        g->attr = (uint16_t)((g->attr & ~0xf) | 0x3);
}

void seg_load_flat(struct cpu *c, int s, uint16_t sel, unsigned dpl,
                   bool code, bool l64)
{
    struct seg *g = &c->seg[s];
    g->sel = sel;
    g->base = 0;
    g->limit = 0xffffffffu;
    g->attr = (uint16_t)(SEG_ATTR_G | SEG_ATTR_P | SEG_ATTR_S | (dpl << 5) |
                         (code ? 0xb : 0x3));
    if (l64)
        g->attr |= SEG_ATTR_L;
    else
        g->attr |= SEG_ATTR_DB;
}

/* Load ES/SS/DS/FS/GS (MOV, POP, LDS...): SDM Vol 2B MOV "Operation". */
void seg_load(struct cpu *c, int s, uint16_t sel)
{
    if (c->mode == MODE_REAL || c->mode == MODE_V86) {
        seg_load_real(c, s, sel);
        if (s == S_SS)
            cpu_update_mode(c);
        return;
    }
    unsigned rpl = sel & 3, cpl = c->cpl;
    if ((sel & 0xfffc) == 0) {
        if (s == S_SS) {
            /* SDM 6.14.4 / MOV: null SS is allowed in 64-bit mode at
             * CPL < 3 with RPL = CPL; elsewhere #GP(0). */
            if (c->mode != MODE_LONG || cpl == 3 || rpl != cpl)
                sys_fault(c, EXC_GP, 0, "MOV/POP SS: null selector (allowed only in 64-bit mode at CPL < 3 with RPL = CPL)");
            seg_load_null(c, s, sel);
            return;
        }
        /* Intel (and QEMU) zero the base, also of FS/GS in 64-bit mode. */
        seg_load_null(c, s, sel);
        return;
    }
    struct desc d;
    if (!desc_fetch(c, sel, &d, false))
        sys_fault(c, EXC_GP, sel_err(sel), "segment load: selector beyond the GDT/LDT limit");
    unsigned dpl = desc_dpl(&d);
    if (s == S_SS) {
        if (rpl != cpl || dpl != cpl || !desc_is_data(&d) || !desc_rw(&d))
            sys_fault(c, EXC_GP, sel_err(sel), "MOV/POP SS: RPL != CPL, DPL != CPL or not a writable data segment");
        if (!desc_p(&d))
            sys_fault(c, EXC_SS, sel_err(sel), "MOV/POP SS: segment not present");
    } else {
        /* data or readable code only */
        if (!desc_s(&d) || (desc_is_code(&d) && !desc_rw(&d)))
            sys_fault(c, EXC_GP, sel_err(sel), "data segment load: not a data or readable code segment");
        /* data and non-conforming code: "#GP(sel) if RPL > DPL or CPL > DPL" */
        if ((desc_is_data(&d) || !desc_conforming(&d)) && (rpl > dpl || cpl > dpl))
            sys_fault(c, EXC_GP, sel_err(sel), "data segment load: RPL > DPL or CPL > DPL");
        if (!desc_p(&d))
            sys_fault(c, EXC_NP, sel_err(sel), "data segment load: segment not present");
    }
    if (!(d.hi & 0x100)) {
        desc_set_bits(c, sel, 1);
        d.hi |= 0x100;
    }
    seg_load_desc(c, s, sel, &d);
    if (s == S_SS)
        cpu_update_mode(c);
}

void seg_null_outer(struct cpu *c)
{
    static const int segs[] = {S_ES, S_DS, S_FS, S_GS};
    for (unsigned k = 0; k < 4; k++) {
        struct seg *g = &c->seg[segs[k]];
        if ((g->sel & 0xfffc) == 0 || !(g->attr & SEG_ATTR_P))
            continue;
        unsigned dpl = (g->attr >> 5) & 3;
        bool conf_code = (g->attr & 0x18) == 0x18 && (g->attr & 0x4);
        if (!conf_code && dpl < c->cpl) {
            /* SDM RET/IRET: load NULL; QEMU keeps base and limit. */
            g->sel = 0;
            g->attr = 0;
        }
    }
}

/* ---- Stacks ---- */

uint64_t stack_lin(struct cpu *c, const struct seg *ss, uint64_t off,
                   int size, int32_t err)
{
    (void)c;
    bool big = (ss->attr & SEG_ATTR_DB) != 0;
    off &= big ? 0xffffffffull : 0xffffull;
    uint64_t last = off + (uint64_t)size - 1;
    if ((ss->attr & 0x1c) == 0x14) { /* expand-down data (SDM 3.4.5.1) */
        if (off <= ss->limit || last > (big ? 0xffffffffull : 0xffffull))
            cpu_raise(c, EXC_SS, err);
    } else if (last > ss->limit) {
        cpu_raise(c, EXC_SS, err);
    }
    return (uint32_t)(ss->base + off);
}

void stack_write_sys(struct cpu *c, const struct seg *ss, uint64_t off,
                     int size, uint64_t v, int32_t err)
{
    lin_write_sys(c, stack_lin(c, ss, off, size, err), size, v);
}

void tss_legacy_stack(struct cpu *c, unsigned dpl, uint16_t *ss,
                      uint32_t *sp, int ext)
{
    const struct seg *tr = &c->seg[S_TR];
    int32_t err = sel_err(tr->sel) | ext;
    bool t32 = (tr->attr & 8) != 0; /* type 9/11: 32-bit TSS */
    uint32_t off = t32 ? 4 + 8 * dpl : 2 + 4 * dpl;
    uint32_t need = t32 ? 8 : 4;
    if (!(tr->attr & SEG_ATTR_P) || off + need - 1 > tr->limit)
        cpu_raise(c, EXC_TS, err);
    if (t32) {
        *sp = (uint32_t)lin_read_sys(c, (uint32_t)(tr->base + off), 4);
        *ss = (uint16_t)lin_read_sys(c, (uint32_t)(tr->base + off + 4), 2);
    } else {
        *sp = (uint16_t)lin_read_sys(c, (uint32_t)(tr->base + off), 2);
        *ss = (uint16_t)lin_read_sys(c, (uint32_t)(tr->base + off + 2), 2);
    }
}

uint64_t tss64_stack(struct cpu *c, unsigned idx, int ext)
{
    const struct seg *tr = &c->seg[S_TR];
    /* 64-bit TSS (SDM Vol 3A 8.7): RSP0..2 at 4, IST1..7 at 0x24 */
    uint32_t off = idx < 3 ? 4 + 8 * idx : 0x24 + 8 * (idx - 4);
    if (!(tr->attr & SEG_ATTR_P) || off + 7 > tr->limit)
        cpu_raise(c, EXC_TS, sel_err(tr->sel) | ext);
    return lin_read_sys(c, tr->base + off, 8);
}

void check_inner_ss(struct cpu *c, uint16_t ss, unsigned dpl, int ext,
                    struct desc *d)
{
    if ((ss & 0xfffc) == 0)
        cpu_raise(c, EXC_TS, ext);
    if (!desc_fetch(c, ss, d, false))
        cpu_raise(c, EXC_TS, sel_err(ss) | ext);
    if ((ss & 3) != dpl || desc_dpl(d) != dpl || !desc_is_data(d) || !desc_rw(d))
        cpu_raise(c, EXC_TS, sel_err(ss) | ext);
    if (!desc_p(d))
        cpu_raise(c, EXC_SS, sel_err(ss) | ext);
}

/* Push n values (vals[0] first) on the current stack; RSP changes only
 * when every write succeeded. */
static void push_frame(struct cpu *c, const uint64_t *vals, int n, int size)
{
    uint64_t mask = mmu_sp_mask(c);
    uint64_t sp = c->regs[R_RSP];
    for (int k = 0; k < n; k++) {
        sp = (sp - (uint64_t)size) & mask;
        mem_write(c, S_SS, sp, size, vals[k]);
    }
    c->regs[R_RSP] = (c->regs[R_RSP] & ~mask) | sp;
}

/* RSP <- v at a stack of size sz (QEMU's SET_ESP). */
static void set_sp(struct cpu *c, uint64_t v, int sz)
{
    if (sz == 2)
        c->regs[R_RSP] = (c->regs[R_RSP] & ~0xffffull) | (v & 0xffff);
    else if (sz == 4)
        c->regs[R_RSP] = (uint32_t)v;
    else
        c->regs[R_RSP] = v;
}

/* ---- Segment-register instructions ---- */

static int sreg_of(struct cpu *c, const struct insn *i)
{
    unsigned r = i->reg & 7;
    if (r > S_GS)
        cpu_raise(c, EXC_UD, CPU_NOERR);
    return (int)r;
}

void op_mov_sreg_load(struct cpu *c, const struct insn *i)
{
    int s = sreg_of(c, i);
    if (s == S_CS)
        cpu_raise(c, EXC_UD, CPU_NOERR);
    uint16_t sel = (uint16_t)sys_rm_get(c, i, 2);
    seg_load(c, s, sel);
    if (s == S_SS)
        c->intr_shadow = true; /* SDM 6.8.3: MOV SS blocks events for one insn */
}

void op_mov_sreg_store(struct cpu *c, const struct insn *i)
{
    int s = sreg_of(c, i);
    uint16_t sel = c->seg[s].sel;
    if (i->mod == 3)
        sys_reg_set(c, i->rm, i->opsize, sel); /* zero-extended */
    else
        mem_write16(c, i->seg, insn_ea(c, i), sel);
}

static int sreg_from_opcode(const struct insn *i)
{
    if (i->map == 1) /* 0F A0/A1: FS, 0F A8/A9: GS */
        return i->opcode >= 0xa8 ? S_GS : S_FS;
    return (i->opcode >> 3) & 3; /* 06 ES, 0E CS, 16 SS, 1E DS */
}

void op_push_sreg(struct cpu *c, const struct insn *i)
{
    int s = sreg_from_opcode(i);
    if (c->mode == MODE_LONG && i->map == 0)
        cpu_raise(c, EXC_UD, CPU_NOERR);
    cpu_push(c, c->seg[s].sel, i->opsize);
}

void op_pop_sreg(struct cpu *c, const struct insn *i)
{
    int s = sreg_from_opcode(i);
    if (s == S_CS || (c->mode == MODE_LONG && i->map == 0))
        cpu_raise(c, EXC_UD, CPU_NOERR);
    uint64_t mask = mmu_sp_mask(c);
    uint64_t sp = c->regs[R_RSP] & mask;
    uint16_t sel = (uint16_t)mem_read(c, S_SS, sp, i->opsize);
    /* the stack size may change with SS: use the old mask for the update */
    seg_load(c, s, sel);
    c->regs[R_RSP] = (c->regs[R_RSP] & ~mask) | ((sp + (uint64_t)i->opsize) & mask);
    if (s == S_SS)
        c->intr_shadow = true;
}

void op_load_far_ptr(struct cpu *c, const struct insn *i)
{
    int s;
    if (i->mod == 3)
        cpu_raise(c, EXC_UD, CPU_NOERR);
    if (i->map == 0) {
        if (c->mode == MODE_LONG)
            cpu_raise(c, EXC_UD, CPU_NOERR);
        s = i->opcode == 0xc4 ? S_ES : S_DS;
    } else {
        s = i->opcode == 0xb2 ? S_SS : i->opcode == 0xb4 ? S_FS : S_GS;
    }
    uint64_t ea = insn_ea(c, i);
    uint64_t off = mem_read(c, i->seg, ea, i->opsize);
    uint16_t sel = mem_read16(c, i->seg, (ea + i->opsize) & sys_mask(i->addrsize));
    seg_load(c, s, sel);
    sys_reg_set(c, i->reg, i->opsize, off);
    /* no interrupt shadow: only MOV SS and POP SS have one (SDM 6.8.3) */
}

void op_arpl(struct cpu *c, const struct insn *i)
{
    if (c->mode == MODE_REAL || c->mode == MODE_V86 || c->mode == MODE_LONG)
        cpu_raise(c, EXC_UD, CPU_NOERR);
    uint16_t dst = (uint16_t)sys_rm_get(c, i, 2);
    uint16_t src = (uint16_t)sys_reg_get(c, i->reg, 2);
    if ((dst & 3) < (src & 3)) {
        sys_rm_set(c, i, 2, (dst & ~3u) | (src & 3));
        sys_set_zf(c, true);
    } else {
        sys_set_zf(c, false);
    }
}

/* ---- Far transfers ---- */

/* Offset check for a target code segment: canonical for 64-bit code,
 * within the limit otherwise ("#GP(0) if beyond the CS limit"). */
static uint64_t check_target(struct cpu *c, const struct desc *d, uint64_t off,
                             int osz)
{
    if (cpu_long_mode(c) && desc_l(d)) {
        if (!is_canonical(off))
            cpu_raise(c, EXC_GP, 0);
        return off;
    }
    off &= sys_mask(osz < 4 ? osz : 4);
    if (off > desc_limit(d))
        cpu_raise(c, EXC_GP, 0);
    return off;
}

static inline __attribute__((always_inline)) void commit_ss(struct cpu *c, uint16_t ss, struct desc *d);

/* Load CS from a validated descriptor at privilege cpl. */
static inline __attribute__((always_inline)) void load_cs(struct cpu *c, uint16_t sel, struct desc *d, unsigned cpl)
{
    if (!(d->hi & 0x100)) {
        desc_set_bits(c, sel, 1);
        d->hi |= 0x100;
    }
    seg_load_desc(c, S_CS, (uint16_t)((sel & 0xfffc) | cpl), d);
}

/* Code-segment target of a far JMP/CALL (direct, or through a gate for
 * the same privilege). Checks first, then pushes, then commits. */
static void check_code_desc(struct cpu *c, uint16_t sel, const struct desc *d,
                            int32_t err)
{
    if (!desc_is_code(d))
        cpu_raise(c, EXC_GP, err);
    if (cpu_long_mode(c) && desc_l(d) && desc_db(d))
        cpu_raise(c, EXC_GP, err); /* L=1 with D=1 is reserved (SDM 5.2.1) */
    (void)sel;
}

static void far_direct(struct cpu *c, const struct insn *i, uint16_t sel,
                       struct desc *d, uint64_t off, bool call)
{
    unsigned dpl = desc_dpl(d), cpl = c->cpl;
    check_code_desc(c, sel, d, sel_err(sel));
    if (desc_conforming(d)) {
        if (dpl > cpl)
            sys_fault(c, EXC_GP, sel_err(sel), "far JMP/CALL: conforming code with DPL > CPL");
    } else if ((sel & 3) > cpl || dpl != cpl) {
        sys_fault(c, EXC_GP, sel_err(sel), "far JMP/CALL: non-conforming code with RPL > CPL or DPL != CPL");
    }
    if (!desc_p(d))
        cpu_raise(c, EXC_NP, sel_err(sel));
    off = check_target(c, d, off, i->opsize);
    if (call) {
        uint64_t f[2] = {c->seg[S_CS].sel, c->next_rip};
        push_frame(c, f, 2, i->opsize);
    }
    load_cs(c, sel, d, cpl);
    c->next_rip = off;
    cpu_update_mode(c);
}

/* Far CALL/JMP through a call gate (SDM Vol 3A 5.8.3 - 5.8.6). */
static void far_gate(struct cpu *c, const struct insn *i, uint16_t sel,
                     struct desc *g, bool call)
{
    unsigned cpl = c->cpl, gdpl = desc_dpl(g);
    bool lm = cpu_long_mode(c);
    (void)i;
    if (gdpl < cpl || (sel & 3) > gdpl)
        sys_fault(c, EXC_GP, sel_err(sel), "call gate: DPL < CPL or RPL > DPL");
    if (!desc_p(g))
        cpu_raise(c, EXC_NP, sel_err(sel));
    if (lm) {
        if (!desc_fetch(c, sel, g, true) || ((g->hi3 >> 8) & 0x1f) != 0)
            cpu_raise(c, EXC_GP, sel_err(sel));
    }
    uint16_t tsel = gate_sel(g);
    if ((tsel & 0xfffc) == 0)
        cpu_raise(c, EXC_GP, 0);
    struct desc d;
    if (!desc_fetch(c, tsel, &d, false))
        cpu_raise(c, EXC_GP, sel_err(tsel));
    unsigned dpl = desc_dpl(&d);
    if (!desc_is_code(&d) || dpl > cpl)
        cpu_raise(c, EXC_GP, sel_err(tsel));
    if (lm && (!desc_l(&d) || desc_db(&d)))
        sys_fault(c, EXC_GP, sel_err(tsel), "64-bit call gate to a non-64-bit code segment");
    if (!call && !desc_conforming(&d) && dpl != cpl)
        sys_fault(c, EXC_GP, sel_err(tsel), "JMP through a call gate to non-conforming code with DPL != CPL");
    if (!desc_p(&d))
        cpu_raise(c, EXC_NP, sel_err(tsel));

    int gsz = lm ? 8 : desc_type(g) == DT_CALL32 ? 4 : 2;
    uint64_t off = gsz == 2 ? (g->lo & 0xffff) : gate_off32(g);
    if (lm)
        off |= (uint64_t)g->hi2 << 32;
    off = check_target(c, &d, off, gsz);

    if (call && !desc_conforming(&d) && dpl < cpl) {
        /* More privileged: stack switch and parameter copy. */
        uint64_t old_ss = c->seg[S_SS].sel, old_sp = c->regs[R_RSP];
        if (lm) {
            uint64_t rsp = tss64_stack(c, dpl, 0);
            if (!is_canonical(rsp))
                cpu_raise(c, EXC_SS, 0);
            uint64_t f[4] = {old_ss, old_sp, c->seg[S_CS].sel, c->next_rip};
            for (int k = 0; k < 4; k++)
                lin_write_sys(c, rsp - 8 * (uint64_t)(k + 1), 8, f[k]);
            load_cs(c, tsel, &d, dpl);
            seg_load_null(c, S_SS, (uint16_t)dpl);
            c->regs[R_RSP] = rsp - 32;
        } else {
            uint16_t nss;
            uint32_t nsp;
            struct desc sd;
            tss_legacy_stack(c, dpl, &nss, &nsp, 0);
            check_inner_ss(c, nss, dpl, 0, &sd);
            struct seg ns = {nss, desc_attr(&sd), desc_limit(&sd), desc_base(&sd)};
            unsigned nparam = g->hi & 0x1f;
            uint64_t m = mmu_sp_mask(c);
            uint64_t sp = nsp;
            int32_t e = sel_err(nss);
            sp -= (uint64_t)gsz;
            stack_write_sys(c, &ns, sp, gsz, old_ss, e);
            sp -= (uint64_t)gsz;
            stack_write_sys(c, &ns, sp, gsz, old_sp, e);
            for (int k = (int)nparam - 1; k >= 0; k--) {
                uint64_t v = mem_read(c, S_SS, (old_sp + (uint64_t)k * gsz) & m, gsz);
                sp -= (uint64_t)gsz;
                stack_write_sys(c, &ns, sp, gsz, v, e);
            }
            sp -= (uint64_t)gsz;
            stack_write_sys(c, &ns, sp, gsz, c->seg[S_CS].sel, e);
            sp -= (uint64_t)gsz;
            stack_write_sys(c, &ns, sp, gsz, c->next_rip, e);
            load_cs(c, tsel, &d, dpl);
            commit_ss(c, nss, &sd);
            set_sp(c, sp, (sd.hi & (1u << 22)) ? 4 : 2);
        }
    } else {
        unsigned ncpl = cpl; /* conforming or same level: CPL unchanged */
        if (call) {
            uint64_t f[2] = {c->seg[S_CS].sel, c->next_rip};
            push_frame(c, f, 2, gsz);
        }
        load_cs(c, tsel, &d, ncpl);
    }
    c->next_rip = off;
    cpu_update_mode(c);
}

static void far_jmp_call(struct cpu *c, const struct insn *i, uint16_t sel,
                         uint64_t off, bool call)
{
    if (c->mode == MODE_REAL || c->mode == MODE_V86) {
        off &= sys_mask(i->opsize);
        if (off > c->seg[S_CS].limit)
            cpu_raise(c, EXC_GP, 0);
        if (call) {
            uint64_t f[2] = {c->seg[S_CS].sel, c->next_rip};
            push_frame(c, f, 2, i->opsize);
        }
        seg_load_real(c, S_CS, sel);
        c->next_rip = off;
        cpu_update_mode(c);
        return;
    }
    if ((sel & 0xfffc) == 0)
        cpu_raise(c, EXC_GP, 0);
    struct desc d;
    if (!desc_fetch(c, sel, &d, false))
        cpu_raise(c, EXC_GP, sel_err(sel));
    if (desc_s(&d)) {
        far_direct(c, i, sel, &d, off, call);
        return;
    }
    unsigned t = desc_type(&d);
    if (cpu_long_mode(c)) {
        if (t != DT_CALL32) /* only 64-bit call gates in IA-32e mode */
            cpu_raise(c, EXC_GP, sel_err(sel));
        far_gate(c, i, sel, &d, call);
        return;
    }
    switch (t) {
    case DT_CALL16:
    case DT_CALL32:
        far_gate(c, i, sel, &d, call);
        return;
    case DT_TASK:
    case DT_TSS16_AVAIL:
    case DT_TSS32_AVAIL:
        /* "#GP(sel) if DPL < CPL or DPL < RPL" for TSS and task gate */
        if (desc_dpl(&d) < c->cpl || desc_dpl(&d) < (sel & 3u))
            cpu_raise(c, EXC_GP, sel_err(sel));
        if (!desc_p(&d))
            cpu_raise(c, EXC_NP, sel_err(sel));
        if (t == DT_TASK) {
            uint16_t tss = gate_sel(&d);
            if (tss & 4)
                cpu_raise(c, EXC_GP, sel_err(tss));
            if (!desc_fetch(c, tss, &d, false))
                cpu_raise(c, EXC_GP, sel_err(tss));
            t = desc_type(&d);
            if (desc_s(&d) || (t != DT_TSS16_AVAIL && t != DT_TSS32_AVAIL))
                cpu_raise(c, EXC_GP, sel_err(tss));
            if (!desc_p(&d))
                cpu_raise(c, EXC_NP, sel_err(tss));
            sel = tss;
        }
        task_switch(c, sel, &d, call ? TS_CALL : TS_JMP, CPU_NOERR, c->next_rip);
        return;
    default:
        cpu_raise(c, EXC_GP, sel_err(sel));
    }
}

void op_jmp_far_imm(struct cpu *c, const struct insn *i)
{
    if (c->mode == MODE_LONG)
        cpu_raise(c, EXC_UD, CPU_NOERR);
    far_jmp_call(c, i, (uint16_t)i->imm2, i->imm, false);
}

void op_call_far_imm(struct cpu *c, const struct insn *i)
{
    if (c->mode == MODE_LONG)
        cpu_raise(c, EXC_UD, CPU_NOERR);
    far_jmp_call(c, i, (uint16_t)i->imm2, i->imm, true);
}

static void far_mem(struct cpu *c, const struct insn *i, bool call)
{
    if (i->mod == 3)
        cpu_raise(c, EXC_UD, CPU_NOERR);
    uint64_t ea = insn_ea(c, i);
    uint64_t off = mem_read(c, i->seg, ea, i->opsize);
    uint16_t sel = mem_read16(c, i->seg, (ea + i->opsize) & sys_mask(i->addrsize));
    far_jmp_call(c, i, sel, off, call);
}

void op_jmp_far_mem(struct cpu *c, const struct insn *i) { far_mem(c, i, false); }
void op_call_far_mem(struct cpu *c, const struct insn *i) { far_mem(c, i, true); }

/* Validate the CS of a far RET/IRET (SDM Vol 2B RET "Operation"). */
static inline __attribute__((always_inline)) void check_ret_cs(struct cpu *c, uint16_t sel, struct desc *d)
{
    if ((sel & 0xfffc) == 0)
        cpu_raise(c, EXC_GP, 0);
    if (!desc_fetch(c, sel, d, false))
        cpu_raise(c, EXC_GP, sel_err(sel));
    unsigned rpl = sel & 3, dpl = desc_dpl(d);
    check_code_desc(c, sel, d, sel_err(sel));
    if (rpl < c->cpl)
        sys_fault(c, EXC_GP, sel_err(sel), "far RET/IRET: return CS RPL < CPL");
    if (desc_conforming(d) ? dpl > rpl : dpl != rpl)
        cpu_raise(c, EXC_GP, sel_err(sel));
    if (!desc_p(d))
        cpu_raise(c, EXC_NP, sel_err(sel));
}

/* SS of a return to an outer level (or any IRET in 64-bit mode). */
static inline __attribute__((always_inline)) void check_ret_ss(struct cpu *c, uint16_t ss, unsigned rpl,
                         bool target64, struct desc *d)
{
    if ((ss & 0xfffc) == 0) {
        /* null SS only for a 64-bit target at CPL < 3 (SDM IRET) */
        if (!target64 || rpl == 3)
            sys_fault(c, EXC_GP, 0, "far RET/IRET: null SS outside a 64-bit return below CPL 3");
        d->lo = d->hi = 0;
        return;
    }
    if (!desc_fetch(c, ss, d, false))
        cpu_raise(c, EXC_GP, sel_err(ss));
    if ((ss & 3u) != rpl || desc_dpl(d) != rpl || !desc_is_data(d) || !desc_rw(d))
        sys_fault(c, EXC_GP, sel_err(ss), "far RET/IRET: SS RPL/DPL != CS RPL or not writable data");
    if (!desc_p(d))
        sys_fault(c, EXC_SS, sel_err(ss), "far RET/IRET: SS not present");
}

static inline __attribute__((always_inline)) void commit_ss(struct cpu *c, uint16_t ss, struct desc *d)
{
    if ((ss & 0xfffc) == 0) {
        seg_load_null(c, S_SS, ss);
        return;
    }
    if (!(d->hi & 0x100)) {
        desc_set_bits(c, ss, 1);
        d->hi |= 0x100;
    }
    seg_load_desc(c, S_SS, ss, d);
}

void op_retf(struct cpu *c, const struct insn *i)
{
    int osz = i->opsize;
    uint64_t m = mmu_sp_mask(c);
    uint64_t sp = c->regs[R_RSP];
    uint64_t off = mem_read(c, S_SS, sp & m, osz);
    uint16_t sel = (uint16_t)mem_read(c, S_SS, (sp + osz) & m, osz);
    uint64_t sp2 = sp + 2 * (uint64_t)osz + i->imm;

    if (c->mode == MODE_REAL || c->mode == MODE_V86) {
        off &= sys_mask(osz);
        if (off > c->seg[S_CS].limit)
            cpu_raise(c, EXC_GP, 0);
        seg_load_real(c, S_CS, sel);
        c->regs[R_RSP] = (c->regs[R_RSP] & ~m) | (sp2 & m);
        c->next_rip = off;
        cpu_update_mode(c);
        return;
    }
    struct desc d, sd;
    check_ret_cs(c, sel, &d);
    unsigned rpl = sel & 3;
    bool t64 = cpu_long_mode(c) && desc_l(&d);
    off = check_target(c, &d, off, osz);
    if (rpl == c->cpl) {
        load_cs(c, sel, &d, rpl);
        c->regs[R_RSP] = (c->regs[R_RSP] & ~m) | (sp2 & m);
        c->next_rip = off;
        cpu_update_mode(c);
        return;
    }
    /* Return to an outer level: SS:eSP follow on the stack. */
    uint64_t nsp = mem_read(c, S_SS, sp2 & m, osz);
    uint16_t nss = (uint16_t)mem_read(c, S_SS, (sp2 + osz) & m, osz);
    check_ret_ss(c, nss, rpl, t64, &sd);
    load_cs(c, sel, &d, rpl);
    commit_ss(c, nss, &sd);
    cpu_update_mode(c);
    set_sp(c, nsp + i->imm, c->stack_size);
    c->next_rip = off;
    seg_null_outer(c);
}

/* EFLAGS an IRET/POPF may change at the current CPL/IOPL (SDM Vol 2A
 * IRET, POPF). RF is cleared by POPF and loaded by IRET. */
uint32_t eflags_writable(const struct cpu *c, int osz)
{
    uint32_t m = F_ARITH | F_TF | F_DF | F_NT | F_AC | F_ID;
    if (c->mode == MODE_REAL || c->cpl == 0)
        m |= F_IOPL;
    if (c->mode == MODE_REAL || c->cpl <= cpu_iopl(c))
        m |= F_IF;
    if (osz == 2)
        m &= 0xffff;
    return m;
}

/* Slot k of an IRET frame at sp: from the host pointer fp when the fast
 * path has one, else a normal stack read. */
static inline uint64_t iret_pop(struct cpu *c, const uint8_t *fp, uint64_t sp,
                                uint64_t m, int osz, int k)
{
    if (fp) {
        uint64_t v;
        memcpy(&v, fp + 8 * k, 8);
        return v;
    }
    return mem_read(c, S_SS, (sp + (uint64_t)(k * osz)) & m, osz);
}

void op_iret(struct cpu *c, const struct insn *i)
{
    int osz = i->opsize;
    uint64_t m = mmu_sp_mask(c);
    uint64_t sp = c->regs[R_RSP];

    if (c->mode == MODE_REAL) {
        uint64_t off = mem_read(c, S_SS, sp & m, osz);
        uint16_t sel = (uint16_t)mem_read(c, S_SS, (sp + osz) & m, osz);
        uint32_t fl = (uint32_t)mem_read(c, S_SS, (sp + 2 * osz) & m, osz);
        if (off > c->seg[S_CS].limit)
            cpu_raise(c, EXC_GP, 0);
        uint32_t cur = cpu_get_eflags(c);
        uint32_t nf = osz == 2 ? (cur & ~0xffffu) | (fl & 0xffff)
                               : (fl & 0x257fd5u) | (cur & 0x1a0000u); /* SDM IRET real mode */
        seg_load_real(c, S_CS, sel);
        c->regs[R_RSP] = (c->regs[R_RSP] & ~m) | ((sp + 3 * (uint64_t)osz) & m);
        cpu_set_eflags(c, nf | 2);
        c->next_rip = off;
        c->nmi_blocked = false;
        cpu_update_mode(c);
        return;
    }
    if (c->mode == MODE_V86)
        cpu_raise(c, EXC_GP, 0);
    if (c->eflags & F_NT) {
        /* Task return (SDM Vol 3A 7.3); invalid in IA-32e mode. */
        if (cpu_long_mode(c))
            cpu_raise(c, EXC_GP, 0);
        const struct seg *tr = &c->seg[S_TR];
        uint16_t back = (uint16_t)lin_read_sys(c, (uint32_t)tr->base, 2);
        struct desc d;
        if ((back & 4) || !desc_fetch(c, back, &d, false))
            cpu_raise(c, EXC_TS, sel_err(back));
        unsigned t = desc_type(&d);
        if (desc_s(&d) || (t != DT_TSS16_BUSY && t != DT_TSS32_BUSY))
            cpu_raise(c, EXC_TS, sel_err(back));
        if (!desc_p(&d))
            cpu_raise(c, EXC_NP, sel_err(back));
        task_switch(c, back, &d, TS_IRET, CPU_NOERR, c->next_rip);
        c->nmi_blocked = false;
        return;
    }
    /* IRETQ in 64-bit mode with the whole 40-byte frame in one page and a
     * TLB hit: read it through one host pointer. A hit means every pop
     * would hit too (the entry exists only if the read is allowed at this
     * CPL/AC, SDM 4.6), so nothing can fault; the frame is canonical. */
    const uint8_t *fp = NULL;
    if (c->mode == MODE_LONG && osz == 8 &&
        sp + (1ull << 47) <= (1ull << 48) - 40)
        fp = mmu_tlb_hit(c, TLB_READ, mmu_ctx(c), sp, 40);
    uint64_t off = iret_pop(c, fp, sp, m, osz, 0);
    uint16_t sel = (uint16_t)iret_pop(c, fp, sp, m, osz, 1);
    uint32_t fl = (uint32_t)iret_pop(c, fp, sp, m, osz, 2);
    if (!cpu_long_mode(c) && osz == 4 && (fl & F_VM) && c->cpl == 0) {
        if (log_on(c->log, LOG_GUEST_ERROR))
            log_printf(c->log, "iret: return to virtual-8086 mode is not supported\n");
        cpu_raise(c, EXC_GP, 0);
    }
    struct desc d, sd;
    check_ret_cs(c, sel, &d);
    unsigned rpl = sel & 3;
    bool t64 = cpu_long_mode(c) && desc_l(&d);
    off = check_target(c, &d, off, osz);
    uint32_t wm = eflags_writable(c, osz);
    if (c->cpl == 0 && osz != 2)
        wm |= F_VIF | F_VIP; /* SDM IRET: CPL 0 also loads VIF and VIP */
    /* wm always holds F_ARITH, so the lazy OSZAPC would be masked out:
     * the stored non-arithmetic bits suffice (no lf_flags evaluation). */
    uint32_t nf = ((c->eflags | 2) & ~(wm | F_RF)) | (fl & (wm | (osz == 2 ? 0 : F_RF))) | 2;
    bool pop_ss = rpl != c->cpl || c->mode == MODE_LONG; /* IRETQ always pops SS:RSP */
    if (!pop_ss) {
        load_cs(c, sel, &d, rpl);
        c->regs[R_RSP] = (c->regs[R_RSP] & ~m) | ((sp + 3 * (uint64_t)osz) & m);
        cpu_set_eflags(c, nf);
        c->next_rip = off;
        c->nmi_blocked = false;
        cpu_update_mode(c);
        return;
    }
    uint64_t nsp = iret_pop(c, fp, sp, m, osz, 3);
    uint16_t nss = (uint16_t)iret_pop(c, fp, sp, m, osz, 4);
    check_ret_ss(c, nss, rpl, t64, &sd);
    bool outer = rpl > c->cpl;
    load_cs(c, sel, &d, rpl);
    commit_ss(c, nss, &sd);
    cpu_set_eflags(c, nf);
    if (t64 && !(nf & F_VM))
        cpu_mode_long64(c); /* LMA=1, 64-bit CS: no mode tests needed */
    else
        cpu_update_mode(c);
    set_sp(c, nsp, c->stack_size);
    c->next_rip = off;
    c->nmi_blocked = false;
    if (outer)
        seg_null_outer(c);
}

/* ---- SYSCALL/SYSRET (SDM Vol 2B), SYSENTER/SYSEXIT ---- */

void op_syscall(struct cpu *c, const struct insn *i)
{
    (void)i;
    /* Intel: #UD outside 64-bit mode (we advertise GenuineIntel). */
    if (!(c->efer & EFER_SCE) || c->mode != MODE_LONG)
        cpu_raise(c, EXC_UD, CPU_NOERR);
    uint16_t sel = (uint16_t)(c->star >> 32);
    uint32_t fl = cpu_get_eflags(c);
    c->regs[R_RCX] = c->next_rip;
    c->regs[R_R11] = fl & ~F_RF;
    seg_load_flat(c, S_CS, sel & 0xfffc, 0, true, true);
    seg_load_flat(c, S_SS, (uint16_t)(sel + 8), 0, false, false);
    cpu_set_eflags(c, (fl & ~(uint32_t)c->fmask & ~F_RF) | 2);
    c->next_rip = c->lstar;
    cpu_mode_long64(c); /* from 64-bit mode (VM=0) to a 64-bit CS */
}

void op_sysret(struct cpu *c, const struct insn *i)
{
    if (!(c->efer & EFER_SCE) || c->mode != MODE_LONG)
        cpu_raise(c, EXC_UD, CPU_NOERR);
    need_cpl0(c);
    uint16_t sel = (uint16_t)(c->star >> 48);
    uint64_t rip;
    if (i->opsize == 8) {
        rip = c->regs[R_RCX];
        if (!is_canonical(rip))
            sys_fault(c, EXC_GP, 0, "SYSRET: RCX is not canonical");
        seg_load_flat(c, S_CS, (uint16_t)((sel + 16) | 3), 3, true, true);
    } else {
        rip = (uint32_t)c->regs[R_RCX];
        seg_load_flat(c, S_CS, (uint16_t)(sel | 3), 3, true, false);
    }
    seg_load_flat(c, S_SS, (uint16_t)((sel + 8) | 3), 3, false, false);
    cpu_set_eflags(c, ((uint32_t)c->regs[R_R11] & 0x3c7fd7u) | 2);
    c->next_rip = rip;
    if (i->opsize == 8)
        cpu_mode_long64(c); /* the mask keeps VM clear; CS.L = 1 */
    else
        cpu_update_mode(c);
}

void op_sysenter(struct cpu *c, const struct insn *i)
{
    (void)i;
    uint16_t cs = (uint16_t)c->sysenter_cs;
    if (c->mode == MODE_REAL || (cs & 0xfffc) == 0)
        cpu_raise(c, EXC_GP, 0);
    bool lm = cpu_long_mode(c);
    cpu_set_eflags(c, cpu_get_eflags(c) & ~(F_VM | F_IF | F_RF));
    seg_load_flat(c, S_CS, cs & 0xfffc, 0, true, lm);
    seg_load_flat(c, S_SS, (uint16_t)((cs & 0xfffc) + 8), 0, false, false);
    c->regs[R_RSP] = lm ? c->sysenter_esp : (uint32_t)c->sysenter_esp;
    c->next_rip = lm ? c->sysenter_eip : (uint32_t)c->sysenter_eip;
    cpu_update_mode(c);
}

void op_sysexit(struct cpu *c, const struct insn *i)
{
    uint16_t cs = (uint16_t)c->sysenter_cs;
    if (c->mode == MODE_REAL || (cs & 0xfffc) == 0)
        cpu_raise(c, EXC_GP, 0);
    need_cpl0(c);
    if (i->opsize == 8) {
        if (!is_canonical(c->regs[R_RDX]) || !is_canonical(c->regs[R_RCX]))
            cpu_raise(c, EXC_GP, 0);
        seg_load_flat(c, S_CS, (uint16_t)((cs + 32) | 3), 3, true, true);
        seg_load_flat(c, S_SS, (uint16_t)((cs + 40) | 3), 3, false, false);
        c->regs[R_RSP] = c->regs[R_RCX];
        c->next_rip = c->regs[R_RDX];
    } else {
        seg_load_flat(c, S_CS, (uint16_t)((cs + 16) | 3), 3, true, false);
        seg_load_flat(c, S_SS, (uint16_t)((cs + 24) | 3), 3, false, false);
        c->regs[R_RSP] = (uint32_t)c->regs[R_RCX];
        c->next_rip = (uint32_t)c->regs[R_RDX];
    }
    cpu_update_mode(c);
}
