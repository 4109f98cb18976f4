/* smm.c: System Management Mode: SMI entry, RSM. docs/smm.md.
 *
 * SMI entry (AMD APM Vol 2 10.2; SDM Vol 3C 32.5) writes the AMD64
 * state-save map at SMBASE + 0xFE00, in SMRAM (smm_smram.h), and enters
 * the handler at SMBASE + 0x8000 in SMM's real-mode-like state. The
 * handler is guest code run by the interpreter (pinvm ships one:
 * firmware/smm/smi_handler.s). RSM reads the map back, checks it, and
 * restores it through the CR chokepoints.
 *
 * Pinning (docs/cr-pinning.md, decision (c)): while in_smm the chokepoints
 * do not enforce pins, so entry, the handler's own CR writes and RSM's
 * restore all work. RSM then requires every pinned CR0/CR4 bit of the
 * restored state to equal its value at SMI entry (smm_entry_cr0/cr4, kept
 * in struct cpu, out of the handler's reach); otherwise, as for any
 * invalid saved state, RSM does not return to the guest: shutdown.
 *
 * Everything read back from SMRAM is guest-controlled (the handler can
 * write the whole map): each field is checked before anything changes. */
#include <string.h>

#include "smm_smram.h"
#include "sys.h"

/* ---- the save map as bytes, offsets from SMBASE ---- */

struct smm_map {
    uint8_t b[SMM_SAVE_SIZE];
};

static void put(struct smm_map *m, unsigned off, int size, uint64_t v)
{
    memcpy(&m->b[off - SMM_SAVE_OFF], &v, (size_t)size); /* x86 host: LE */
}

static uint64_t get(const struct smm_map *m, unsigned off, int size)
{
    uint64_t v = 0;
    memcpy(&v, &m->b[off - SMM_SAVE_OFF], (size_t)size);
    return v;
}

static void put_seg(struct smm_map *m, unsigned off, const struct seg *s)
{
    put(m, off, 2, s->sel);
    put(m, off + 2, 2, s->attr);
    put(m, off + 4, 4, s->limit);
    put(m, off + 8, 8, s->base);
}

static struct seg get_seg(const struct smm_map *m, unsigned off)
{
    struct seg s;
    s.sel = (uint16_t)get(m, off, 2);
    s.attr = (uint16_t)get(m, off + 2, 2);
    s.limit = (uint32_t)get(m, off + 4, 4);
    s.base = get(m, off + 8, 8);
    return s;
}

/* SMRAM goes through phys_read/phys_write while in_smm: the decoded-code
 * cache of the pages written is dropped like for any store. */
static void map_store(struct cpu *c, const struct smm_map *m)
{
    for (unsigned k = 0; k < SMM_SAVE_SIZE; k += 8) {
        uint64_t v;
        memcpy(&v, &m->b[k], 8);
        phys_write(c, (uint64_t)c->smbase + SMM_SAVE_OFF + k, 8, v);
    }
}

static void map_load(struct cpu *c, struct smm_map *m)
{
    for (unsigned k = 0; k < SMM_SAVE_SIZE; k += 8) {
        uint64_t v = phys_read(c, (uint64_t)c->smbase + SMM_SAVE_OFF + k, 8);
        memcpy(&m->b[k], &v, 8);
    }
}

/* ---- SMI entry ---- */

static void save_state(struct cpu *c, struct smm_map *m)
{
    memset(m, 0, sizeof *m);
    for (int s = S_ES; s <= S_GS; s++)
        put_seg(m, SMS_SEG(s), &c->seg[s]);
    put(m, SMS_GDTR + 4, 4, c->gdtr.limit);
    put(m, SMS_GDTR + 8, 8, c->gdtr.base);
    put_seg(m, SMS_LDTR, &c->seg[S_LDTR]);
    put(m, SMS_IDTR + 4, 4, c->idtr.limit);
    put(m, SMS_IDTR + 8, 8, c->idtr.base);
    put_seg(m, SMS_TR, &c->seg[S_TR]);
    put(m, SMS_NMI_MASK, 1, c->nmi_blocked);
    put(m, SMS_EFER, 8, c->efer);
    put(m, SMS_REVISION, 4, SMM_REVISION);
    put(m, SMS_SMBASE, 4, c->smbase);
    put(m, SMS_CR4, 8, c->cr4);
    put(m, SMS_CR3, 8, c->cr3);
    put(m, SMS_CR0, 8, c->cr0);
    put(m, SMS_DR7, 8, c->dr[7]);
    put(m, SMS_DR6, 8, c->dr[6]);
    put(m, SMS_RFLAGS, 8, cpu_get_eflags(c));
    put(m, SMS_RIP, 8, c->rip);
    for (int r = 0; r < 16; r++)
        put(m, SMS_GPR(r), 8, c->regs[r]);
}

/* SMM's initial state (SDM Vol 3C table 32-4; AMD APM Vol 2 10.2.4, as
 * KVM's enter_smm): CS = SMBASE >> 4 : SMBASE, other data segments 0,
 * 4 GiB limits, RIP 0x8000, RFLAGS 2, CR0.PE/EM/TS/PG cleared, CR4 = 0,
 * EFER = 0, DR7 = 0x400, IDTR limit 0. In_smm is already set, so the CR
 * chokepoints do not enforce pins. */
static void load_entry_state(struct cpu *c)
{
    for (int s = S_ES; s <= S_GS; s++) {
        c->seg[s].sel = 0;
        c->seg[s].base = 0;
        c->seg[s].limit = 0xffffffffu;
        c->seg[s].attr = SEG_ATTR_P | SEG_ATTR_S | SEG_ATTR_G | 0x3;
    }
    c->seg[S_CS].sel = (uint16_t)(c->smbase >> 4);
    c->seg[S_CS].base = c->smbase;
    c->seg[S_CS].attr = SEG_ATTR_P | SEG_ATTR_S | SEG_ATTR_G | 0xb;
    c->idtr.base = 0;
    c->idtr.limit = 0;
    cpu_set_eflags(c, 2);
    c->rip = c->next_rip = SMM_ENTRY_OFF;
    /* CS.L is now 0: in IA-32e mode that is compatibility mode, where
     * CR0.PG may be cleared (the chokepoint refuses it in 64-bit mode) */
    cpu_update_mode(c);
    cpu_write_cr0(c, c->cr0 & ~(CR0_PE | CR0_EM | CR0_TS | CR0_PG));
    cpu_write_cr4(c, 0);
    c->efer = 0;
    c->dr[7] = 0x400;
    cpu_update_mode(c);
}

/* Run f(c) with the chokepoints' #GP caught: false if it faulted. */
static bool guarded(struct cpu *c, void (*f)(struct cpu *, const void *),
                    const void *arg)
{
    cpu_jmp_buf jb, *const outer = c->fault_jmp;
    c->fault_jmp = &jb;
    volatile bool ok = true;
    if (CPU_SETJMP(jb) == 0)
        f(c, arg);
    else
        ok = false;
    c->fault_jmp = outer;
    if (!ok)
        c->fault_vec = -1;
    return ok;
}

static void do_entry(struct cpu *c, const void *arg)
{
    (void)arg;
    load_entry_state(c);
}

void smm_enter(struct cpu *c)
{
    c->smi_pending = false;
    if (c->in_smm)
        return; /* latched while in SMM (SDM 32.8): except.c keeps it pending */
    uint64_t rip = c->rip;
    if (!smbase_valid(c->smbase) || c->ram_size < SMRAM_END) {
        /* SMBASE comes from a (checked) RSM or a snapshot; no SMRAM in a
         * machine this small (unit tests): the SMI has nowhere to go. */
        if (log_on(c->log, LOG_SMM))
            log_printf(c->log, "SMM: CPU %d: no SMRAM for SMBASE 0x%x: SMI dropped\n",
                       c->cpu_index, c->smbase);
        return;
    }
    struct smm_map m;
    save_state(c, &m);
    c->smm_entry_cr0 = c->cr0;
    c->smm_entry_cr4 = c->cr4;
    c->in_smm = true;
    c->nmi_blocked = true; /* SMM entry blocks NMIs (SDM 32.8) */
    map_store(c, &m);
    bool ok = guarded(c, do_entry, NULL);
    /* SMRAM opens and the handler's code is new: drop what was cached */
    tlb_flush_all(c);
    icache_flush(c);
    if (log_on(c->log, LOG_SMM))
        log_printf(c->log, "SMM: enter CPU %d smbase=0x%x rip=0x%llx%s\n",
                   c->cpu_index, c->smbase, (unsigned long long)rip,
                   ok ? "" : ": entry state refused, shutdown");
    if (!ok)
        c->shutdown = true;
}

/* ---- RSM ---- */

struct rsm_state {
    struct smm_map m;
    uint64_t cr0, cr3, cr4, efer;
};

static void do_restore(struct cpu *c, const void *arg)
{
    const struct rsm_state *st = arg;
    const struct smm_map *m = &st->m;
    /* EFER first (LME, and LMA as saved: CR3 keeps 64 bits), then CR4
     * (PAE), CR3, then CR0 (PG) while CS.L is still 0 (SDM 9.8.5). PAE
     * paging loads the PDPTEs here; a bad one faults: refused. */
    c->efer = st->efer;
    cpu_write_cr4(c, st->cr4);
    cpu_write_cr3(c, st->cr3);
    cpu_write_cr0(c, st->cr0);
    for (int s = S_ES; s <= S_GS; s++)
        c->seg[s] = get_seg(m, SMS_SEG(s));
    c->seg[S_LDTR] = get_seg(m, SMS_LDTR);
    c->seg[S_TR] = get_seg(m, SMS_TR);
    for (int s = 0; s < S_NSEG; s++)
        c->seg[s].attr &= 0xf0ff;
    c->gdtr.limit = (uint16_t)get(m, SMS_GDTR + 4, 4);
    c->gdtr.base = get(m, SMS_GDTR + 8, 8);
    c->idtr.limit = (uint16_t)get(m, SMS_IDTR + 4, 4);
    c->idtr.base = get(m, SMS_IDTR + 8, 8);
    for (int r = 0; r < 16; r++)
        c->regs[r] = get(m, SMS_GPR(r), 8);
    cpu_set_eflags(c, (uint32_t)get(m, SMS_RFLAGS, 8) | 2);
    c->rip = c->next_rip = get(m, SMS_RIP, 8);
    c->dr[7] = get(m, SMS_DR7, 8);
    c->dr[6] = get(m, SMS_DR6, 8);
    c->nmi_blocked = get(m, SMS_NMI_MASK, 1) & 1;
}

static bool canon(uint64_t a)
{
    return is_canonical(a);
}

/* The checks of SDM Vol 2B RSM / Vol 3C 32.13 and AMD APM Vol 2 10.2.5
 * ("invalid state ... shutdown"), plus pinvm's SMRAM and pin rules.
 * Returns NULL if the state may be restored, else why not. */
static const char *rsm_check(const struct cpu *c, const struct rsm_state *st,
                             uint32_t smbase, char *buf, size_t len)
{
    const struct smm_map *m = &st->m;
    uint64_t cr0 = st->cr0, cr4 = st->cr4, efer = st->efer;
    bool lma = efer & EFER_LMA;
    struct seg cs = get_seg(m, SMS_SEG(S_CS));
    bool l64 = lma && (cs.attr & SEG_ATTR_L);
    uint64_t rfl = get(m, SMS_RFLAGS, 8), rip = get(m, SMS_RIP, 8);

    if (!smbase_valid(smbase)) {
        snprintf(buf, len, "SMBASE 0x%x puts the save map outside SMRAM", smbase);
        return buf;
    }
    if (cr0 >> 32)
        return "CR0[63:32] set";
    if ((cr0 & CR0_PG) && !(cr0 & CR0_PE))
        return "CR0.PG=1 with CR0.PE=0";
    if ((cr0 & CR0_NW) && !(cr0 & CR0_CD))
        return "CR0.NW=1 with CR0.CD=0";
    if (efer & ~(EFER_SCE | EFER_LME | EFER_LMA | EFER_NXE))
        return "reserved EFER bit set";
    if (lma != ((efer & EFER_LME) && (cr0 & CR0_PG)))
        return "EFER.LMA inconsistent with EFER.LME and CR0.PG";
    if (lma && !(cr4 & CR4_PAE))
        return "EFER.LMA=1 with CR4.PAE=0";
    if (lma && (cs.attr & SEG_ATTR_L) && (cs.attr & SEG_ATTR_DB))
        return "CS.L=1 with CS.D=1";
    if (l64 ? !canon(rip) : (rip >> 32) != 0)
        return "RIP out of range for the restored mode";
    if (rfl & ~(uint64_t)(F_ARITH | F_TF | F_IF | F_DF | F_IOPL | F_NT |
                          F_RF | F_AC | F_VIF | F_VIP | F_ID | 2))
        return "reserved RFLAGS bit set (or VM: no virtual-8086 mode)";
    if (get(m, SMS_DR7, 8) >> 32 || get(m, SMS_DR6, 8) >> 32)
        return "DR6/DR7[63:32] set";
    static const unsigned bases[] = {SMS_SEG(S_FS) + 8, SMS_SEG(S_GS) + 8,
                                     SMS_GDTR + 8, SMS_IDTR + 8,
                                     SMS_LDTR + 8, SMS_TR + 8};
    for (size_t k = 0; k < sizeof bases / sizeof bases[0]; k++) {
        uint64_t b = get(m, bases[k], 8);
        if (lma ? !canon(b) : (b >> 32) != 0)
            return "non-canonical segment or table base";
    }
    for (int s = S_ES; s <= S_GS; s++)
        if (!lma && (get(m, SMS_SEG(s) + 8, 8) >> 32))
            return "segment base above 4 GiB outside IA-32e mode";
    if (get(m, SMS_GDTR + 4, 4) > 0xffff || get(m, SMS_IDTR + 4, 4) > 0xffff)
        return "GDTR/IDTR limit above 0xFFFF";
    /* The pin rule: the pinned bits must come back as they were taken. */
    uint64_t d0 = (cr0 ^ c->smm_entry_cr0) & crpin_mask(&c->pin, 0);
    uint64_t d4 = (cr4 ^ c->smm_entry_cr4) & crpin_mask(&c->pin, 4);
    if (d0 || d4) {
        snprintf(buf, len, "pinned bit(s) changed: CR0 0x%llx CR4 0x%llx",
                 (unsigned long long)d0, (unsigned long long)d4);
        return buf;
    }
    return NULL;
}

bool smm_rsm(struct cpu *c)
{
    struct rsm_state st;
    map_load(c, &st.m);
    st.cr0 = get(&st.m, SMS_CR0, 8);
    st.cr3 = get(&st.m, SMS_CR3, 8);
    st.cr4 = get(&st.m, SMS_CR4, 8);
    st.efer = get(&st.m, SMS_EFER, 8);
    uint32_t smbase = (uint32_t)get(&st.m, SMS_SMBASE, 4);
    char buf[96];
    const char *why = rsm_check(c, &st, smbase, buf, sizeof buf);
    if (!why && !guarded(c, do_restore, &st))
        why = "a CR value the CPU refuses (reserved bit, PAE PDPTE)";
    if (why) {
        /* Shutdown with in_smm still set: SMRAM stays closed to nobody
         * else, and only a reset (which leaves SMM) runs the vCPU again. */
        if (log_on(c->log, LOG_SMM))
            log_printf(c->log, "SMM: RSM refused CPU %d: %s: shutdown\n",
                       c->cpu_index, why);
        return false;
    }
    c->smbase = smbase; /* relocation takes effect at the next SMI */
    c->in_smm = false;
    tlb_flush_all(c); /* SMRAM closes: no translation to it may survive */
    icache_flush(c);
    cpu_update_mode(c);
    if (log_on(c->log, LOG_SMM))
        log_printf(c->log, "SMM: RSM CPU %d smbase=0x%x rip=0x%llx\n",
                   c->cpu_index, c->smbase, (unsigned long long)c->rip);
    return true;
}
