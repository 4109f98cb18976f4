/* smp.c: see smp.h. IPI semantics from SDM Vol 3A 10.6 (ICR, destination
 * modes, shorthands), 10.4.7.3 (INIT) and 8.4.4 (the MP initialization
 * protocol). */
#include "machine.h"
#include "smp.h"

#include <string.h>

uint64_t smp_now(const struct machine *m)
{
    uint64_t t = m->vclock;
    if (m->cur_cpu >= 0 && m->cur_cpu < m->ncpus && m->cpus[m->cur_cpu])
        t += m->cpus[m->cur_cpu]->icount - m->slice_start;
    return t;
}

static uint64_t host_now(void *opaque)
{
    return smp_now(opaque);
}

/* Deliver one IPI message to vCPU i. */
static void deliver(struct machine *m, int i, unsigned dm, int vec,
                    bool level)
{
    struct lapic *a = &m->lapic[i];
    struct cpu *c = m->cpus[i];
    if (!c)
        return;
    switch (dm) {
    case DM_FIXED:
    case DM_LOWEST:
        /* A CPU waiting for SIPI takes nothing else (SDM 8.4.1). */
        if (a->run_state == LAPIC_RUN)
            lapic_accept(a, vec, level);
        break;
    case DM_NMI:
        if (a->run_state == LAPIC_RUN)
            c->nmi_pending = true;
        break;
    case DM_SMI:
        if (a->run_state == LAPIC_RUN)
            c->smi_pending = true;
        break;
    case DM_INIT:
        /* Latched; a newer INIT cancels an unprocessed SIPI. */
        a->init_pending = true;
        a->sipi_pending = -1;
        c->exit_request = 1; /* if it is the sender: stop after this insn */
        break;
    case DM_SIPI:
        /* Only a CPU in (or entering) wait-for-SIPI takes it, and only the
         * first: the protocol's second SIPI is ignored once one is
         * latched or the CPU runs (SDM 8.4.4.1). */
        if ((a->run_state == LAPIC_WAIT_SIPI || a->init_pending) &&
            a->sipi_pending < 0)
            a->sipi_pending = (int16_t)vec;
        break;
    default: /* ExtINT and reserved modes: nothing */
        break;
    }
}

/* Lowest-priority delivery (SDM 10.6.2.4): of the matching running
 * vCPUs, the one with the lowest TPR; ties go to the lowest index. */
static int pick_lowest(struct machine *m, int best, int i)
{
    if (m->lapic[i].run_state != LAPIC_RUN)
        return best;
    if (best < 0 || (m->lapic[i].tpr & 0xff) < (m->lapic[best].tpr & 0xff))
        return i;
    return best;
}

static void send_ipi(void *opaque, struct lapic *src, uint32_t lo,
                     uint32_t hi)
{
    struct machine *m = opaque;
    int self = (int)(src - m->lapic);
    unsigned dm = (lo & ICR_DM_MASK) >> ICR_DM_SHIFT;
    unsigned sh = (lo & ICR_SH_MASK) >> ICR_SH_SHIFT;
    int vec = (int)(lo & ICR_VECTOR);
    bool logical = (lo & ICR_DESTMODE) != 0;
    /* xAPIC: destination in ICR bits 63:56; x2APIC: 63:32 (10.12.9). */
    bool x2 = src->x2apic;
    uint32_t dest = x2 ? hi : hi >> 24;

    if (self < 0 || self >= m->ncpus)
        return;
    /* INIT level de-assert: only synchronises arbitration IDs; no effect
     * on P6 and later (SDM 10.6.1). */
    if (dm == DM_INIT && !(lo & ICR_LEVEL) && (lo & ICR_TRIGGER))
        return;
    if ((dm == DM_FIXED || dm == DM_LOWEST) && vec < 16) {
        src->esr_pending |= ESR_SEND_ILLEGAL;
        return;
    }
    /* The self shorthand is for fixed interrupts only (SDM table 10-3);
     * lowest priority with all-including-self is invalid too. */
    if (sh == SH_SELF && dm != DM_FIXED)
        return;
    bool lvl = (lo & ICR_TRIGGER) != 0;
    int lowest = -1;
    for (int i = 0; i < m->ncpus; i++) {
        bool hit;
        switch (sh) {
        case SH_SELF: hit = i == self; break;
        case SH_ALL: hit = true; break;
        case SH_OTHERS: hit = i != self; break;
        default:
            hit = x2 ? lapic_match_dest_x2(&m->lapic[i], dest, logical)
                     : lapic_match_dest(&m->lapic[i], (uint8_t)dest, logical);
            break;
        }
        if (!hit)
            continue;
        if (dm == DM_LOWEST) {
            lowest = pick_lowest(m, lowest, i);
            continue;
        }
        deliver(m, i, dm, vec, lvl);
    }
    if (lowest >= 0)
        deliver(m, lowest, dm, vec, lvl);
}

/* The 8259 pair's INTR reaches the BSP while its APIC is globally
 * disabled or its LINT0 is unmasked in ExtINT mode (SDM 10.5.1; as QEMU's
 * apic_accept_pic_intr). */
static bool pic_accepted(struct machine *m)
{
    struct cpu *c = m->cpus[0];
    uint32_t lvt0 = m->lapic[0].lvt[LVT_LINT0];
    if (!(c->apic_base & APIC_BASE_ENABLE))
        return true;
    return !(lvt0 & LVT_MASKED) && ((lvt0 >> 8) & 7) == DM_EXTINT;
}

/* The master's request, with the slave cascaded on IR2. */
static int pic_pending_irq(struct machine *m)
{
    if (pic8259_pending(&m->pic[1]) >= 0)
        m->pic[0].irr |= 1u << 2;
    else
        m->pic[0].irr &= (uint8_t)~(1u << 2);
    return pic8259_pending(&m->pic[0]);
}

static int pic_ack(struct machine *m)
{
    int irq = pic_pending_irq(m);
    if (irq < 0)
        return -1;
    if (irq == 2) {
        int s = pic8259_pending(&m->pic[1]);
        pic8259_ack(&m->pic[0], 2);
        return pic8259_ack(&m->pic[1], s < 0 ? 7 : s);
    }
    return pic8259_ack(&m->pic[0], irq);
}

bool smp_irq0_routed(struct machine *m)
{
    if (!(m->ioapic.rte[2] & IOAPIC_RTE_MASKED))
        return true;
    return pic_accepted(m) && !(m->pic[0].imr & 1);
}

static int irq_pending(void *opaque, struct cpu *c)
{
    struct machine *m = opaque;
    if (c->cpu_index < 0 || c->cpu_index >= m->ncpus)
        return -1;
    int v = lapic_pending(&m->lapic[c->cpu_index]);
    m->pic_offered = false;
    int irq;
    if (v < 0 && c->cpu_index == 0 && pic_accepted(m) &&
        (irq = pic_pending_irq(m)) >= 0) {
        m->pic_offered = true;
        if (irq == 2) {
            int sl = pic8259_pending(&m->pic[1]);
            return m->pic[1].vector_base + (sl < 0 ? 7 : sl);
        }
        return m->pic[0].vector_base + irq;
    }
    return v;
}

static void irq_ack(void *opaque, struct cpu *c, int vec)
{
    (void)vec;
    struct machine *m = opaque;
    if (c->cpu_index < 0 || c->cpu_index >= m->ncpus)
        return;
    if (c->cpu_index == 0 && m->pic_offered) {
        m->pic_offered = false;
        pic_ack(m);
        return;
    }
    lapic_ack(&m->lapic[c->cpu_index], vec);
}

/* An I/O APIC message: the same routing as an IPI without shorthand. */
static void ioapic_deliver(void *opaque, uint8_t dest, bool logical,
                           unsigned dm, int vec, bool level)
{
    struct machine *m = opaque;
    if ((dm == DM_FIXED || dm == DM_LOWEST) && vec < 16)
        return;
    int lowest = -1;
    for (int i = 0; i < m->ncpus; i++) {
        if (!lapic_match_dest(&m->lapic[i], dest, logical))
            continue;
        if (dm == DM_LOWEST)
            lowest = pick_lowest(m, lowest, i);
        else
            deliver(m, i, dm, vec, level);
    }
    if (lowest >= 0)
        deliver(m, lowest, dm, vec, level);
}

static void lapic_eoi(void *opaque, int vec)
{
    struct machine *m = opaque;
    ioapic_eoi(&m->ioapic, vec);
}

/* The TSC-deadline timer fired (lapic.c): a vCPU's TSC counts only its
 * own instructions, while the clock also runs while it is halted or
 * waiting its turn. Move its TSC forward to the deadline if it is behind,
 * so the guest always sees TSC >= deadline once the interrupt is there
 * (as on hardware, where the TSC runs during HLT). Never backwards. */
static void tsc_fired(void *opaque, struct lapic *a, uint64_t tsc)
{
    struct machine *m = opaque;
    long i = a - m->lapic;
    if (i < 0 || i >= m->ncpus || !m->cpus[i])
        return;
    struct cpu *c = m->cpus[i];
    uint64_t cur = c->icount + c->tsc_offset;
    if (tsc > cur) /* "TSC >= value" is an unsigned comparison */
        c->tsc_offset += tsc - cur;
}

/* The local APIC's MSRs (cpu_bus.apic_msr, called by msr.c). */
static int apic_msr(void *opaque, struct cpu *c, uint32_t msr, uint64_t *val,
                    bool write)
{
    struct machine *m = opaque;
    if (c->cpu_index < 0 || c->cpu_index >= m->ncpus)
        return -1;
    struct lapic *a = &m->lapic[c->cpu_index];
    if (msr == 0x1b) { /* IA32_APIC_BASE was written: *val is the old one */
        if (write)
            lapic_set_mode(a, *val, c->apic_base);
        return 0;
    }
    if (msr == 0x6e0) { /* IA32_TSC_DEADLINE */
        if (write)
            lapic_tsc_deadline_write(a, *val, c->icount + c->tsc_offset);
        else
            *val = lapic_tsc_deadline_read(a);
        return 0;
    }
    /* 0x800-0x8ff: #GP unless this vCPU's APIC is in x2APIC mode. */
    if (!(c->apic_base & APIC_BASE_ENABLE) || !a->x2apic)
        return -1;
    return write ? lapic_msr_write(a, msr, *val) : lapic_msr_read(a, msr, val);
}

void smp_setup(struct machine *m)
{
    m->lapic_host = (struct lapic_host){
        .opaque = m,
        .send_ipi = send_ipi,
        .now = host_now,
        .eoi = lapic_eoi,
        .tsc_fired = tsc_fired,
    };
    m->ioapic_host = (struct ioapic_host){
        .opaque = m,
        .deliver = ioapic_deliver,
    };
    m->cur_cpu = -1;
}

/* The vCPUs share code_pages (cpu.h): what one caches or overwrites, the
 * others must see (cross-modifying code, SDM Vol 3A 8.1.3). */
static void code_page(void *opaque, struct cpu *c, uint64_t pfn, bool added)
{
    struct machine *m = opaque;
    for (int i = 0; i < m->ncpus; i++) {
        struct cpu *o = m->cpus[i];
        if (!o || o == c)
            continue;
        if (added)
            mmu_code_page_added(o, pfn); /* writes to pfn take the slow path */
        else
            icache_drop_page(o, pfn);
    }
}

void smp_attach_cpu(struct machine *m, struct cpu *c)
{
    if (m->ncpus > 1) {
        m->bus.code_page = code_page;
        c->pause_yields = true;
    }
    m->bus.apic_msr = apic_msr;
    c->irq_pending = irq_pending;
    c->irq_ack = irq_ack;
}

/* INIT keeps what SDM Vol 3A table 9-1 says it keeps (the MTRRs, the
 * TSC, SMBASE, the APIC base) and resets the rest, pins included. */
static void cpu_init_reset(struct machine *m, struct cpu *c)
{
    uint64_t apic_base = c->apic_base, tsc_offset = c->tsc_offset;
    uint64_t pat = c->pat, misc = c->misc_enable, deftype = c->mtrr_def_type;
    uint64_t fixed[11], var[16];
    uint32_t smbase = c->smbase;
    memcpy(fixed, c->mtrr_fixed, sizeof fixed);
    memcpy(var, c->mtrr_var, sizeof var);

    cpu_reset(c); /* crpin_reset(): INIT clears this vCPU's pins */

    c->apic_base = apic_base;
    c->tsc_offset = tsc_offset;
    c->pat = pat;
    c->misc_enable = misc;
    c->mtrr_def_type = deftype;
    memcpy(c->mtrr_fixed, fixed, sizeof fixed);
    memcpy(c->mtrr_var, var, sizeof var);
    c->smbase = smbase;
    c->cr_pin_enabled = m->cfg->cr_pin;
    c->hv_sig_pinvm = m->cfg->pinvm_sig;
}

void smp_apply_init_sipi(struct machine *m, int i)
{
    struct lapic *a = &m->lapic[i];
    struct cpu *c = m->cpus[i];
    if (a->init_pending) {
        int16_t sipi = a->sipi_pending;
        a->init_pending = false;
        if (a->bsp) {
            sysreq_raise(&m->req, SYSREQ_RESET, 0, "INIT IPI to the BSP");
            return;
        }
        if (log_on(&m->log, LOG_CPU_RESET))
            log_printf(&m->log, "CPU INIT (CPU %d)\n", i);
        cpu_init_reset(m, c);
        lapic_init_reset(a); /* -> LAPIC_WAIT_SIPI */
        a->sipi_pending = sipi;
    }
    if (a->sipi_pending >= 0 && a->run_state == LAPIC_WAIT_SIPI) {
        unsigned v = (unsigned)a->sipi_pending & 0xff;
        a->sipi_pending = -1;
        a->run_state = LAPIC_RUN;
        /* SDM 8.4.4.1 / 10.6.1: real mode at 000VV000h. */
        c->seg[S_CS].sel = (uint16_t)(v << 8);
        c->seg[S_CS].base = (uint64_t)v << 12;
        c->seg[S_CS].limit = 0xffff;
        c->rip = 0;
        c->halted = false;
        cpu_state_changed(c);
    }
}

bool smp_cpu_runnable(struct machine *m, int i)
{
    struct cpu *c = m->cpus[i];
    if (m->lapic[i].run_state != LAPIC_RUN || c->shutdown)
        return false;
    if (!c->halted)
        return true;
    if (c->smi_pending && !c->in_smm)
        return true;
    if (c->nmi_pending && !c->nmi_blocked)
        return true;
    return (c->eflags & F_IF) && irq_pending(m, c) >= 0;
}
