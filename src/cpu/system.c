/* system.c: reset, mode tracking, the CR0/CR4 chokepoint, and the system
 * instructions that are not segment loads, far transfers or I/O.
 *
 * THE CHOKEPOINT: cpu_write_cr0() and cpu_write_cr4() are the only code
 * that changes c->cr0/c->cr4 after reset. MOV to CR, LMSW, CLTS, task
 * switches and RSM all come here, so a pinned bit (src/pin/crpin.h) can
 * only change by host action. Each branch is marked with testcase() so a
 * coverage run shows it was taken. */
#include "sys.h"
#include "sysops.h"

/* SQLite-style coverage marker: a branch gcov can see taken. */
#define testcase(x) do { if (x) __asm__ volatile(""); } while (0)

/* ---- Reset and mode ---- */

void cpu_reset(struct cpu *c)
{
    /* SDM Vol 3A 9.1.1, table 9-1: power-up / RESET state. */
    for (int r = 0; r < 16; r++)
        c->regs[r] = 0;
    c->regs[R_RDX] = 0x00000663; /* family 6, model 6, stepping 3 (cpuid.c) */
    c->rip = c->next_rip = 0xfff0;
    c->eflags = 2;
    cpu_set_eflags(c, 2);
    for (int s = 0; s < S_NSEG; s++) {
        c->seg[s].sel = 0;
        c->seg[s].base = 0;
        c->seg[s].limit = 0xffff;
        c->seg[s].attr = SEG_ATTR_P | SEG_ATTR_S | 0x3; /* data RW, accessed */
    }
    c->seg[S_CS].sel = 0xf000;
    c->seg[S_CS].base = 0xffff0000u;
    c->seg[S_CS].attr = SEG_ATTR_P | SEG_ATTR_S | 0xb; /* code RX, accessed */
    c->seg[S_LDTR].attr = SEG_ATTR_P | DT_LDT;
    c->seg[S_TR].attr = SEG_ATTR_P | DT_TSS32_BUSY;
    c->gdtr.base = c->idtr.base = 0;
    c->gdtr.limit = c->idtr.limit = 0xffff;
    c->cr0 = CR0_CD | CR0_NW | CR0_ET; /* 0x60000010 */
    c->cr2 = c->cr3 = c->cr4 = c->cr8 = 0;
    c->efer = 0;
    for (int d = 0; d < 8; d++)
        c->dr[d] = 0;
    c->dr[6] = 0xffff0ff0;
    c->dr[7] = 0x400;

    c->star = c->lstar = c->cstar = c->fmask = c->kernel_gs_base = 0;
    c->tsc_aux = 0;
    c->sysenter_cs = c->sysenter_esp = c->sysenter_eip = 0;
    /* APIC enabled at 0xfee00000; bit 8 marks the bootstrap processor */
    c->apic_base = 0xfee00000u | (1u << 11) | (c->cpu_index == 0 ? 1u << 8 : 0);
    c->pat = 0x0007040600070406ull;
    c->misc_enable = 1; /* fast strings, as QEMU */
    c->mtrr_def_type = 0;
    for (int k = 0; k < 11; k++)
        c->mtrr_fixed[k] = 0;
    for (int k = 0; k < 16; k++)
        c->mtrr_var[k] = 0;
    c->tsc_offset = 0 - c->icount; /* TSC reads 0 at reset */

    crpin_reset(&c->pin); /* the RFC: pins never survive a reset */
    c->in_smm = false;
    c->smbase = 0x30000;

    c->halted = false;
    c->intr_shadow = false;
    c->nmi_pending = c->nmi_blocked = c->smi_pending = false;
    c->fault_vec = -1;
    c->fault_err = CPU_NOERR;
    c->delivering = -1;
    c->shutdown = false;
    c->fault_icount = ~0ull;

    cpu_update_mode(c);
    tlb_flush_all(c);
    icache_flush(c);
    if (log_on(c->log, LOG_CPU_RESET))
        log_printf(c->log, "CPU Reset (CPU %d)\n", c->cpu_index);
}

void cpu_update_mode(struct cpu *c)
{
    const struct seg *cs = &c->seg[S_CS], *ss = &c->seg[S_SS];
    if (!(c->cr0 & CR0_PE)) {
        c->mode = MODE_REAL;
        c->cpl = 0;
    } else if (c->eflags & F_VM) {
        c->mode = MODE_V86;
        c->cpl = 3;
    } else {
        /* CPL is SS.DPL (= CS.RPL except in transient states). */
        c->cpl = (uint8_t)((ss->attr >> 5) & 3);
        if (!(c->efer & EFER_LMA))
            c->mode = MODE_PROT;
        else if (cs->attr & SEG_ATTR_L)
            c->mode = MODE_LONG;
        else
            c->mode = MODE_COMPAT;
    }
    if (c->mode == MODE_LONG) {
        c->code_size = 8;
        c->stack_size = 8;
    } else {
        c->code_size = (cs->attr & SEG_ATTR_DB) ? 4 : 2;
        c->stack_size = (ss->attr & SEG_ATTR_DB) ? 4 : 2;
    }
}

static bool pae_paging(const struct cpu *c)
{
    return (c->cr0 & CR0_PG) && (c->cr4 & CR4_PAE) && !(c->efer & EFER_LMA);
}

void cpu_state_changed(struct cpu *c)
{
    cpu_update_mode(c);
    tlb_flush_all(c);
    if (pae_paging(c))
        (void)mmu_load_pdptrs(c); /* host-set state: a bad PDPTE faults later */
    icache_flush(c);
}

/* ---- Control registers ---- */

#define CR0_WRITABLE (CR0_PE | CR0_MP | CR0_EM | CR0_TS | CR0_ET | CR0_NE | \
                      CR0_WP | CR0_AM | CR0_NW | CR0_CD | CR0_PG)
/* CR4 bits of features we implement and advertise (cpuid.c). VME/PVI
 * (no V86), OSFXSR/OSXMMEXCPT (no SSE), FSGSBASE, PCIDE, OSXSAVE, PKE, LA57,
 * VMXE, SMXE and CET are reserved here: setting them is #GP(0). */
#define CR4_VALID (CR4_TSD | CR4_DE | CR4_PSE | CR4_PAE | CR4_MCE | CR4_PGE | \
                   CR4_PCE | CR4_UMIP | CR4_SMEP | CR4_SMAP)

static _Noreturn void cr_gp(struct cpu *c, const char *why)
{
    sys_fault(c, EXC_GP, 0, why);
}

/* A write that would change a pinned bit: report it, #GP(0), and leave
 * the register unchanged (seed RFC: "send that vCPU a general protection
 * fault, and leave the register unchanged"). */
static _Noreturn void pin_blocked(struct cpu *c, int cr, uint64_t old,
                                  uint64_t val)
{
    if (c->bus && c->bus->pin_violation)
        c->bus->pin_violation(c->bus->opaque, c, cr, old, val);
    cpu_raise(c, EXC_GP, 0);
}

void cpu_write_cr0(struct cpu *c, uint64_t val)
{
    uint64_t old = c->cr0;

    /* 1. Reserved bits and mode rules (SDM Vol 3A 2.5, 9.8.5). */
    testcase(val >> 32);
    if (val >> 32)
        cr_gp(c, "setting CR0[63:32] (reserved)");
    /* Bits 31:0 outside the defined set are ignored; ET is hardwired to 1
     * since the P6 (SDM 2.5). */
    val = (val & CR0_WRITABLE) | CR0_ET;
    testcase((val & CR0_PG) && !(val & CR0_PE));
    if ((val & CR0_PG) && !(val & CR0_PE))
        cr_gp(c, "CR0.PG=1 with CR0.PE=0");
    testcase((val & CR0_NW) && !(val & CR0_CD));
    if ((val & CR0_NW) && !(val & CR0_CD))
        cr_gp(c, "CR0.NW=1 with CR0.CD=0");
    bool pg_on = !(old & CR0_PG) && (val & CR0_PG);
    bool pg_off = (old & CR0_PG) && !(val & CR0_PG);
    if (pg_on && (c->efer & EFER_LME)) {
        /* Activating IA-32e mode (SDM 9.8.5): needs PAE, and CS.L=0 */
        testcase(!(c->cr4 & CR4_PAE));
        if (!(c->cr4 & CR4_PAE))
            cr_gp(c, "enabling paging with EFER.LME=1 and CR4.PAE=0");
        testcase(c->seg[S_CS].attr & SEG_ATTR_L);
        if (c->seg[S_CS].attr & SEG_ATTR_L)
            cr_gp(c, "enabling paging with EFER.LME=1 and CS.L=1");
    }
    testcase(pg_off && c->mode == MODE_LONG);
    if (pg_off && c->mode == MODE_LONG)
        cr_gp(c, "clearing CR0.PG in 64-bit mode");

    /* 2. The pin check: nothing has changed yet. */
    bool blocked = crpin_check_cr_write(&c->pin, 0, old, val, c->in_smm) == CRPIN_GP;
    testcase(blocked);
    testcase(!blocked && ((old ^ val) & c->pin.cr0_pinned) && c->in_smm);
    if (blocked)
        pin_blocked(c, 0, old, val);

    /* 3. PAE PDPTEs are loaded when PAE paging is (still) on and PG, CD or
     * NW changes (SDM Vol 3A 4.4.1); a bad one is #GP with nothing changed. */
    bool pae_after = (val & CR0_PG) && (c->cr4 & CR4_PAE) && !(c->efer & EFER_LME);
    if (pae_after && ((old ^ val) & (CR0_PG | CR0_CD | CR0_NW)) &&
        mmu_load_pdptrs(c) < 0)
        cr_gp(c, "MOV to CR0: reserved bit in a PAE PDPTE");

    /* 4. Commit. */
    c->cr0 = val;
    if (pg_on && (c->efer & EFER_LME))
        c->efer |= EFER_LMA; /* IA-32e mode active (SDM 9.8.5 step 4) */
    if (pg_off && (c->efer & EFER_LMA))
        c->efer &= ~EFER_LMA;
    if ((old ^ val) & (CR0_PG | CR0_WP | CR0_PE))
        tlb_flush_all(c);
    cpu_update_mode(c);
}

void cpu_write_cr4(struct cpu *c, uint64_t val)
{
    uint64_t old = c->cr4;

    testcase(val & ~CR4_VALID);
    if (val & ~(uint64_t)CR4_VALID)
        cr_gp(c, "setting a reserved CR4 bit");
    testcase(!(val & CR4_PAE) && (c->efer & EFER_LMA));
    if (!(val & CR4_PAE) && (c->efer & EFER_LMA))
        cr_gp(c, "clearing CR4.PAE with EFER.LMA=1");

    bool blocked = crpin_check_cr_write(&c->pin, 4, old, val, c->in_smm) == CRPIN_GP;
    testcase(blocked);
    testcase(!blocked && ((old ^ val) & c->pin.cr4_pinned) && c->in_smm);
    if (blocked)
        pin_blocked(c, 4, old, val);

    bool pae_after = (c->cr0 & CR0_PG) && (val & CR4_PAE) && !(c->efer & EFER_LMA);
    if (pae_after && ((old ^ val) & (CR4_PAE | CR4_PSE | CR4_PGE | CR4_SMEP)) &&
        mmu_load_pdptrs(c) < 0)
        cr_gp(c, "MOV to CR4: reserved bit in a PAE PDPTE");

    c->cr4 = val;
    if ((old ^ val) & (CR4_PSE | CR4_PAE | CR4_PGE | CR4_SMEP | CR4_SMAP))
        tlb_flush_all(c);
    cpu_update_mode(c);
}

void cpu_write_cr3(struct cpu *c, uint64_t val)
{
    if (cpu_long_mode(c)) {
        /* bits above MAXPHYADDR are reserved (no PCID: bit 63 too) */
        if (val >> CPU_MAXPHYADDR)
            cr_gp(c, "MOV to CR3: reserved bits above MAXPHYADDR");
    } else {
        val = (uint32_t)val;
    }
    uint64_t old = c->cr3;
    c->cr3 = val;
    if (pae_paging(c) && mmu_load_pdptrs(c) < 0) {
        c->cr3 = old;
        cr_gp(c, "MOV to CR3: reserved bit in a PAE PDPTE");
    }
    tlb_flush_nonglobal(c);
}

void op_mov_to_cr(struct cpu *c, const struct insn *i)
{
    if (i->lock)
        cpu_raise(c, EXC_UD, CPU_NOERR); /* AMD's LOCK MOV CR0 = CR8: not on Intel */
    need_cpl0(c); /* "#GP(0) if CPL is not 0" (checked first, as QEMU) */
    int sz = c->mode == MODE_LONG ? 8 : 4;
    uint64_t v = sys_reg_get(c, i->rm, sz);
    switch (i->reg) {
    case 0: cpu_write_cr0(c, v); break;
    case 2: c->cr2 = v; break;
    case 3: cpu_write_cr3(c, v); break;
    case 4: cpu_write_cr4(c, v); break;
    case 8:
        if (v & ~0xfull)
            cr_gp(c, "MOV to CR8: reserved bits 63:4");
        c->cr8 = v;
        break;
    default:
        cpu_raise(c, EXC_UD, CPU_NOERR); /* CR1, CR5-7, CR9-15 */
    }
}

void op_mov_from_cr(struct cpu *c, const struct insn *i)
{
    if (i->lock)
        cpu_raise(c, EXC_UD, CPU_NOERR);
    need_cpl0(c);
    int sz = c->mode == MODE_LONG ? 8 : 4;
    uint64_t v;
    switch (i->reg) {
    case 0: v = c->cr0; break;
    case 2: v = c->cr2; break;
    case 3: v = c->cr3; break;
    case 4: v = c->cr4; break;
    case 8: v = c->cr8 & 0xf; break;
    default: cpu_raise(c, EXC_UD, CPU_NOERR);
    }
    sys_reg_set(c, i->rm, sz, v);
}

void op_clts(struct cpu *c, const struct insn *i)
{
    (void)i;
    need_cpl0(c);
    cpu_write_cr0(c, c->cr0 & ~CR0_TS);
}

/* ---- Debug registers (SDM Vol 3A 18.2) ---- */

static unsigned dr_index(struct cpu *c, unsigned r)
{
    if (r == 4 || r == 5) {
        if (c->cr4 & CR4_DE)
            cpu_raise(c, EXC_UD, CPU_NOERR); /* DR4/5 are #UD with CR4.DE=1 */
        return r + 2;
    }
    if (r > 7)
        cpu_raise(c, EXC_UD, CPU_NOERR);
    return r;
}

void op_mov_to_dr(struct cpu *c, const struct insn *i)
{
    need_cpl0(c);
    unsigned r = dr_index(c, i->reg);
    int sz = c->mode == MODE_LONG ? 8 : 4;
    uint64_t v = sys_reg_get(c, i->rm, sz);
    if (r >= 6) {
        if (v >> 32)
            cr_gp(c, "MOV to DR6/DR7: bits 63:32 are reserved");
        v |= r == 6 ? 0xffff0ff0u : 0x400u;
    }
    c->dr[r] = v;
}

void op_mov_from_dr(struct cpu *c, const struct insn *i)
{
    need_cpl0(c);
    unsigned r = dr_index(c, i->reg);
    sys_reg_set(c, i->rm, c->mode == MODE_LONG ? 8 : 4, c->dr[r]);
}

/* ---- Descriptor-table instructions ---- */

/* UMIP (SDM Vol 3A 2.5): SGDT/SIDT/SLDT/SMSW/STR at CPL > 0 are #GP(0). */
static void umip_check(struct cpu *c)
{
    if ((c->cr4 & CR4_UMIP) && c->cpl > 0)
        cr_gp(c, "UMIP: SGDT/SIDT/SLDT/SMSW/STR at CPL > 0");
}

static void store_dtr(struct cpu *c, const struct insn *i, const struct dtr *t)
{
    umip_check(c);
    uint64_t ea = insn_ea(c, i);
    uint64_t am = sys_mask(i->addrsize);
    if (c->mode == MODE_LONG) {
        mem_write16(c, i->seg, ea, t->limit);
        mem_write64(c, i->seg, (ea + 2) & am, t->base);
    } else {
        uint32_t b = (uint32_t)t->base;
        if (i->opsize == 2)
            b &= 0xffffff; /* 16-bit form: 24-bit base, as QEMU */
        mem_write16(c, i->seg, ea, t->limit);
        mem_write32(c, i->seg, (ea + 2) & am, b);
    }
}

static void load_dtr(struct cpu *c, const struct insn *i, struct dtr *t)
{
    need_cpl0(c);
    uint64_t ea = insn_ea(c, i);
    uint64_t am = sys_mask(i->addrsize);
    uint16_t lim = mem_read16(c, i->seg, ea);
    uint64_t base;
    if (c->mode == MODE_LONG) {
        base = mem_read64(c, i->seg, (ea + 2) & am);
        if (!is_canonical(base))
            cr_gp(c, "LGDT/LIDT: non-canonical base");
    } else {
        base = mem_read32(c, i->seg, (ea + 2) & am);
        if (i->opsize == 2)
            base &= 0xffffff;
    }
    t->limit = lim;
    t->base = base;
}

static uint64_t read_tsc(const struct cpu *c)
{
    return c->icount + c->tsc_offset;
}

void op_grp7(struct cpu *c, const struct insn *i)
{
    unsigned r = i->reg & 7;
    if (i->mod != 3) {
        switch (r) {
        case 0: store_dtr(c, i, &c->gdtr); return;
        case 1: store_dtr(c, i, &c->idtr); return;
        case 2: load_dtr(c, i, &c->gdtr); return;
        case 3: load_dtr(c, i, &c->idtr); return;
        case 4: /* SMSW m16 */
            umip_check(c);
            mem_write16(c, i->seg, insn_ea(c, i), (uint16_t)c->cr0);
            return;
        case 6: { /* LMSW m16 */
            need_cpl0(c);
            uint16_t v = mem_read16(c, i->seg, insn_ea(c, i));
            /* bits 3:0 only; PE can be set but not cleared (SDM LMSW) */
            cpu_write_cr0(c, (c->cr0 & ~0xfull) | (v & 0xf) | (c->cr0 & CR0_PE));
            return;
        }
        case 7: { /* INVLPG */
            need_cpl0(c);
            uint64_t lin = insn_ea(c, i);
            if (c->mode != MODE_LONG || i->seg == S_FS || i->seg == S_GS)
                lin += c->seg[i->seg].base;
            if (c->mode != MODE_LONG)
                lin = (uint32_t)lin;
            tlb_flush_page(c, lin);
            return;
        }
        default:
            cpu_raise(c, EXC_UD, CPU_NOERR);
        }
    }
    unsigned rm = i->rm & 7;
    switch (r) {
    case 1:
        if (rm == 2 || rm == 3) { /* CLAC / STAC */
            if (c->cpl > 0)
                cpu_raise(c, EXC_UD, CPU_NOERR); /* "#UD if CPL > 0" */
            if (rm == 2)
                c->eflags &= ~F_AC;
            else
                c->eflags |= F_AC;
            return;
        }
        break; /* MONITOR/MWAIT/ENCLS: not advertised */
    case 4: /* SMSW r */
        umip_check(c);
        sys_reg_set(c, i->rm, i->opsize, c->cr0);
        return;
    case 6: { /* LMSW r16 */
        need_cpl0(c);
        uint16_t v = (uint16_t)c->regs[i->rm & 15];
        cpu_write_cr0(c, (c->cr0 & ~0xfull) | (v & 0xf) | (c->cr0 & CR0_PE));
        return;
    }
    case 7:
        if (rm == 0) { /* SWAPGS (SDM Vol 2B) */
            if (c->mode != MODE_LONG)
                cpu_raise(c, EXC_UD, CPU_NOERR);
            need_cpl0(c);
            uint64_t t = c->seg[S_GS].base;
            c->seg[S_GS].base = c->kernel_gs_base;
            c->kernel_gs_base = t;
            return;
        }
        if (rm == 1) { /* RDTSCP */
            if ((c->cr4 & CR4_TSD) && c->cpl > 0)
                cr_gp(c, "RDTSCP with CR4.TSD=1 at CPL > 0");
            uint64_t t = read_tsc(c);
            c->regs[R_RAX] = (uint32_t)t;
            c->regs[R_RDX] = t >> 32;
            c->regs[R_RCX] = (uint32_t)c->tsc_aux;
            return;
        }
        break;
    default:
        break; /* VMX, SVM, XGETBV/XSETBV, PKU: not advertised */
    }
    cpu_raise(c, EXC_UD, CPU_NOERR);
}

/* VERR/VERW (SDM Vol 2B): may the segment be read/written at CPL/RPL? */
static bool verify(struct cpu *c, uint16_t sel, bool write)
{
    struct desc d;
    if ((sel & 0xfffc) == 0 || !desc_fetch(c, sel, &d, false) || !desc_s(&d))
        return false;
    if (desc_is_code(&d)) {
        if (write || !desc_rw(&d))
            return false;
        if (desc_conforming(&d))
            return true;
    } else if (write && !desc_rw(&d)) {
        return false;
    }
    return desc_dpl(&d) >= c->cpl && desc_dpl(&d) >= (sel & 3u);
}

static void load_ldt(struct cpu *c, uint16_t sel)
{
    need_cpl0(c);
    if ((sel & 0xfffc) == 0) {
        c->seg[S_LDTR].sel = sel;
        c->seg[S_LDTR].base = 0;
        c->seg[S_LDTR].limit = 0;
        c->seg[S_LDTR].attr = 0; /* unusable */
        return;
    }
    struct desc d;
    bool lm = cpu_long_mode(c);
    if ((sel & 4) || !desc_fetch(c, sel, &d, lm))
        cpu_raise(c, EXC_GP, sel_err(sel));
    if (desc_s(&d) || desc_type(&d) != DT_LDT)
        cpu_raise(c, EXC_GP, sel_err(sel)); /* "#GP(sel) if not an LDT descriptor" */
    if (!desc_p(&d))
        cpu_raise(c, EXC_NP, sel_err(sel));
    if (lm && !is_canonical(desc_base(&d) | (uint64_t)d.hi2 << 32))
        cpu_raise(c, EXC_GP, sel_err(sel));
    seg_load_desc(c, S_LDTR, sel, &d);
}

static void load_tr(struct cpu *c, uint16_t sel)
{
    need_cpl0(c);
    if ((sel & 0xfffc) == 0)
        cpu_raise(c, EXC_GP, 0);
    struct desc d;
    bool lm = cpu_long_mode(c);
    if ((sel & 4) || !desc_fetch(c, sel, &d, lm))
        cpu_raise(c, EXC_GP, sel_err(sel));
    unsigned t = desc_type(&d);
    if (desc_s(&d) || (t != DT_TSS32_AVAIL && (lm || t != DT_TSS16_AVAIL)))
        cpu_raise(c, EXC_GP, sel_err(sel)); /* "#GP(sel) if not an available TSS" */
    if (!desc_p(&d))
        cpu_raise(c, EXC_NP, sel_err(sel));
    if (lm && !is_canonical(desc_base(&d) | (uint64_t)d.hi2 << 32))
        cpu_raise(c, EXC_GP, sel_err(sel));
    desc_set_bits(c, sel, 2); /* mark busy */
    d.hi |= 2u << 8;
    seg_load_desc(c, S_TR, sel, &d);
}

void op_grp6(struct cpu *c, const struct insn *i)
{
    if (c->mode == MODE_REAL || c->mode == MODE_V86)
        cpu_raise(c, EXC_UD, CPU_NOERR); /* "#UD in real-address mode" */
    unsigned r = i->reg & 7;
    switch (r) {
    case 0: /* SLDT */
    case 1: /* STR */
        umip_check(c);
        if (i->mod == 3)
            sys_reg_set(c, i->rm, i->opsize, c->seg[r == 0 ? S_LDTR : S_TR].sel);
        else
            mem_write16(c, i->seg, insn_ea(c, i), c->seg[r == 0 ? S_LDTR : S_TR].sel);
        return;
    case 2:
        load_ldt(c, (uint16_t)sys_rm_get(c, i, 2));
        return;
    case 3:
        load_tr(c, (uint16_t)sys_rm_get(c, i, 2));
        return;
    case 4:
    case 5:
        sys_set_zf(c, verify(c, (uint16_t)sys_rm_get(c, i, 2), r == 5));
        return;
    default:
        cpu_raise(c, EXC_UD, CPU_NOERR);
    }
}

/* LAR/LSL (SDM Vol 2A): which descriptor types are visible. */
static bool lar_lsl_ok(struct cpu *c, uint16_t sel, bool lsl, struct desc *d)
{
    if ((sel & 0xfffc) == 0 || !desc_fetch(c, sel, d, false))
        return false;
    if (desc_s(d)) {
        if (desc_is_code(d) && desc_conforming(d))
            return true;
    } else {
        unsigned t = desc_type(d);
        bool lm = cpu_long_mode(c);
        unsigned ok_lar = lm ? (1u << 2 | 1u << 9 | 1u << 11 | 1u << 12)
                             : (1u << 1 | 1u << 2 | 1u << 3 | 1u << 4 | 1u << 5 |
                                1u << 9 | 1u << 11 | 1u << 12);
        unsigned ok_lsl = lm ? (1u << 2 | 1u << 9 | 1u << 11)
                             : (1u << 1 | 1u << 2 | 1u << 3 | 1u << 9 | 1u << 11);
        if (!((lsl ? ok_lsl : ok_lar) >> t & 1))
            return false;
    }
    return desc_dpl(d) >= c->cpl && desc_dpl(d) >= (sel & 3u);
}

void op_lar(struct cpu *c, const struct insn *i)
{
    if (c->mode == MODE_REAL || c->mode == MODE_V86)
        cpu_raise(c, EXC_UD, CPU_NOERR);
    struct desc d;
    bool ok = lar_lsl_ok(c, (uint16_t)sys_rm_get(c, i, 2), false, &d);
    if (ok)
        sys_reg_set(c, i->reg, i->opsize,
                    i->opsize == 2 ? (d.hi & 0xff00) : (d.hi & 0x00ffff00));
    sys_set_zf(c, ok);
}

void op_lsl(struct cpu *c, const struct insn *i)
{
    if (c->mode == MODE_REAL || c->mode == MODE_V86)
        cpu_raise(c, EXC_UD, CPU_NOERR);
    struct desc d;
    bool ok = lar_lsl_ok(c, (uint16_t)sys_rm_get(c, i, 2), true, &d);
    if (ok)
        sys_reg_set(c, i->reg, i->opsize, desc_limit(&d));
    sys_set_zf(c, ok);
}

/* ---- Misc privileged instructions ---- */

void op_invd(struct cpu *c, const struct insn *i)
{
    (void)i;
    need_cpl0(c); /* INVD/WBINVD: no caches to flush */
}

void op_rdtsc(struct cpu *c, const struct insn *i)
{
    (void)i;
    if ((c->cr4 & CR4_TSD) && c->cpl > 0)
        cr_gp(c, "RDTSC with CR4.TSD=1 at CPL > 0");
    uint64_t t = read_tsc(c);
    c->regs[R_RAX] = (uint32_t)t;
    c->regs[R_RDX] = t >> 32;
}

void op_rdpmc(struct cpu *c, const struct insn *i)
{
    (void)i;
    cr_gp(c, "RDPMC: no performance counters");
}

void op_hlt(struct cpu *c, const struct insn *i)
{
    (void)i;
    need_cpl0(c);
    c->halted = true;
}

void op_rsm(struct cpu *c, const struct insn *i)
{
    (void)i;
    if (!c->in_smm)
        cpu_raise(c, EXC_UD, CPU_NOERR);
    if (!smm_rsm(c))
        c->shutdown = true; /* invalid saved state: shutdown (SDM RSM) */
}

/* ---- EFLAGS.IF and PUSHF/POPF (SDM Vol 2B) ---- */

void op_cli(struct cpu *c, const struct insn *i)
{
    (void)i;
    if (c->mode != MODE_REAL && c->cpl > cpu_iopl(c))
        cr_gp(c, "CLI with CPL > IOPL");
    c->eflags &= ~F_IF;
}

void op_sti(struct cpu *c, const struct insn *i)
{
    (void)i;
    if (c->mode != MODE_REAL && c->cpl > cpu_iopl(c))
        cr_gp(c, "STI with CPL > IOPL");
    if (!(c->eflags & F_IF)) {
        c->eflags |= F_IF;
        c->intr_shadow = true; /* SDM STI: blocks interrupts for one insn */
    }
}

void op_pushf(struct cpu *c, const struct insn *i)
{
    if (c->mode == MODE_V86)
        cpu_raise(c, EXC_GP, 0);
    /* VM and RF read as 0 in the pushed image */
    cpu_push(c, cpu_get_eflags(c) & ~(F_VM | F_RF), i->opsize);
}

void op_popf(struct cpu *c, const struct insn *i)
{
    if (c->mode == MODE_V86)
        cpu_raise(c, EXC_GP, 0);
    uint32_t v = (uint32_t)cpu_pop(c, i->opsize);
    uint32_t wm = eflags_writable(c, i->opsize);
    /* IOPL only at CPL 0, IF only at CPL <= IOPL; VM/VIP/VIF unchanged;
     * RF cleared. No fault for the bits that may not change. */
    cpu_set_eflags(c, ((cpu_get_eflags(c) & ~wm & ~F_RF) | (v & wm)) | 2);
    cpu_update_mode(c);
}
