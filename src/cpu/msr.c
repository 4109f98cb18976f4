/* msr.c: model-specific registers (SDM Vol 4) and RDMSR/WRMSR.
 * Anything not listed here is #GP(0) for the guest. */
#include "sys.h"
#include "sysops.h"

enum {
    MSR_TSC = 0x10,
    MSR_PLATFORM_ID = 0x17,
    MSR_APIC_BASE = 0x1b,
    MSR_UCODE_REV = 0x8b,
    MSR_MTRRCAP = 0xfe,
    MSR_SYSENTER_CS = 0x174,
    MSR_SYSENTER_ESP = 0x175,
    MSR_SYSENTER_EIP = 0x176,
    MSR_MISC_ENABLE = 0x1a0,
    MSR_MTRR_PHYS_FIRST = 0x200,
    MSR_MTRR_PHYS_LAST = 0x20f,
    MSR_MTRR_FIX64K = 0x250,
    MSR_MTRR_FIX16K_80 = 0x258,
    MSR_MTRR_FIX16K_A0 = 0x259,
    MSR_MTRR_FIX4K_FIRST = 0x268,
    MSR_MTRR_FIX4K_LAST = 0x26f,
    MSR_PAT = 0x277,
    MSR_TSC_DEADLINE = 0x6e0,
    MSR_X2APIC_FIRST = 0x800,
    MSR_X2APIC_LAST = 0x8ff,
    MSR_MTRR_DEF_TYPE = 0x2ff,
    MSR_EFER = 0xc0000080,
    MSR_STAR = 0xc0000081,
    MSR_LSTAR = 0xc0000082,
    MSR_CSTAR = 0xc0000083,
    MSR_FMASK = 0xc0000084,
    MSR_FS_BASE = 0xc0000100,
    MSR_GS_BASE = 0xc0000101,
    MSR_KERNEL_GS_BASE = 0xc0000102,
    MSR_TSC_AUX = 0xc0000103,
};

/* QEMU's MTRRcap: 8 variable ranges, fixed ranges, write-combining. */
#define MTRRCAP_VALUE (8u | 1u << 8 | 1u << 10)
/* Physical-address bits of MTRR bases/masks and APIC_BASE. */
#define PHYS_MASK ((1ull << CPU_MAXPHYADDR) - 1)
/* IA32_APIC_BASE: BSP (8), EXTD (10, x2APIC mode), EN (11) */
#define APIC_BASE_BSP  (1ull << 8)
#define APIC_BASE_EXTD (1ull << 10)
#define APIC_BASE_EN   (1ull << 11)

/* The MSRs the local APIC answers (through the bus). */
static bool apic_msr(uint32_t msr)
{
    return msr == MSR_TSC_DEADLINE ||
           (msr >= MSR_X2APIC_FIRST && msr <= MSR_X2APIC_LAST);
}

static int apic_msr_access(struct cpu *c, uint32_t msr, uint64_t *val,
                           bool write)
{
    if (!c->bus || !c->bus->apic_msr)
        return -1;
    return c->bus->apic_msr(c->bus->opaque, c, msr, val, write);
}

/* IA32_APIC_BASE mode transitions (SDM Vol 3A 10.12.5, figure 10-27):
 * EN=0/EXTD=1 is invalid; x2APIC -> xAPIC and disabled -> x2APIC are
 * illegal (go through disabled, resp. xAPIC). The host may restore any
 * valid state. */
static bool apic_base_ok(uint64_t old, uint64_t v, bool host)
{
    if (v & ~((PHYS_MASK & ~0xfffull) | APIC_BASE_EN | APIC_BASE_EXTD |
              APIC_BASE_BSP))
        return false;
    if ((v & (APIC_BASE_EN | APIC_BASE_EXTD)) == APIC_BASE_EXTD)
        return false;
    if (host)
        return true;
    bool ox2 = (old & APIC_BASE_EXTD) != 0, nx2 = (v & APIC_BASE_EXTD) != 0;
    if (ox2 && !nx2 && (v & APIC_BASE_EN))
        return false; /* x2APIC -> xAPIC */
    if (!ox2 && nx2 && !(old & APIC_BASE_EN))
        return false; /* disabled -> x2APIC */
    return true;
}

static uint64_t *mtrr_fixed_slot(struct cpu *c, uint32_t msr)
{
    if (msr == MSR_MTRR_FIX64K)
        return &c->mtrr_fixed[0];
    if (msr == MSR_MTRR_FIX16K_80)
        return &c->mtrr_fixed[1];
    if (msr == MSR_MTRR_FIX16K_A0)
        return &c->mtrr_fixed[2];
    if (msr >= MSR_MTRR_FIX4K_FIRST && msr <= MSR_MTRR_FIX4K_LAST)
        return &c->mtrr_fixed[3 + (msr - MSR_MTRR_FIX4K_FIRST)];
    return NULL;
}

/* Memory types valid in PAT entries and fixed MTRRs: UC, WC, WT, WP, WB
 * (and UC- for PAT). */
static bool mem_types_ok(uint64_t v, bool pat)
{
    for (int k = 0; k < 8; k++) {
        unsigned t = (v >> (8 * k)) & 0xff;
        if (!(t == 0 || t == 1 || t == 4 || t == 5 || t == 6 || (pat && t == 7)))
            return false;
    }
    return true;
}

int cpu_rdmsr(struct cpu *c, uint32_t msr, uint64_t *val, bool host)
{
    if (crpin_is_msr(msr)) {
        if (!c->cr_pin_enabled)
            return -1; /* feature not exposed: the MSRs do not exist */
        return crpin_msr_read(&c->pin, msr, host ? CRPIN_HOST : CRPIN_GUEST,
                              val) == CRPIN_OK ? 0 : -1;
    }
    uint64_t *fx = mtrr_fixed_slot(c, msr);
    if (fx) {
        *val = *fx;
        return 0;
    }
    if (msr >= MSR_MTRR_PHYS_FIRST && msr <= MSR_MTRR_PHYS_LAST) {
        *val = c->mtrr_var[msr - MSR_MTRR_PHYS_FIRST];
        return 0;
    }
    if (apic_msr(msr))
        return apic_msr_access(c, msr, val, false);
    switch (msr) {
    case MSR_TSC: *val = c->icount + c->tsc_offset; return 0;
    case MSR_PLATFORM_ID: *val = 0; return 0;
    case MSR_APIC_BASE: *val = c->apic_base; return 0;
    case MSR_UCODE_REV: *val = 0x100000000ull; return 0; /* QEMU's value */
    case MSR_MTRRCAP: *val = MTRRCAP_VALUE; return 0;
    case MSR_SYSENTER_CS: *val = c->sysenter_cs; return 0;
    case MSR_SYSENTER_ESP: *val = c->sysenter_esp; return 0;
    case MSR_SYSENTER_EIP: *val = c->sysenter_eip; return 0;
    case MSR_MISC_ENABLE: *val = c->misc_enable; return 0;
    case MSR_PAT: *val = c->pat; return 0;
    case MSR_MTRR_DEF_TYPE: *val = c->mtrr_def_type; return 0;
    case MSR_EFER: *val = c->efer; return 0;
    case MSR_STAR: *val = c->star; return 0;
    case MSR_LSTAR: *val = c->lstar; return 0;
    case MSR_CSTAR: *val = c->cstar; return 0;
    case MSR_FMASK: *val = c->fmask; return 0;
    case MSR_FS_BASE: *val = c->seg[S_FS].base; return 0;
    case MSR_GS_BASE: *val = c->seg[S_GS].base; return 0;
    case MSR_KERNEL_GS_BASE: *val = c->kernel_gs_base; return 0;
    case MSR_TSC_AUX: *val = c->tsc_aux; return 0;
    default:
        return -1;
    }
}

static int wr_efer(struct cpu *c, uint64_t v, bool host)
{
    /* SCE, LME, NXE are writable; LMA is read-only (writes ignored, as
     * KVM); anything else is reserved. */
    uint64_t writable = EFER_SCE | EFER_LME | EFER_NXE;
    if (v & ~(writable | EFER_LMA))
        return -1;
    if (host) {
        /* state restore: the host sets LMA too, in any order with CR0 */
        c->efer = v;
        tlb_flush_all(c);
        cpu_update_mode(c);
        return 0;
    }
    /* SDM Vol 3A 9.8.5: LME may not change while paging is enabled */
    if (((v ^ c->efer) & EFER_LME) && (c->cr0 & CR0_PG))
        return -1;
    uint64_t nv = (v & writable) | (c->efer & EFER_LMA);
    if ((nv ^ c->efer) & EFER_NXE)
        tlb_flush_all(c);
    c->efer = nv;
    return 0;
}

int cpu_wrmsr(struct cpu *c, uint32_t msr, uint64_t v, bool host)
{
    if (crpin_is_msr(msr)) {
        if (!c->cr_pin_enabled)
            return -1;
        return crpin_msr_write(&c->pin, msr, host ? CRPIN_HOST : CRPIN_GUEST,
                               v) == CRPIN_OK ? 0 : -1;
    }
    uint64_t *fx = mtrr_fixed_slot(c, msr);
    if (fx) {
        if (!mem_types_ok(v, false))
            return -1;
        *fx = v;
        return 0;
    }
    if (msr >= MSR_MTRR_PHYS_FIRST && msr <= MSR_MTRR_PHYS_LAST) {
        /* PHYSBASE: type in 7:0 (bits 11:8 reserved); PHYSMASK: valid bit
         * 11 (bits 10:0 reserved); bits above MAXPHYADDR reserved. */
        bool is_mask = (msr & 1) != 0;
        uint64_t ok = is_mask ? (PHYS_MASK & ~0x7ffull) | 0x800 : (PHYS_MASK & ~0xfffull) | 0xff;
        if ((v & ~ok) || (!is_mask && !mem_types_ok(v & 0xff, false)))
            return -1;
        c->mtrr_var[msr - MSR_MTRR_PHYS_FIRST] = v;
        return 0;
    }
    if (apic_msr(msr))
        return apic_msr_access(c, msr, &v, true);
    switch (msr) {
    case MSR_TSC:
        c->tsc_offset = v - c->icount;
        return 0;
    case MSR_APIC_BASE: {
        /* base (bits 12..MAXPHYADDR-1), EN (11), EXTD (10), BSP (8) */
        uint64_t old = c->apic_base;
        if (!apic_base_ok(old, v, host))
            return -1;
        c->apic_base = v;
        apic_msr_access(c, MSR_APIC_BASE, &old, true); /* tell the LAPIC */
        return 0;
    }
    case MSR_UCODE_REV:
        return 0; /* writes (microcode loader handshake) are ignored */
    case MSR_SYSENTER_CS:
        c->sysenter_cs = v & 0xffff;
        return 0;
    case MSR_SYSENTER_ESP:
    case MSR_SYSENTER_EIP:
        if (!is_canonical(v))
            return -1;
        *(msr == MSR_SYSENTER_ESP ? &c->sysenter_esp : &c->sysenter_eip) = v;
        return 0;
    case MSR_MISC_ENABLE:
        c->misc_enable = v;
        return 0;
    case MSR_PAT:
        if (!mem_types_ok(v, true))
            return -1;
        c->pat = v;
        return 0;
    case MSR_MTRR_DEF_TYPE:
        /* type 7:0, FE (10), E (11) */
        if ((v & ~0xcffull) || !mem_types_ok(v & 0xff, false))
            return -1;
        c->mtrr_def_type = v;
        return 0;
    case MSR_EFER:
        return wr_efer(c, v, host);
    case MSR_STAR:
        c->star = v;
        return 0;
    case MSR_LSTAR:
    case MSR_CSTAR:
    case MSR_FS_BASE:
    case MSR_GS_BASE:
    case MSR_KERNEL_GS_BASE:
        if (!is_canonical(v))
            return -1; /* "#GP(0) if a non-canonical address" */
        switch (msr) {
        case MSR_LSTAR: c->lstar = v; break;
        case MSR_CSTAR: c->cstar = v; break;
        case MSR_FS_BASE: c->seg[S_FS].base = v; break;
        case MSR_GS_BASE: c->seg[S_GS].base = v; break;
        default: c->kernel_gs_base = v; break;
        }
        return 0;
    case MSR_FMASK:
        c->fmask = (uint32_t)v; /* bits 63:32 are reserved and read 0 */
        return 0;
    case MSR_TSC_AUX:
        if (v >> 32)
            return -1;
        c->tsc_aux = v;
        return 0;
    default:
        return -1; /* includes read-only PLATFORM_ID and MTRRcap */
    }
}

void op_rdmsr(struct cpu *c, const struct insn *i)
{
    (void)i;
    need_cpl0(c); /* "#GP(0) if CPL is not 0" */
    uint32_t msr = (uint32_t)c->regs[R_RCX];
    uint64_t v;
    if (cpu_rdmsr(c, msr, &v, false) < 0) {
        if (log_on(c->log, LOG_GUEST_ERROR))
            log_printf(c->log, "rdmsr: #GP(0) for MSR 0x%08x (unknown or not readable)\n", msr);
        cpu_raise(c, EXC_GP, 0);
    }
    c->regs[R_RAX] = (uint32_t)v;
    c->regs[R_RDX] = v >> 32;
}

void op_wrmsr(struct cpu *c, const struct insn *i)
{
    (void)i;
    need_cpl0(c);
    uint32_t msr = (uint32_t)c->regs[R_RCX];
    uint64_t v = (uint32_t)c->regs[R_RAX] | (c->regs[R_RDX] << 32);
    if (cpu_wrmsr(c, msr, v, false) < 0) {
        if (log_on(c->log, LOG_GUEST_ERROR))
            log_printf(c->log,
                       "wrmsr: #GP(0) for MSR 0x%08x value 0x%016llx (unknown or refused)\n",
                       msr, (unsigned long long)v);
        cpu_raise(c, EXC_GP, 0);
    }
}
