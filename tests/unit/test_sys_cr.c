/* The CR0/CR4 chokepoint (system.c): reserved bits and mode rules, the
 * pin check on every write path (MOV CR, LMSW, CLTS), the violation
 * callback, SMM exemption, and reset. */
#include <setjmp.h>

#include "cpu/sys.h"
#include "cpu/sysops.h"
#include "cpu_harness.h"
#include "unit.h"

/* harness first, so the bus opaque (the harness) is also the fixture */
struct fix {
    struct harness h;
    int calls;
    int cr;
    uint64_t old_val, new_val;
};

static void on_violation(void *opaque, struct cpu *c, int cr, uint64_t o,
                         uint64_t n)
{
    struct fix *f = opaque;
    (void)c;
    f->calls++;
    f->cr = cr;
    f->old_val = o;
    f->new_val = n;
}

static struct fix F;

static struct cpu *setup(int mode)
{
    memset(&F, 0, sizeof F);
    h_init(&F.h, mode);
    F.h.bus.pin_violation = on_violation;
    F.h.c.cr_pin_enabled = true;
    return &F.h.c;
}

/* Call a chokepoint directly: the vector it raised, or -1. */
static int try_cr(struct cpu *c, int cr, uint64_t v)
{
    c->fault_vec = -1;
    static cpu_jmp_buf jb;
    c->fault_jmp = &jb;
    if (CPU_SETJMP(jb))
        return c->fault_vec;
    if (cr == 0)
        cpu_write_cr0(c, v);
    else if (cr == 3)
        cpu_write_cr3(c, v);
    else
        cpu_write_cr4(c, v);
    return -1;
}

static int try_op(struct cpu *c, op_fn fn, const struct insn *i)
{
    c->fault_vec = -1;
    static cpu_jmp_buf jb;
    c->fault_jmp = &jb;
    if (CPU_SETJMP(jb))
        return c->fault_vec;
    fn(c, i);
    return -1;
}

static int pin(struct cpu *c, uint32_t msr, uint64_t v)
{
    return cpu_wrmsr(c, msr, v, false);
}

GUEST_ASM(clear_smep, ".code64",
          "mov %cr4, %rax\n btr $20, %rax\n"
          "clear_smep_at: mov %rax, %cr4\n hlt");
extern const uint8_t clear_smep_at[];

TEST(mov_cr4_clearing_pinned_smep_is_gp_and_reported_once)
{
    struct cpu *c = setup(H_LONG);
    /* supervisor-only pages, so SMEP lets CPL 0 fetch its own code */
    h_w64(&F.h, 0x5000, 0x000000 | 0x83);
    h_w64(&F.h, 0x5008, 0x200000 | 0x83);
    CHECK_EQ(try_cr(c, 4, c->cr4 | CR4_SMEP), -1);
    CHECK_EQ(pin(c, MSR_KVM_CR4_PINNED, CRPIN_CR4_SMEP), 0);
    uint64_t before = c->cr4;
    h_load(&F.h, clear_smep, GUEST_LEN(clear_smep));
    h_run(&F.h);
    CHECK_EQ(h_vector(&F.h), EXC_GP);
    CHECK_EQ(h_frame(&F.h, 0), 0); /* error code 0 */
    CHECK_EQ(h_frame(&F.h, 1), H_CODE + (uint64_t)(clear_smep_at - clear_smep));
    CHECK_EQ(c->cr4, before);
    CHECK_EQ(F.calls, 1);
    CHECK_EQ(F.cr, 4);
    CHECK_EQ(F.old_val, before);
    CHECK_EQ(F.new_val, before & ~CR4_SMEP);
    h_free(&F.h);
}

TEST(unpinned_cr4_bits_still_change)
{
    struct cpu *c = setup(H_LONG);
    CHECK_EQ(try_cr(c, 4, c->cr4 | CR4_SMEP | CR4_PGE), -1);
    CHECK_EQ(pin(c, MSR_KVM_CR4_PINNED, CRPIN_CR4_SMEP), 0);
    CHECK_EQ(try_cr(c, 4, c->cr4 & ~CR4_PGE), -1);
    CHECK_EQ(c->cr4 & CR4_PGE, 0);
    CHECK(c->cr4 & CR4_SMEP);
    CHECK_EQ(try_cr(c, 4, c->cr4 | CR4_UMIP), -1);
    CHECK(c->cr4 & CR4_UMIP);
    CHECK_EQ(F.calls, 0);
    h_free(&F.h);
}

TEST(bit_pinned_clear_cannot_be_set)
{
    struct cpu *c = setup(H_LONG);
    CHECK_EQ(pin(c, MSR_KVM_CR4_PINNED, CRPIN_CR4_SMAP), 0); /* SMAP is 0 */
    CHECK_EQ(try_cr(c, 4, c->cr4 | CR4_SMAP), EXC_GP);
    CHECK_EQ(c->cr4 & CR4_SMAP, 0);
    CHECK_EQ(F.calls, 1);
    h_free(&F.h);
}

TEST(cr0_wp_pin_blocks_mov_but_not_lmsw_or_clts)
{
    struct cpu *c = setup(H_LONG);
    CHECK_EQ(try_cr(c, 0, c->cr0 | CR0_WP | CR0_TS), -1);
    CHECK_EQ(pin(c, MSR_KVM_CR0_PINNED, CRPIN_CR0_WP), 0);
    uint64_t cr0 = c->cr0;
    CHECK_EQ(try_cr(c, 0, cr0 & ~CR0_WP), EXC_GP);
    CHECK_EQ(c->cr0, cr0);
    CHECK_EQ(F.calls, 1);
    CHECK_EQ(F.cr, 0);

    /* CLTS goes through the chokepoint: TS clears, WP stays */
    struct insn i = {0};
    CHECK_EQ(try_op(c, op_clts, &i), -1);
    CHECK_EQ(c->cr0 & CR0_TS, 0);
    CHECK(c->cr0 & CR0_WP);

    /* LMSW r16 sets MP and TS (bits 1, 3); WP cannot be reached */
    i.mod = 3;
    i.reg = 6;
    i.rm = R_RBX;
    c->regs[R_RBX] = 0xffff & ~1u; /* PE bit 0 clear: cannot clear PE */
    CHECK_EQ(try_op(c, op_grp7, &i), -1);
    CHECK(c->cr0 & CR0_MP);
    CHECK(c->cr0 & CR0_TS);
    CHECK(c->cr0 & CR0_PE);
    CHECK(c->cr0 & CR0_WP);
    CHECK_EQ(F.calls, 1);
    h_free(&F.h);
}

TEST(lmsw_sets_pe_but_never_clears_it)
{
    struct cpu *c = setup(H_REAL);
    struct insn i = {.mod = 3, .reg = 6, .rm = R_RAX};
    c->regs[R_RAX] = 1;
    CHECK_EQ(try_op(c, op_grp7, &i), -1);
    CHECK(c->cr0 & CR0_PE);
    CHECK_EQ(c->mode, MODE_PROT);
    c->regs[R_RAX] = 0;
    CHECK_EQ(try_op(c, op_grp7, &i), -1);
    CHECK(c->cr0 & CR0_PE);
    h_free(&F.h);
}

TEST(smm_is_exempt_from_pins)
{
    struct cpu *c = setup(H_LONG);
    CHECK_EQ(try_cr(c, 4, c->cr4 | CR4_SMEP), -1);
    CHECK_EQ(pin(c, MSR_KVM_CR4_PINNED, CRPIN_CR4_SMEP), 0);
    c->in_smm = true;
    CHECK_EQ(try_cr(c, 4, c->cr4 & ~CR4_SMEP), -1);
    CHECK_EQ(c->cr4 & CR4_SMEP, 0);
    CHECK_EQ(F.calls, 0);
    h_free(&F.h);
}

TEST(reserved_bits_and_mode_rules_are_gp)
{
    struct cpu *c = setup(H_LONG);
    uint64_t cr0 = c->cr0, cr4 = c->cr4;
    CHECK_EQ(try_cr(c, 4, cr4 | CR4_OSFXSR), EXC_GP);      /* no SSE */
    CHECK_EQ(try_cr(c, 4, cr4 | CR4_VME), EXC_GP);         /* no V86 */
    CHECK_EQ(try_cr(c, 4, cr4 | CR4_PCIDE), EXC_GP);
    CHECK_EQ(try_cr(c, 4, cr4 | CR4_OSXSAVE), EXC_GP);
    CHECK_EQ(try_cr(c, 4, cr4 | CR4_FSGSBASE), EXC_GP);
    CHECK_EQ(try_cr(c, 4, cr4 | (1ull << 32)), EXC_GP);
    CHECK_EQ(try_cr(c, 4, cr4 & ~CR4_PAE), EXC_GP);        /* LMA=1 */
    CHECK_EQ(try_cr(c, 0, cr0 | (1ull << 32)), EXC_GP);
    CHECK_EQ(try_cr(c, 0, cr0 & ~CR0_PG), EXC_GP);         /* 64-bit mode */
    CHECK_EQ(try_cr(c, 0, cr0 | CR0_NW), EXC_GP);          /* NW without CD */
    CHECK_EQ(try_cr(c, 3, 1ull << 52), EXC_GP);
    CHECK_EQ(c->cr0, cr0);
    CHECK_EQ(c->cr4, cr4);
    CHECK_EQ(F.calls, 0); /* reserved checks come before the pin check */
    /* undefined bits 31:0 of CR0 are ignored; ET reads 1 */
    CHECK_EQ(try_cr(c, 0, (cr0 | (1ull << 7)) & ~CR0_ET), -1);
    CHECK_EQ(c->cr0, cr0);
    h_free(&F.h);
}

TEST(paging_needs_pe_and_long_mode_needs_pae)
{
    struct cpu *c = setup(H_REAL);
    CHECK_EQ(try_cr(c, 0, CR0_ET | CR0_PG), EXC_GP); /* PG without PE */
    CHECK_EQ(try_cr(c, 0, CR0_ET | CR0_PE), -1);
    c->efer = EFER_LME;
    c->cr3 = H_PML4;
    CHECK_EQ(try_cr(c, 0, CR0_ET | CR0_PE | CR0_PG), EXC_GP); /* PAE=0 */
    CHECK_EQ(c->efer & EFER_LMA, 0);
    CHECK_EQ(try_cr(c, 4, CR4_PAE), -1);
    CHECK_EQ(try_cr(c, 0, CR0_ET | CR0_PE | CR0_PG), -1);
    CHECK(c->efer & EFER_LMA); /* IA-32e active, compatibility mode */
    CHECK_EQ(c->mode, MODE_COMPAT);
    /* leaving: clear PG in compatibility mode clears LMA */
    CHECK_EQ(try_cr(c, 0, CR0_ET | CR0_PE), -1);
    CHECK_EQ(c->efer & EFER_LMA, 0);
    CHECK_EQ(c->mode, MODE_PROT);
    h_free(&F.h);
}

GUEST_ASM(bad_crs, ".code64",
          "bad_cr1: .byte 0x0f, 0x22, 0xc8\n" /* mov %rax, %cr1 */
          "hlt");

TEST(cr1_is_ud_and_cpl3_is_gp)
{
    struct cpu *c = setup(H_LONG);
    h_load(&F.h, bad_crs, GUEST_LEN(bad_crs));
    h_run(&F.h);
    CHECK_EQ(h_vector(&F.h), EXC_UD);
    CHECK_EQ(h_frame(&F.h, 0), H_CODE);
    /* MOV to CR at CPL 3: #GP(0) before anything else */
    struct insn i = {.mod = 3, .reg = 4, .rm = R_RAX};
    c->regs[R_RAX] = 0;
    c->cpl = 3;
    CHECK_EQ(try_op(c, op_mov_to_cr, &i), EXC_GP);
    CHECK_EQ(c->fault_err, 0);
    CHECK(c->cr4 & CR4_PAE);
    h_free(&F.h);
}

TEST(umip_makes_smsw_str_gp_at_cpl3_only)
{
    struct cpu *c = setup(H_LONG);
    CHECK_EQ(try_cr(c, 4, c->cr4 | CR4_UMIP), -1);
    struct insn smsw = {.mod = 3, .reg = 4, .rm = R_RAX, .opsize = 8};
    CHECK_EQ(try_op(c, op_grp7, &smsw), -1);
    CHECK_EQ(c->regs[R_RAX], c->cr0);
    c->cpl = 3;
    CHECK_EQ(try_op(c, op_grp7, &smsw), EXC_GP);
    struct insn str = {.mod = 3, .reg = 1, .rm = R_RAX, .opsize = 4};
    CHECK_EQ(try_op(c, op_grp6, &str), EXC_GP);
    c->cpl = 0;
    CHECK_EQ(try_op(c, op_grp6, &str), -1);
    h_free(&F.h);
}

TEST(reset_clears_pins_and_gives_power_on_state)
{
    struct cpu *c = setup(H_LONG);
    CHECK_EQ(try_cr(c, 4, c->cr4 | CR4_SMEP), -1);
    CHECK_EQ(pin(c, MSR_KVM_CR4_PINNED, CRPIN_CR4_SMEP), 0);
    c->smi_pending = c->nmi_pending = true;
    cpu_reset(c);
    CHECK_EQ(c->pin.cr4_pinned, 0);
    CHECK_EQ(c->pin.cr0_pinned, 0);
    CHECK_EQ(c->cr0, 0x60000010);
    CHECK_EQ(c->cr4, 0);
    CHECK_EQ(c->efer, 0);
    CHECK_EQ(c->rip, 0xfff0);
    CHECK_EQ(c->seg[S_CS].sel, 0xf000);
    CHECK_EQ(c->seg[S_CS].base, 0xffff0000u);
    CHECK_EQ(c->regs[R_RDX], 0x663);
    CHECK_EQ(cpu_get_eflags(c), 2);
    CHECK_EQ(c->apic_base, 0xfee00900u);
    CHECK_EQ(c->mode, MODE_REAL);
    CHECK_EQ(c->code_size, 2);
    CHECK(!c->smi_pending && !c->nmi_pending);
    CHECK_EQ(c->dr[7], 0x400);
    CHECK_EQ(c->idtr.limit, 0xffff);
    uint64_t tsc;
    CHECK_EQ(cpu_rdmsr(c, 0x10, &tsc, false), 0);
    CHECK_EQ(tsc, 0);
    /* after reset the guest may set SMEP again, then clear it */
    CHECK_EQ(try_cr(c, 0, CR0_PE | CR0_ET), -1);
    CHECK_EQ(try_cr(c, 4, CR4_SMEP), -1);
    CHECK_EQ(try_cr(c, 4, 0), -1);
    h_free(&F.h);
}


TEST(enabling_ia32e_with_cs_l_set_is_gp)
{
    struct cpu *c = setup(H_PROT32);
    c->efer = EFER_LME;
    c->cr3 = H_PML4;
    CHECK_EQ(try_cr(c, 4, CR4_PAE), -1);
    c->seg[S_CS].attr |= SEG_ATTR_L;
    CHECK_EQ(try_cr(c, 0, c->cr0 | CR0_PG), EXC_GP);
    CHECK_EQ(c->cr0 & CR0_PG, 0);
    CHECK_EQ(c->efer & EFER_LMA, 0);
    h_free(&F.h);
}

/* PAE paging (not IA-32e): PDPTEs load with CR0/CR3/CR4 writes and a
 * reserved bit is #GP with the register unchanged (SDM 4.4.1). */
TEST(pae_pdpte_reserved_bits_are_gp_on_cr0_cr3_cr4)
{
    struct cpu *c = setup(H_PROT32);
    h_w64(&F.h, 0x6000, 0x5000 | 1);        /* good PDPT at 0x6000 */
    h_w64(&F.h, 0x6020, 0x5000 | 1 | 1 << 1); /* bad: R/W is reserved */
    c->cr3 = 0x6020;
    CHECK_EQ(try_cr(c, 4, CR4_PAE), -1);   /* paging off: no load */
    CHECK_EQ(try_cr(c, 0, c->cr0 | CR0_PG), EXC_GP);
    CHECK_EQ(c->cr0 & CR0_PG, 0);
    CHECK_EQ(try_cr(c, 3, 0x6000), -1);
    CHECK_EQ(try_cr(c, 0, c->cr0 | CR0_PG), -1);
    CHECK_EQ(c->tlb.pdpte[0], 0x5000 | 1);
    CHECK_EQ(try_cr(c, 3, 0x6020), EXC_GP);
    CHECK_EQ(c->cr3, 0x6000);
    /* a CR4 write that changes PGE reloads them from the current CR3 */
    h_w64(&F.h, 0x6000, 0x5000 | 1 | 1 << 2);
    CHECK_EQ(try_cr(c, 4, CR4_PAE | CR4_PGE), EXC_GP);
    CHECK_EQ(c->cr4, CR4_PAE);
    h_free(&F.h);
}

TEST(mov_cr_handlers_cover_cr0_cr2_cr3_cr8)
{
    struct cpu *c = setup(H_LONG);
    struct insn to = {.mod = 3, .rm = R_RAX};
    struct insn from = {.mod = 3, .rm = R_RBX};
    to.reg = 8;
    c->regs[R_RAX] = 0x10;
    CHECK_EQ(try_op(c, op_mov_to_cr, &to), EXC_GP); /* CR8 bits 63:4 */
    c->regs[R_RAX] = 0x9;
    CHECK_EQ(try_op(c, op_mov_to_cr, &to), -1);
    from.reg = 8;
    CHECK_EQ(try_op(c, op_mov_from_cr, &from), -1);
    CHECK_EQ(c->regs[R_RBX], 9);
    to.reg = 2;
    c->regs[R_RAX] = 0xdead0000beefull;
    CHECK_EQ(try_op(c, op_mov_to_cr, &to), -1);
    from.reg = 2;
    CHECK_EQ(try_op(c, op_mov_from_cr, &from), -1);
    CHECK_EQ(c->regs[R_RBX], 0xdead0000beefull);
    to.reg = 0;
    c->regs[R_RAX] = c->cr0 | CR0_TS;
    CHECK_EQ(try_op(c, op_mov_to_cr, &to), -1);
    CHECK(c->cr0 & CR0_TS);
    to.reg = 3;
    c->regs[R_RAX] = H_PML4;
    CHECK_EQ(try_op(c, op_mov_to_cr, &to), -1);
    from.reg = 3;
    CHECK_EQ(try_op(c, op_mov_from_cr, &from), -1);
    CHECK_EQ(c->regs[R_RBX], H_PML4);
    from.reg = 5;
    CHECK_EQ(try_op(c, op_mov_from_cr, &from), EXC_UD);
    to.reg = 0;
    to.lock = 1;
    CHECK_EQ(try_op(c, op_mov_to_cr, &to), EXC_UD); /* no AMD alt. CR8 */
    h_free(&F.h);
}

TEST(lmsw_and_smsw_memory_forms)
{
    struct cpu *c = setup(H_PROT32);
    struct insn m = {.mod = 0, .rm = R_RBX, .base = R_RBX, .index = 0xff,
                     .seg = S_DS, .opsize = 4, .addrsize = 4};
    c->regs[R_RBX] = H_DATA;
    h_w16(&F.h, H_DATA, 0x000a); /* MP | TS, PE clear */
    m.reg = 6;
    CHECK_EQ(try_op(c, op_grp7, &m), -1);
    CHECK_EQ(c->cr0 & 0xf, CR0_PE | CR0_MP | CR0_TS);
    m.reg = 4;
    h_w32(&F.h, H_DATA, 0xffffffff);
    CHECK_EQ(try_op(c, op_grp7, &m), -1);
    CHECK_EQ(h_r32(&F.h, H_DATA), 0xffff0000u | (uint16_t)c->cr0);
    m.reg = 7; /* INVLPG */
    CHECK_EQ(try_op(c, op_grp7, &m), -1);
    c->cpl = 3;
    CHECK_EQ(try_op(c, op_grp7, &m), EXC_GP);
    h_free(&F.h);
}

static const struct unit_test tests[] = {
    T(mov_cr4_clearing_pinned_smep_is_gp_and_reported_once),
    T(unpinned_cr4_bits_still_change),
    T(bit_pinned_clear_cannot_be_set),
    T(cr0_wp_pin_blocks_mov_but_not_lmsw_or_clts),
    T(lmsw_sets_pe_but_never_clears_it),
    T(smm_is_exempt_from_pins),
    T(reserved_bits_and_mode_rules_are_gp),
    T(paging_needs_pe_and_long_mode_needs_pae),
    T(cr1_is_ud_and_cpl3_is_gp),
    T(umip_makes_smsw_str_gp_at_cpl3_only),
    T(reset_clears_pins_and_gives_power_on_state),
    T(enabling_ia32e_with_cs_l_set_is_gp),
    T(pae_pdpte_reserved_bits_are_gp_on_cr0_cr3_cr4),
    T(mov_cr_handlers_cover_cr0_cr2_cr3_cr8),
    T(lmsw_and_smsw_memory_forms),
};
UNIT_MAIN(tests)
