/* except.c: exception and interrupt delivery (SDM Vol 3A ch. 6, AMD APM
 * Vol 2 ch. 8): real-mode IVT, protected-mode IDT (interrupt/trap/task
 * gates, 16- and 32-bit), IA-32e IDT (64-bit gates, IST), #DF and triple
 * fault, and the event check the run loop makes between blocks. */
#include <string.h>

#include "sys.h"
#include "sysops.h"

_Noreturn void cpu_raise(struct cpu *c, int vec, int32_t err)
{
    c->fault_vec = vec;
    c->fault_err = err;
    CPU_LONGJMP(*c->fault_jmp);
}

_Noreturn void sys_fault(struct cpu *c, int vec, int32_t err, const char *rule)
{
    static const char names[][4] = {"DE", "DB", "NMI", "BP", "OF", "BR", "UD", "NM",
                                    "DF", "09", "TS", "NP", "SS", "GP", "PF"};
    if (log_on(c->log, LOG_GUEST_ERROR))
        log_printf(c->log, "#%s(0x%04x): %s\n", vec < 15 ? names[vec] : "??",
                   (unsigned)err & 0xffff, rule);
    cpu_raise(c, vec, err);
}

/* SDM Vol 3A table 6-4: #DE, #TS, #NP, #SS, #GP are contributory. */
static bool contributory(int v)
{
    return v == EXC_DE || (v >= EXC_TS && v <= EXC_GP);
}

static bool is_soft(int kind)
{
    return kind == EV_SOFT || kind == EV_SOFT_EXC;
}

/* One line per event, QEMU's -d int format (target/i386/tcg/seg_helper.c),
 * printed in protected mode only, as QEMU does. */
static void log_event(struct cpu *c, int vec, int32_t err, int kind)
{
    if (!log_on(c->log, LOG_INT) || !(c->cr0 & CR0_PE))
        return;
    char tail[64];
    if (vec == EXC_PF)
        snprintf(tail, sizeof tail, " CR2=%016llx", (unsigned long long)c->cr2);
    else
        snprintf(tail, sizeof tail, " env->regs[R_EAX]=%016llx",
                 (unsigned long long)c->regs[R_RAX]);
    log_printf(c->log,
               "%6u: v=%02x e=%04x i=%d cpl=%u IP=%04x:%016llx pc=%016llx "
               "SP=%04x:%016llx%s\n",
               c->log_int_seq++, vec & 0xff,
               (kind == EV_EXC && err != CPU_NOERR) ? (unsigned)err & 0xffff : 0,
               is_soft(kind) || kind == EV_INT1, c->cpl, c->seg[S_CS].sel,
               (unsigned long long)c->rip,
               (unsigned long long)(c->seg[S_CS].base + c->rip),
               c->seg[S_SS].sel, (unsigned long long)c->regs[R_RSP], tail);
}

/* Flags every gate clears (SDM Vol 3A 6.12.1.3). */
static void enter_handler_flags(struct cpu *c, uint32_t fl, bool int_gate)
{
    fl &= ~(F_TF | F_NT | F_RF | F_VM);
    if (int_gate)
        fl &= ~F_IF;
    cpu_set_eflags(c, fl | 2);
}

static void deliver_real(struct cpu *c, int vec, uint64_t ret)
{
    /* SDM Vol 3A 20.1.4: the IVT is 4-byte entries at IDTR.base. */
    if ((uint32_t)vec * 4 + 3 > c->idtr.limit)
        cpu_raise(c, EXC_GP, vec * 8 + 2);
    uint32_t v = (uint32_t)lin_read_sys(c, c->idtr.base + (uint32_t)vec * 4, 4);
    uint32_t fl = cpu_get_eflags(c);
    uint64_t m = mmu_sp_mask(c);
    uint64_t sp = c->regs[R_RSP];
    uint64_t f[3] = {fl & 0xffff, c->seg[S_CS].sel, ret & 0xffff};
    for (int k = 0; k < 3; k++) {
        sp = (sp - 2) & m;
        mem_write16(c, S_SS, sp, (uint16_t)f[k]);
    }
    c->regs[R_RSP] = (c->regs[R_RSP] & ~m) | sp;
    cpu_set_eflags(c, (fl & ~(F_IF | F_TF | F_AC | F_RF)) | 2);
    seg_load_real(c, S_CS, (uint16_t)(v >> 16));
    c->rip = c->next_rip = v & 0xffff;
    cpu_update_mode(c);
}

/* Checks shared by both IDT formats: gate type, DPL for software
 * interrupts, present. Returns the gate's type. */
static inline __attribute__((always_inline)) unsigned
check_gate(struct cpu *c, const struct desc *g, int vec, int kind, bool lm)
{
    int ext = is_soft(kind) ? 0 : 1;
    int32_t ierr = vec * 8 + 2 + ext; /* IDT bit | EXT (SDM 6.13) */
    unsigned t = desc_type(g);
    bool ok = !desc_s(g) &&
              (lm ? (t == DT_INT32 || t == DT_TRAP32)
                  : (t == DT_TASK || t == DT_INT16 || t == DT_TRAP16 ||
                     t == DT_INT32 || t == DT_TRAP32));
    if (!ok)
        sys_fault(c, EXC_GP, ierr, "IDT entry is not an interrupt, trap or task gate");
    if (is_soft(kind) && desc_dpl(g) < c->cpl)
        sys_fault(c, EXC_GP, ierr, "INT n/INT3/INTO: gate DPL < CPL");
    if (!desc_p(g))
        sys_fault(c, EXC_NP, ierr, "IDT gate not present");
    return t;
}

/* The handler's code segment (SDM Vol 3A 6.12.1.1). */
static inline __attribute__((always_inline)) void
check_handler_cs(struct cpu *c, uint16_t sel, struct desc *d, int ext, bool lm)
{
    if ((sel & 0xfffc) == 0)
        sys_fault(c, EXC_GP, ext, "interrupt gate selects the null selector");
    if (!desc_fetch(c, sel, d, false))
        sys_fault(c, EXC_GP, sel_err(sel) | ext, "handler CS beyond the descriptor table limit");
    if (!desc_is_code(d) || desc_dpl(d) > c->cpl)
        sys_fault(c, EXC_GP, sel_err(sel) | ext, "handler CS is not code or its DPL > CPL");
    if (lm && (!desc_l(d) || desc_db(d)))
        sys_fault(c, EXC_GP, sel_err(sel) | ext, "64-bit IDT gate to a non-64-bit code segment");
    if (!desc_p(d))
        sys_fault(c, EXC_NP, sel_err(sel) | ext, "handler CS not present");
}

static inline __attribute__((always_inline)) void
load_handler_cs(struct cpu *c, uint16_t sel, struct desc *d, unsigned cpl)
{
    if (!(d->hi & 0x100)) {
        desc_set_bits(c, sel, 1);
        d->hi |= 0x100;
    }
    seg_load_desc(c, S_CS, (uint16_t)((sel & 0xfffc) | cpl), d);
}

static void deliver_prot(struct cpu *c, int vec, int32_t err, int kind,
                         uint64_t ret)
{
    int ext = is_soft(kind) ? 0 : 1;
    if ((uint32_t)vec * 8 + 7 > c->idtr.limit)
        sys_fault(c, EXC_GP, vec * 8 + 2 + ext, "vector beyond the IDT limit");
    uint64_t q = lin_read_sys(c, (uint32_t)(c->idtr.base + (uint32_t)vec * 8), 8);
    struct desc g = {(uint32_t)q, (uint32_t)(q >> 32), 0, 0};
    unsigned t = check_gate(c, &g, vec, kind, false);
    bool push_err = kind == EV_EXC && err != CPU_NOERR;

    if (t == DT_TASK) {
        uint16_t tss = gate_sel(&g);
        struct desc d;
        if ((tss & 4) || !desc_fetch(c, tss, &d, false))
            cpu_raise(c, EXC_TS, sel_err(tss) | ext);
        unsigned tt = desc_type(&d);
        if (desc_s(&d) || (tt != DT_TSS16_AVAIL && tt != DT_TSS32_AVAIL))
            cpu_raise(c, EXC_TS, sel_err(tss) | ext);
        if (!desc_p(&d))
            cpu_raise(c, EXC_NP, sel_err(tss) | ext);
        task_switch(c, tss, &d, TS_INT, push_err ? err : CPU_NOERR, ret);
        c->rip = c->next_rip;
        return;
    }

    uint16_t sel = gate_sel(&g);
    struct desc d;
    check_handler_cs(c, sel, &d, ext, false);
    int gsz = (t & 8) ? 4 : 2;
    uint32_t off = gsz == 4 ? gate_off32(&g) : (g.lo & 0xffff);
    if (off > desc_limit(&d))
        cpu_raise(c, EXC_GP, ext);
    unsigned dpl = desc_dpl(&d), cpl = c->cpl;
    uint32_t fl = cpu_get_eflags(c);
    uint64_t f[6];
    int n = 0;

    if (!desc_conforming(&d) && dpl < cpl) {
        /* Inner privilege: new stack from the TSS (SDM 6.12.1, fig. 6-4). */
        uint16_t nss;
        uint32_t nsp;
        struct desc sd;
        tss_legacy_stack(c, dpl, &nss, &nsp, ext);
        check_inner_ss(c, nss, dpl, ext, &sd);
        struct seg ns = {nss, desc_attr(&sd), desc_limit(&sd), desc_base(&sd)};
        f[n++] = c->seg[S_SS].sel;
        f[n++] = c->regs[R_RSP];
        f[n++] = fl;
        f[n++] = c->seg[S_CS].sel;
        f[n++] = ret;
        if (push_err)
            f[n++] = (uint32_t)err;
        uint64_t sp = nsp;
        for (int k = 0; k < n; k++) {
            sp -= (uint64_t)gsz;
            stack_write_sys(c, &ns, sp, gsz, f[k], ext);
        }
        if (!(sd.hi & 0x100)) {
            desc_set_bits(c, nss, 1);
            sd.hi |= 0x100;
        }
        load_handler_cs(c, sel, &d, dpl);
        seg_load_desc(c, S_SS, nss, &sd);
        if (sd.hi & (1u << 22))
            c->regs[R_RSP] = (uint32_t)sp;
        else
            c->regs[R_RSP] = (c->regs[R_RSP] & ~0xffffull) | (sp & 0xffff);
    } else {
        /* Same privilege (or conforming): current stack. */
        f[n++] = fl;
        f[n++] = c->seg[S_CS].sel;
        f[n++] = ret;
        if (push_err)
            f[n++] = (uint32_t)err;
        uint64_t m = mmu_sp_mask(c);
        uint64_t sp = c->regs[R_RSP];
        for (int k = 0; k < n; k++) {
            sp = (sp - (uint64_t)gsz) & m;
            mem_write(c, S_SS, sp, gsz, f[k]);
        }
        load_handler_cs(c, sel, &d, cpl);
        c->regs[R_RSP] = (c->regs[R_RSP] & ~m) | sp;
    }
    enter_handler_flags(c, fl, t == DT_INT16 || t == DT_INT32);
    c->rip = c->next_rip = off;
    cpu_update_mode(c);
}

/* Fast path for an IA-32e system access (lin_read_sys/lin_write_sys) of
 * size bytes that lies in one page with a TLB hit: the host pointer, else
 * NULL. A hit means each 8-byte piece would hit too and nothing can fault
 * (an entry exists only if the access is allowed; write entries only for
 * dirty pages without decoded code), so one lookup gives the same result
 * as piecewise accesses. The range must be canonical (SDM 3.3.7.1). */
static inline uint8_t *sys_tlb_span(struct cpu *c, int kind, uint64_t lin,
                                    int size)
{
    if (lin + (1ull << 47) > (1ull << 48) - (uint64_t)size)
        return NULL;
    return mmu_tlb_hit(c, kind, TLB_CTX_SUP, lin, size);
}

static void deliver_long(struct cpu *c, int vec, int32_t err, int kind,
                         uint64_t ret)
{
    int ext = is_soft(kind) ? 0 : 1;
    if ((uint32_t)vec * 16 + 15 > c->idtr.limit)
        sys_fault(c, EXC_GP, vec * 8 + 2 + ext, "vector beyond the IDT limit");
    uint64_t a = c->idtr.base + (uint64_t)vec * 16;
    uint64_t q0, q1;
    const uint8_t *gp = sys_tlb_span(c, TLB_READ, a, 16);
    if (gp) {
        memcpy(&q0, gp, 8);
        memcpy(&q1, gp + 8, 8);
    } else {
        q0 = lin_read_sys(c, a, 8);
        q1 = lin_read_sys(c, a + 8, 8);
    }
    struct desc g = {(uint32_t)q0, (uint32_t)(q0 >> 32), (uint32_t)q1,
                     (uint32_t)(q1 >> 32)};
    unsigned t = check_gate(c, &g, vec, kind, true);
    uint16_t sel = gate_sel(&g);
    struct desc d;
    check_handler_cs(c, sel, &d, ext, true);
    uint64_t off = gate_off32(&g) | (uint64_t)g.hi2 << 32;
    if (!is_canonical(off))
        cpu_raise(c, EXC_GP, ext);

    unsigned dpl = desc_dpl(&d), cpl = c->cpl, ncpl = cpl;
    unsigned ist = g.hi & 7;
    uint64_t rsp = c->regs[R_RSP];
    if (!desc_conforming(&d) && dpl < cpl) {
        ncpl = dpl;
        rsp = tss64_stack(c, ist ? 3 + ist : dpl, ext);
    } else if (ist) {
        rsp = tss64_stack(c, 3 + ist, ext);
    }
    rsp &= ~0xfull; /* SDM 6.14.2: the frame is 16-byte aligned */
    uint32_t fl = cpu_get_eflags(c);
    uint64_t f[6] = {c->seg[S_SS].sel, c->regs[R_RSP], fl, c->seg[S_CS].sel,
                     ret, (uint32_t)err};
    int n = (kind == EV_EXC && err != CPU_NOERR) ? 6 : 5;
    if (!is_canonical(rsp - 8ull * n) || !is_canonical(rsp - 1))
        cpu_raise(c, EXC_SS, ext);
    uint8_t *fp = ncpl < 3 ? sys_tlb_span(c, TLB_WRITE, rsp - 8ull * n, 8 * n)
                           : NULL;
    if (fp) {
        /* f[0] (SS) lands highest: fp + 8 * (n - 1 - k) */
        uint8_t *top = fp + 8 * (n - 5);
        if (n == 6)
            memcpy(fp, &f[5], 8);
        memcpy(top, &f[4], 8);
        memcpy(top + 8, &f[3], 8);
        memcpy(top + 16, &f[2], 8);
        memcpy(top + 24, &f[1], 8);
        memcpy(top + 32, &f[0], 8);
    } else {
        for (int k = 0; k < n; k++) {
            uint64_t la = rsp - 8ull * (k + 1);
            if (ncpl < 3)
                lin_write_sys(c, la, 8, f[k]);
            else
                mem_write64(c, S_SS, la, f[k]); /* CPL3 -> CPL3: user access */
        }
    }
    load_handler_cs(c, sel, &d, ncpl);
    if (ncpl != cpl)
        seg_load_null(c, S_SS, (uint16_t)ncpl); /* SS = NULL, RPL = new CPL */
    c->regs[R_RSP] = rsp - 8ull * n;
    enter_handler_flags(c, fl, t == DT_INT32); /* clears VM */
    c->rip = c->next_rip = off;
    cpu_mode_long64(c); /* LMA=1 and the new CS is 64-bit (checked above) */
}

/* Not inlined into deliver_event(): the setjmp there makes the compiler
 * keep every value of its frame in memory. */
static __attribute__((noinline)) void deliver_one(struct cpu *c, int vec,
                                                  int32_t err, int kind)
{
    uint64_t ret = (is_soft(kind) || kind == EV_INT1) ? c->next_rip : c->rip;
    log_event(c, vec, err, kind);
    c->halted = false;
    c->intr_shadow = false;
    if (c->mode == MODE_REAL)
        deliver_real(c, vec, ret);
    else if (cpu_long_mode(c))
        deliver_long(c, vec, err, kind, ret);
    else if (c->mode == MODE_V86)
        cpu_raise(c, EXC_GP, 0); /* V86 is not supported */
    else
        deliver_prot(c, vec, err, kind, ret);
}

/* Deliver one event; a fault during delivery becomes the next event,
 * combined per SDM Vol 3A table 6-5 into #DF, and a fault while
 * delivering #DF shuts the CPU down (triple fault). Catches its own
 * faults, so it works from cpu_run's fault path and from handlers. */
void deliver_event(struct cpu *c, int vec, int32_t err, int kind)
{
    cpu_jmp_buf jb, *const outer = c->fault_jmp;
    c->fault_jmp = &jb;
    volatile int v = vec, k = kind;
    volatile int32_t e = err;
    volatile int old = -1; /* QEMU's old_exception: contributory/#PF/#DF */

    if (k == EV_EXC && log_on(c->log, LOG_INT))
        log_printf(c->log, "check_exception old: 0x%x new 0x%x\n", -1, v);
    for (;;) {
        if (CPU_SETJMP(jb) == 0) {
            c->delivering = v;
            deliver_one(c, v, e, k);
            break;
        }
        int nv = c->fault_vec;
        int32_t ne = c->fault_err;
        c->fault_vec = -1;
        if (k == EV_EXC && (contributory(v) || v == EXC_PF || v == EXC_DF))
            old = v;
        else
            old = -1;
        if (log_on(c->log, LOG_INT))
            log_printf(c->log, "check_exception old: 0x%x new 0x%x\n", old, nv);
        if (old == EXC_DF) {
            /* SDM 6.15 "Interrupt 8": a fault delivering #DF is shutdown */
            if (log_on(c->log, LOG_CPU_RESET))
                log_printf(c->log, "Triple fault\n");
            c->shutdown = true;
            break;
        }
        if ((contributory(old) && contributory(nv)) ||
            (old == EXC_PF && (contributory(nv) || nv == EXC_PF))) {
            nv = EXC_DF;
            ne = 0;
        }
        v = nv;
        e = ne;
        k = EV_EXC;
    }
    c->delivering = -1;
    c->fault_jmp = outer;
}

void cpu_deliver_pending(struct cpu *c)
{
    int vec = c->fault_vec;
    int32_t err = c->fault_err;
    c->fault_vec = -1;
    if (vec < 0)
        return;
    /* A handler that faults on its first instruction loops forever (as on
     * hardware) without retiring anything: back-to-back faults each use
     * up one slot of the budget so cpu_run() still returns to the host. */
    if (c->icount == c->fault_icount)
        c->icount++;
    c->fault_icount = c->icount;
    deliver_event(c, vec, err, EV_EXC);
}

void cpu_deliver_external(struct cpu *c, int vec)
{
    deliver_event(c, vec & 0xff, CPU_NOERR, EV_EXT);
}

void cpu_deliver_soft(struct cpu *c, int vec, bool is_int3_or_into)
{
    deliver_event(c, vec & 0xff, CPU_NOERR,
                  is_int3_or_into ? EV_SOFT_EXC : EV_SOFT);
}

void cpu_check_interrupts(struct cpu *c)
{
    void *opaque = c->bus ? c->bus->opaque : NULL;

    if (c->intr_shadow)
        return;
    if (c->smi_pending && !c->in_smm) {
        c->halted = false;
        smm_enter(c);
        return;
    }
    if (c->nmi_pending && !c->nmi_blocked) {
        /* NMIs stay blocked until the next IRET (SDM 6.7.1). */
        c->nmi_pending = false;
        c->nmi_blocked = true;
        deliver_event(c, EXC_NMI, CPU_NOERR, EV_NMI);
        return;
    }
    if ((c->eflags & F_IF) && c->irq_pending) {
        int v = c->irq_pending(opaque, c);
        if (v >= 0) {
            if (c->irq_ack)
                c->irq_ack(opaque, c, v);
            deliver_event(c, v & 0xff, CPU_NOERR, EV_EXT);
        }
    }
}

/* ---- Software interrupts and HLT ---- */

void op_int_imm(struct cpu *c, const struct insn *i)
{
    cpu_deliver_soft(c, (int)(i->imm & 0xff), false);
}

void op_int3(struct cpu *c, const struct insn *i)
{
    (void)i;
    cpu_deliver_soft(c, EXC_BP, true);
}

void op_into(struct cpu *c, const struct insn *i)
{
    (void)i;
    if (c->mode == MODE_LONG)
        cpu_raise(c, EXC_UD, CPU_NOERR);
    if (cpu_get_eflags(c) & F_OF)
        cpu_deliver_soft(c, EXC_OF, true);
}

void op_int1(struct cpu *c, const struct insn *i)
{
    (void)i;
    deliver_event(c, EXC_DB, CPU_NOERR, EV_INT1);
}
