/* task.c: the 32-bit hardware task switch (SDM Vol 3A 8.3, "Task
 * Switching"), for JMP/CALL to a TSS or task gate, a task-gate interrupt,
 * and IRET with NT=1. It writes CR0.TS and CR3, so both go through the
 * chokepoints in system.c like every other write.
 *
 * 32-bit TSS layout (SDM figure 8-2), offsets used below:
 *   0x00 previous task link   0x1c CR3      0x20 EIP     0x24 EFLAGS
 *   0x28 EAX ECX EDX EBX ESP EBP ESI EDI (4 bytes each, to 0x44)
 *   0x48 ES CS SS DS FS GS (4 bytes each)   0x60 LDT     0x64 T, 0x66 I/O map
 * 16-bit TSSes (type 1/3) are not supported: #GP(selector). */
#include "sys.h"

#define TSS32_MIN_LIMIT 0x67

static uint32_t rd32(struct cpu *c, uint64_t base, uint32_t off)
{
    return (uint32_t)lin_read_sys(c, (uint32_t)(base + off), 4);
}

static void wr32(struct cpu *c, uint64_t base, uint32_t off, uint32_t v)
{
    lin_write_sys(c, (uint32_t)(base + off), 4, v);
}

/* Load a segment register of the new task; errors are #TS(selector)
 * (SDM 8.3 step 13), raised in the context of the new task. */
static void task_load_seg(struct cpu *c, int s, uint16_t sel)
{
    unsigned cpl = c->cpl, rpl = sel & 3;
    struct desc d;
    if ((sel & 0xfffc) == 0) {
        if (s == S_CS || s == S_SS)
            cpu_raise(c, EXC_TS, sel_err(sel));
        seg_load_null(c, s, sel);
        return;
    }
    if (!desc_fetch(c, sel, &d, false))
        cpu_raise(c, EXC_TS, sel_err(sel));
    unsigned dpl = desc_dpl(&d);
    if (s == S_CS) {
        if (!desc_is_code(&d) || (desc_conforming(&d) ? dpl > rpl : dpl != rpl))
            cpu_raise(c, EXC_TS, sel_err(sel));
        if (!desc_p(&d))
            cpu_raise(c, EXC_NP, sel_err(sel));
    } else if (s == S_SS) {
        if (!desc_is_data(&d) || !desc_rw(&d) || rpl != cpl || dpl != cpl)
            cpu_raise(c, EXC_TS, sel_err(sel));
        if (!desc_p(&d))
            cpu_raise(c, EXC_SS, sel_err(sel));
    } else {
        if (!desc_s(&d) || (desc_is_code(&d) && !desc_rw(&d)))
            cpu_raise(c, EXC_TS, sel_err(sel));
        if ((desc_is_data(&d) || !desc_conforming(&d)) && (dpl < cpl || dpl < rpl))
            cpu_raise(c, EXC_TS, sel_err(sel));
        if (!desc_p(&d))
            cpu_raise(c, EXC_NP, sel_err(sel));
    }
    if (!(d.hi & 0x100)) {
        desc_set_bits(c, sel, 1);
        d.hi |= 0x100;
    }
    seg_load_desc(c, s, sel, &d);
}

void task_switch(struct cpu *c, uint16_t sel, const struct desc *nd, int how,
                 int32_t err, uint64_t ret_eip)
{
    unsigned nt = desc_type(nd) & ~2u; /* available form */
    struct seg *tr = &c->seg[S_TR];
    if (nt != DT_TSS32_AVAIL) {
        if (log_on(c->log, LOG_GUEST_ERROR))
            log_printf(c->log, "task switch: 16-bit TSS 0x%04x is not supported\n", sel);
        cpu_raise(c, EXC_GP, sel_err(sel));
    }
    uint64_t nbase = desc_base(nd);
    if (desc_limit(nd) < TSS32_MIN_LIMIT)
        cpu_raise(c, EXC_TS, sel_err(sel)); /* "#TS(sel) if TSS limit < 67H" */
    if (!(tr->attr & SEG_ATTR_P) || (tr->attr & 0xf) != DT_TSS32_BUSY ||
        tr->limit < TSS32_MIN_LIMIT)
        cpu_raise(c, EXC_TS, sel_err(tr->sel)); /* current TSS unusable */

    /* Read the whole new state first: nothing is committed yet. */
    uint32_t n_cr3 = rd32(c, nbase, 0x1c);
    uint32_t n_eip = rd32(c, nbase, 0x20);
    uint32_t n_fl = rd32(c, nbase, 0x24);
    uint32_t n_regs[8];
    for (int r = 0; r < 8; r++)
        n_regs[r] = rd32(c, nbase, 0x28 + 4 * (uint32_t)r);
    uint16_t n_seg[6];
    for (int s = 0; s < 6; s++)
        n_seg[s] = (uint16_t)rd32(c, nbase, 0x48 + 4 * (uint32_t)s);
    uint16_t n_ldt = (uint16_t)rd32(c, nbase, 0x60);

    /* Save the current task (its TSS must hold the dynamic fields). */
    uint64_t obase = tr->base;
    uint32_t o_fl = cpu_get_eflags(c);
    if (how == TS_IRET)
        o_fl &= ~F_NT; /* the returning task is no longer nested */
    wr32(c, obase, 0x20, (uint32_t)ret_eip);
    wr32(c, obase, 0x24, o_fl);
    for (int r = 0; r < 8; r++)
        wr32(c, obase, 0x28 + 4 * (uint32_t)r, (uint32_t)c->regs[r]);
    for (int s = 0; s < 6; s++)
        wr32(c, obase, 0x48 + 4 * (uint32_t)s, c->seg[s].sel);

    /* Busy bits and the back link (SDM 8.3 steps 4, 8, 9). */
    if (how == TS_JMP || how == TS_IRET)
        desc_clear_bits(c, tr->sel, 2);
    if (how == TS_CALL || how == TS_INT) {
        wr32(c, nbase, 0x00, tr->sel);
        n_fl |= F_NT;
    }
    if (how != TS_IRET)
        desc_set_bits(c, sel, 2);

    /* Commit point: from here faults belong to the new task. */
    struct desc busy = *nd;
    busy.hi |= 2u << 8;
    seg_load_desc(c, S_TR, sel, &busy);
    cpu_set_eflags(c, (n_fl & ~F_VM) | 2);
    for (int r = 0; r < 8; r++)
        c->regs[r] = n_regs[r];
    c->rip = c->next_rip = n_eip;
    /* CR0.TS through the chokepoint (SDM 2.5: set on every task switch) */
    cpu_write_cr0(c, c->cr0 | CR0_TS);
    if (c->cr0 & CR0_PG)
        cpu_write_cr3(c, n_cr3);

    /* Selectors first, unusable, so a fault below leaves nothing stale. */
    for (int s = 0; s < 6; s++) {
        c->seg[s].sel = n_seg[s];
        c->seg[s].attr &= (uint16_t)~SEG_ATTR_P;
    }
    c->seg[S_LDTR].sel = n_ldt;
    c->seg[S_LDTR].attr = 0;
    if (n_fl & F_VM)
        cpu_raise(c, EXC_GP, 0); /* virtual-8086 tasks are not supported */
    if (n_ldt & 0xfffc) {
        struct desc ld;
        if ((n_ldt & 4) || !desc_fetch(c, n_ldt, &ld, false) || desc_s(&ld) ||
            desc_type(&ld) != DT_LDT)
            cpu_raise(c, EXC_TS, sel_err(n_ldt));
        if (!desc_p(&ld))
            cpu_raise(c, EXC_TS, sel_err(n_ldt));
        seg_load_desc(c, S_LDTR, n_ldt, &ld);
    }
    c->cpl = n_seg[S_CS] & 3; /* the new CPL, for the checks below */
    task_load_seg(c, S_CS, n_seg[S_CS]);
    task_load_seg(c, S_SS, n_seg[S_SS]);
    static const int data[] = {S_ES, S_DS, S_FS, S_GS};
    for (int k = 0; k < 4; k++)
        task_load_seg(c, data[k], n_seg[data[k]]);
    cpu_update_mode(c);

    if (err != CPU_NOERR) /* task-gate exception with an error code */
        cpu_push(c, (uint32_t)err, 4);
    if (c->next_rip > c->seg[S_CS].limit)
        cpu_raise(c, EXC_GP, 0);
}
