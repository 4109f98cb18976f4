/* Exception and interrupt delivery (except.c) in real, protected and long
 * mode: frames, error codes, privilege changes through the TSS, IST, gate
 * checks, #DF and triple fault, external interrupts and NMI. Tables are
 * built in guest RAM by the harness (cpu_harness.h) and here. */
#include "cpu/sys.h"
#include "machine/apm.h"
#include "cpu_harness.h"
#include "unit.h"

struct fix {
    struct harness h; /* first: the bus opaque is the fixture */
    int irq_vec;      /* vector to raise, -1 when none */
    int acks;
};

static struct fix F;

static struct harness *setup(int mode)
{
    memset(&F, 0, sizeof F);
    F.irq_vec = -1;
    h_init(&F.h, mode);
    return &F.h;
}

#define TSS_ADDR 0x120000u

/* 8-byte TSS descriptor (type 9, DPL 0, present) */
static uint64_t tss_desc(uint32_t base, uint32_t limit)
{
    return (uint64_t)(limit & 0xffff) | (uint64_t)(base & 0xffffff) << 16 |
           0x89ull << 40 | (uint64_t)((limit >> 16) & 0xf) << 48 |
           (uint64_t)(base >> 24) << 56;
}

/* IDT gate in the harness IDT: change DPL / IST / present */
static void gate32_attr(struct harness *h, int vec, uint8_t attr)
{
    h_w8(h, H_IDT + (uint64_t)vec * 8 + 5, attr);
}
static void gate64_attr(struct harness *h, int vec, uint8_t attr, uint8_t ist)
{
    h_w8(h, H_IDT + (uint64_t)vec * 16 + 5, attr);
    h_w8(h, H_IDT + (uint64_t)vec * 16 + 4, ist);
}

/* ---- real mode ---- */

GUEST_ASM(real_int, ".code16", "sti\n int $0x21\n hlt");

TEST(real_mode_int_uses_ivt_and_pushes_flags_cs_ip)
{
    struct harness *h = setup(H_REAL);
    h_load(h, real_int, GUEST_LEN(real_int));
    h_run(h);
    CHECK_EQ(h_vector(h), 0x21);
    CHECK_EQ(h_frame(h, 0), 3);             /* IP after INT */
    CHECK_EQ(h_frame(h, 1), H_CODE >> 4);   /* CS */
    CHECK(h_frame(h, 2) & F_IF);            /* FLAGS before */
    CHECK_EQ(h_flags(h) & F_IF, 0);         /* cleared by delivery */
    CHECK_EQ(h->c.regs[R_RSP] & 0xffff, H_STACK16 - 6);
    h_free(h);
}

GUEST_ASM(real_ud, ".code16", "nop\n ud2\n hlt");

TEST(real_mode_fault_pushes_faulting_ip)
{
    struct harness *h = setup(H_REAL);
    h_load(h, real_ud, GUEST_LEN(real_ud));
    h_run(h);
    CHECK_EQ(h_vector(h), EXC_UD);
    CHECK_EQ(h_frame(h, 0), 1);
    h_free(h);
}

/* ---- protected mode ---- */

GUEST_ASM(p32_badsel, ".code32",
          "mov $0x33, %ax\n p32_badsel_at: mov %ax, %ds\n hlt");
extern const uint8_t p32_badsel_at[];

TEST(prot32_gp_error_code_is_the_selector)
{
    struct harness *h = setup(H_PROT32);
    h_load(h, p32_badsel, GUEST_LEN(p32_badsel));
    h_run(h);
    CHECK_EQ(h_vector(h), EXC_GP);
    CHECK_EQ(h_frame(h, 0), 0x30); /* index 6, RPL dropped */
    CHECK_EQ(h_frame(h, 1), H_CODE + (uint64_t)(p32_badsel_at - p32_badsel));
    CHECK_EQ(h_frame(h, 2), 0x08);
    CHECK_EQ(h->c.regs[R_RSP], H_STACK - 16);
    h_free(h);
}

GUEST_ASM(p32_int_beyond, ".code32", "int $0x40\n hlt");

TEST(prot32_vector_beyond_idt_limit_is_gp_with_idt_bit)
{
    struct harness *h = setup(H_PROT32);
    h->c.idtr.limit = 0x20 * 8 - 1;
    h_load(h, p32_int_beyond, GUEST_LEN(p32_int_beyond));
    h_run(h);
    CHECK_EQ(h_vector(h), EXC_GP);
    CHECK_EQ(h_frame(h, 0), 0x40 * 8 + 2); /* INT n: EXT = 0 */
    CHECK_EQ(h_frame(h, 1), H_CODE);       /* the INT instruction */
    h_free(h);
}

/* Kernel: LTR, IRET to ring 3; user: load a ring-3 DS, INT 0x80 (gate
 * DPL 3), then INT 0x81 (gate DPL 0). */
GUEST_ASM(p32_ring3, ".code32",
          "mov $0x30, %ax\n ltr %ax\n"
          "push $0x2b\n push $0x8f00\n pushf\n push $0x23\n"
          "push $(0x10000 + p32_user - p32_ring3)\n iret\n"
          "p32_user: mov $0x2b, %ax\n mov %ax, %ds\n"
          "p32_int80: int $0x80\n hlt");
extern const uint8_t p32_user[], p32_int80[];

static void p32_user_gdt(struct harness *h)
{
    h_w64(h, H_GDT + 0x20, 0x00cffb000000ffffull); /* code32 DPL3 */
    h_w64(h, H_GDT + 0x28, 0x00cff3000000ffffull); /* data DPL3 */
    h_w64(h, H_GDT + 0x30, tss_desc(TSS_ADDR, 0x67));
    h->c.gdtr.limit = 0x37;
    h_w32(h, TSS_ADDR + 4, 0x9000); /* ESP0 */
    h_w32(h, TSS_ADDR + 8, 0x10);   /* SS0 */
}

TEST(prot32_int_from_ring3_switches_to_tss_stack)
{
    struct harness *h = setup(H_PROT32);
    p32_user_gdt(h);
    gate32_attr(h, 0x80, 0xee); /* DPL 3 interrupt gate */
    h_load(h, p32_ring3, GUEST_LEN(p32_ring3));
    h_run(h);
    CHECK_EQ(h_vector(h), 0x80);
    CHECK_EQ(h->c.cpl, 0);
    CHECK_EQ(h->c.seg[S_SS].sel, 0x10);
    CHECK_EQ(h->c.regs[R_RSP], 0x9000 - 20);
    CHECK_EQ(h_frame(h, 0), H_CODE + (uint64_t)(p32_int80 - p32_ring3) + 2);
    CHECK_EQ(h_frame(h, 1), 0x23);
    CHECK_EQ(h_frame(h, 3), 0x8f00);
    CHECK_EQ(h_frame(h, 4), 0x2b);
    CHECK_EQ(h_r8(h, H_GDT + 0x30 + 5), 0x8b); /* LTR marked the TSS busy */
    h_free(h);
}

TEST(prot32_int_to_dpl0_gate_from_ring3_is_gp)
{
    struct harness *h = setup(H_PROT32);
    p32_user_gdt(h);
    h_load(h, p32_ring3, GUEST_LEN(p32_ring3));
    h_run(h);
    CHECK_EQ(h_vector(h), EXC_GP);
    CHECK_EQ(h_frame(h, 0), 0x80 * 8 + 2);
    CHECK_EQ(h_frame(h, 1), H_CODE + (uint64_t)(p32_int80 - p32_ring3));
    CHECK_EQ(h_frame(h, 2), 0x23);
    h_free(h);
}

TEST(prot32_not_present_gp_gate_gives_double_fault)
{
    struct harness *h = setup(H_PROT32);
    gate32_attr(h, EXC_GP, 0x0e); /* P = 0 */
    h_load(h, p32_badsel, GUEST_LEN(p32_badsel));
    h_run(h);
    /* #GP, then #NP(13*8+2+EXT) delivering it: contributory twice -> #DF */
    CHECK_EQ(h_vector(h), EXC_DF);
    CHECK_EQ(h_frame(h, 0), 0);
    CHECK_EQ(h_frame(h, 1), H_CODE + (uint64_t)(p32_badsel_at - p32_badsel));
    h_free(h);
}

TEST(prot32_fault_delivering_double_fault_is_shutdown)
{
    struct harness *h = setup(H_PROT32);
    gate32_attr(h, EXC_GP, 0x0e);
    gate32_attr(h, EXC_DF, 0x0e);
    h_load(h, p32_badsel, GUEST_LEN(p32_badsel));
    CHECK_EQ(h_run(h), CPU_EXIT_SHUTDOWN);
    CHECK(h->c.shutdown);
    CHECK_EQ(h_vector(h), H_NOVEC);
    h_free(h);
}

/* ---- long mode ---- */

GUEST_ASM(lm_ring3, ".code64",
          "mov $0x30, %ax\n ltr %ax\n"
          "push $0x23\n push $0x8f00\n pushf\n push $0x2b\n"
          "push $(0x10000 + lm_user - lm_ring3)\n iretq\n"
          "lm_user: nop\n lm_int80: int $0x80\n hlt");
extern const uint8_t lm_user[], lm_int80[];

static void lm_user_gdt(struct harness *h)
{
    h_w64(h, H_GDT + 0x20, 0x00cff3000000ffffull); /* data DPL3 */
    h_w64(h, H_GDT + 0x28, 0x00affb000000ffffull); /* code64 DPL3 */
    h_w64(h, H_GDT + 0x30, tss_desc(TSS_ADDR, 0x67));
    h_w64(h, H_GDT + 0x38, 0);
    h->c.gdtr.limit = 0x3f;
    h_w64(h, TSS_ADDR + 4, 0x9008);     /* RSP0, not 16-byte aligned */
    h_w64(h, TSS_ADDR + 0x24, 0xa000);  /* IST1 */
}

TEST(long_mode_int_from_ring3_uses_rsp0_aligned_and_null_ss)
{
    struct harness *h = setup(H_LONG);
    lm_user_gdt(h);
    gate64_attr(h, 0x80, 0xee, 0);
    h_load(h, lm_ring3, GUEST_LEN(lm_ring3));
    h_run(h);
    CHECK_EQ(h_vector(h), 0x80);
    CHECK_EQ(h->c.cpl, 0);
    CHECK_EQ(h->c.regs[R_RSP], 0x9000 - 40);
    CHECK_EQ(h->c.seg[S_SS].sel, 0); /* NULL SS, RPL = new CPL */
    CHECK_EQ(h->c.seg[S_CS].sel, 0x18);
    CHECK_EQ(h_frame(h, 0), H_CODE + (uint64_t)(lm_int80 - lm_ring3) + 2);
    CHECK_EQ(h_frame(h, 1), 0x2b);
    CHECK_EQ(h_frame(h, 3), 0x8f00);
    CHECK_EQ(h_frame(h, 4), 0x23);
    h_free(h);
}

TEST(long_mode_ist_stack_is_used_even_without_privilege_change)
{
    struct harness *h = setup(H_LONG);
    lm_user_gdt(h);
    gate64_attr(h, 0x80, 0xee, 1); /* IST1 */
    h_load(h, lm_ring3, GUEST_LEN(lm_ring3));
    h_run(h);
    CHECK_EQ(h_vector(h), 0x80);
    CHECK_EQ(h->c.regs[R_RSP], 0xa000 - 40);
    h_free(h);
}

GUEST_ASM(lm_pf, ".code64",
          "mov $0x600000, %rsp\n lm_pf_at: mov 0x700000, %rax\n hlt");
extern const uint8_t lm_pf_at[];

TEST(long_mode_pf_on_bad_stack_double_faults_onto_ist)
{
    struct harness *h = setup(H_LONG);
    lm_user_gdt(h);
    h_w64(h, H_GDT + 0x30, tss_desc(TSS_ADDR, 0x67));
    h_seg(&h->c, S_TR, 0x30, TSS_ADDR, 0x67, 0x8b);
    gate64_attr(h, EXC_DF, 0x8e, 1);
    h_load(h, lm_pf, GUEST_LEN(lm_pf));
    h_run(h);
    /* #PF, then #PF pushing its frame on the unmapped stack -> #DF */
    CHECK_EQ(h_vector(h), EXC_DF);
    CHECK_EQ(h->c.regs[R_RSP], 0xa000 - 48);
    CHECK_EQ(h_frame(h, 0), 0);
    CHECK_EQ(h_frame(h, 1), H_CODE + (uint64_t)(lm_pf_at - lm_pf));
    CHECK_EQ(h_frame(h, 4), 0x600000); /* RSP at the fault */
    h_free(h);
}

TEST(long_mode_triple_fault_without_ist)
{
    struct harness *h = setup(H_LONG);
    h_load(h, lm_pf, GUEST_LEN(lm_pf));
    CHECK_EQ(h_run(h), CPU_EXIT_SHUTDOWN);
    CHECK(h->c.shutdown);
    h_free(h);
}

/* ---- external events ---- */

static int irq_pending(void *o, struct cpu *c)
{
    (void)c;
    return ((struct fix *)o)->irq_vec;
}

static void irq_ack(void *o, struct cpu *c, int vec)
{
    struct fix *f = o;
    (void)c;
    (void)vec;
    f->acks++;
    f->irq_vec = -1;
}

GUEST_ASM(lm_sti, ".code64", "sti\n lm_sti_nop: nop\n jmp .\n");
extern const uint8_t lm_sti_nop[];
extern const uint8_t lm_nmi_after[];

TEST(external_interrupt_after_sti_shadow)
{
    struct harness *h = setup(H_LONG);
    h->c.irq_pending = irq_pending;
    h->c.irq_ack = irq_ack;
    F.irq_vec = 0x30;
    h_load(h, lm_sti, GUEST_LEN(lm_sti));
    h_run_n(h, 100);
    CHECK_EQ(h_vector(h), 0x30);
    CHECK_EQ(F.acks, 1);
    /* the shadow let the NOP run: the return address is after it */
    CHECK_EQ(h_frame(h, 0), H_CODE + (uint64_t)(lm_sti_nop - lm_sti) + 1);
    CHECK(h_frame(h, 2) & F_IF);
    CHECK_EQ(h_flags(h) & F_IF, 0);
    h_free(h);
}

GUEST_ASM(lm_spin, ".code64", "lm_spin_at: jmp .\n");

TEST(nmi_ignores_if_and_blocks_further_nmis)
{
    struct harness *h = setup(H_LONG);
    h->c.nmi_pending = true;
    h_load(h, lm_spin, GUEST_LEN(lm_spin));
    h_run_n(h, 100);
    CHECK_EQ(h_vector(h), EXC_NMI);
    CHECK(h->c.nmi_blocked);
    CHECK_EQ(h_frame(h, 0), H_CODE);
    h_free(h);
}

TEST(halted_cpu_wakes_for_an_interrupt)
{
    struct harness *h = setup(H_LONG);
    h->c.irq_pending = irq_pending;
    h->c.irq_ack = irq_ack;
    static const uint8_t code[] = {0xfb, 0xf4, 0xf4}; /* sti; hlt; hlt */
    h_load(h, code, sizeof code);
    CHECK_EQ(h_run(h), CPU_EXIT_HLT);
    CHECK(h->c.halted);
    F.irq_vec = 0x31;
    h_run(h);
    CHECK_EQ(h_vector(h), 0x31);
    CHECK_EQ(h_frame(h, 0), H_CODE + 2); /* after the first HLT */
    h_free(h);
}


GUEST_ASM(lm_count, ".code64", "inc %rbx\n cmp $50, %rbx\n jne 0f\n hlt\n 0: jmp lm_count\n");

TEST(smi_is_taken_and_the_guest_runs_on_with_pins_intact)
{
    struct harness *h = setup(H_LONG);
    h->c.cr_pin_enabled = true;
    h->c.cr0 |= CR0_WP;
    CHECK_EQ(cpu_wrmsr(&h->c, MSR_KVM_CR0_PINNED, CRPIN_CR0_WP, false), 0);
    apm_smm_firmware(&h->c); /* the built-in SMI handler in SMRAM */
    h->c.smi_pending = true;
    h_load(h, lm_count, GUEST_LEN(lm_count));
    CHECK_EQ(h_run(h), CPU_EXIT_HLT);
    CHECK(!h->c.smi_pending);
    CHECK(!h->c.in_smm);
    CHECK(!h->c.shutdown);
    CHECK_EQ(h->c.regs[R_RBX], 50);
    CHECK(h->c.cr0 & CR0_WP);
    CHECK_EQ(h->c.pin.cr0_pinned, CRPIN_CR0_WP);
    h_free(h);
}

GUEST_ASM(lm_nmi_iret, ".code64",
          "mov %rsp, %rax\n push $0x10\n push %rax\n pushf\n push $0x18\n"
          "push $(0x10000 + lm_nmi_after - lm_nmi_iret)\n lm_nmi_after_iret: iretq\n"
          "lm_nmi_after: hlt\n");

TEST(iret_unblocks_nmi)
{
    struct harness *h = setup(H_LONG);
    h->c.nmi_blocked = true;
    h->c.nmi_pending = true;
    h_load(h, lm_nmi_iret, GUEST_LEN(lm_nmi_iret));
    h_run(h);
    /* the pending NMI waits for the IRETQ, then is taken at once */
    CHECK_EQ(h_vector(h), EXC_NMI);
    CHECK_EQ(h_frame(h, 0), H_CODE + (uint64_t)(lm_nmi_after - lm_nmi_iret));
    h_free(h);
}


TEST(log_int_lines_match_qemu_format)
{
    struct harness *h = setup(H_PROT32);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    h->log.mask = LOG_INT;
    h->log.out = f;
    h_load(h, p32_badsel, GUEST_LEN(p32_badsel));
    h_run(h);
    fclose(f);
    const char *want =
        "check_exception old: 0xffffffff new 0xd\n"
        "     0: v=0d e=0030 i=0 cpl=0 IP=0008:0000000000010004 pc=0000000000010004 "
        "SP=0010:000000000000f000 env->regs[R_EAX]=0000000000000033\n";
    CHECK(buf && strncmp(buf, want, strlen(want)) == 0);
    if (buf && strncmp(buf, want, strlen(want)) != 0)
        printf("got:\n%s", buf);
    free(buf);
    h_free(h);
}


/* SMI round trip: entry clears CR4 (pinned bits included: SMM is exempt)
 * and RSM restores everything exactly. */
static int violations;
static void count_violation(void *o, struct cpu *c, int cr, uint64_t a, uint64_t b)
{
    (void)o; (void)c; (void)cr; (void)a; (void)b;
    violations++;
}

static void smi_round_trip(int mode, uint64_t extra_cr4)
{
    struct harness *h = setup(mode);
    struct cpu *c = &h->c;
    h->bus.pin_violation = count_violation;
    violations = 0;
    c->cr_pin_enabled = true;
    c->cr4 |= extra_cr4;
    c->cr0 |= CR0_WP;
    CHECK_EQ(cpu_wrmsr(c, MSR_KVM_CR4_PINNED, extra_cr4 & CRPIN_CR4_ALLOWED, false), 0);
    CHECK_EQ(cpu_wrmsr(c, MSR_KVM_CR0_PINNED, CRPIN_CR0_WP, false), 0);
    cpu_state_changed(c);
    apm_smm_firmware(c); /* the built-in SMI handler in SMRAM */
    struct cpu before = *c;
    c->smi_pending = true;
    cpu_check_interrupts(c);
    CHECK(c->in_smm && !c->smi_pending);
    for (int k = 0; k < 100 && c->in_smm; k++)
        cpu_run(c, 1); /* the handler, up to its RSM */
    CHECK(!c->smi_pending && !c->in_smm && !c->shutdown);
    CHECK_EQ(violations, 0);
    CHECK_EQ(c->cr0, before.cr0);
    CHECK_EQ(c->cr3, before.cr3);
    CHECK_EQ(c->cr4, before.cr4);
    CHECK_EQ(c->efer, before.efer);
    CHECK_EQ(c->rip, before.rip);
    CHECK_EQ(cpu_get_eflags(c), cpu_get_eflags(&before));
    CHECK(memcmp(c->seg, before.seg, sizeof c->seg) == 0);
    CHECK_EQ(c->mode, before.mode);
    CHECK_EQ(c->cpl, before.cpl);
    CHECK_EQ(c->pin.cr4_pinned, before.pin.cr4_pinned);
    h_free(h);
}

TEST(smi_round_trip_restores_every_mode_with_pins)
{
    smi_round_trip(H_LONG, CR4_SMEP | CR4_SMAP | CR4_PGE);
    smi_round_trip(H_PROT32, CR4_UMIP);
    smi_round_trip(H_REAL, 0);
}


/* A #GP handler whose first instruction faults again loops forever, as on
 * hardware, but each delivery uses budget: cpu_run() still returns. */
TEST(endless_fault_loop_still_returns_to_the_host)
{
    struct harness *h = setup(H_PROT32);
    h_seg(&h->c, S_DS, 0x10, 0, 0xffffffff, 0xc091); /* DS: read-only data */
    h_load(h, p32_badsel, GUEST_LEN(p32_badsel));
    CHECK_EQ(h_run_n(h, 500), CPU_EXIT_BUDGET);
    CHECK(h->c.icount >= 500);
    h_free(h);
}

/* ---- IA-32e delivery fast path (one TLB lookup for the gate and for the
 * frame) against the piecewise slow path ----
 * Each trial builds a random delivery (gate type/DPL/IST/present, handler
 * CS, CPL, stack near page edges, read-only or not-present or user pages,
 * SMAP, non-canonical stacks) and runs it twice from the same state: with
 * a cold TLB (every access misses, so the slow path) and with a TLB warmed
 * by an identical earlier delivery (the fast path wherever it applies).
 * Registers, segments, flags, CR2, shutdown and memory must be identical.
 * Leaf entries have A and D preset, so the warm-up run changes nothing the
 * warm TLB could go stale on. */
#define FP_PT    0x6000u   /* page table for 0x200000-0x3fffff, 4K pages */
#define FP_LO    0x200000u /* stacks live in [FP_LO, FP_LO + 32 pages) */
#define FP_PAGES 32u

static uint64_t fp_rng = 0x9e3779b97f4a7c15ull;
static uint32_t fp_rand(void)
{
    return (uint32_t)(unit_xorshift64(&fp_rng) >> 11);
}

static uint64_t fp_stack(void)
{
    uint64_t page = FP_LO + (uint64_t)(fp_rand() % FP_PAGES) * 0x1000;
    switch (fp_rand() % 6) {
    case 0: return page + (fp_rand() % 0x60);          /* frame crosses down */
    case 1: return page + 0x1000 - (fp_rand() % 0x40); /* near the top */
    case 2: return page + (fp_rand() & 0xff8);
    case 3: return 0x0000800000000000ull + (fp_rand() % 0x60); /* non-canonical */
    case 4: return 0xffff800000000000ull + (fp_rand() % 0x40); /* unmapped */
    default: return page + (fp_rand() & 0xfff);
    }
}

struct fp_out {
    uint64_t regs[16], rip, next_rip, cr2;
    uint32_t eflags;
    struct seg seg[8];
    unsigned cpl;
    bool shutdown;
};

static void fp_capture(const struct cpu *c, struct fp_out *o)
{
    memset(o, 0, sizeof *o);
    memcpy(o->regs, c->regs, sizeof o->regs);
    o->rip = c->rip;
    o->next_rip = c->next_rip;
    o->cr2 = c->cr2;
    o->eflags = cpu_get_eflags((struct cpu *)c);
    for (int s = 0; s < 8; s++)
        o->seg[s] = c->seg[s];
    o->cpl = c->cpl;
    o->shutdown = c->shutdown;
}

/* RAM the deliveries can touch: tables (0-0x10000), TSS, stacks. */
static void fp_save(struct harness *h, uint8_t *lo, uint8_t *tss, uint8_t *st)
{
    memcpy(lo, h->ram, 0x10000);
    memcpy(tss, h->ram + TSS_ADDR, 0x1000);
    memcpy(st, h->ram + FP_LO, FP_PAGES * 0x1000);
}
static void fp_load(struct harness *h, const uint8_t *lo, const uint8_t *tss,
                    const uint8_t *st)
{
    memcpy(h->ram, lo, 0x10000);
    memcpy(h->ram + TSS_ADDR, tss, 0x1000);
    memcpy(h->ram + FP_LO, st, FP_PAGES * 0x1000);
}

TEST(long_mode_delivery_fast_path_matches_slow_path)
{
    static struct cpu s0, s1;
    static uint8_t lo0[0x10000], tss0[0x1000], st0[FP_PAGES * 0x1000];
    static uint8_t lo1[0x10000], tss1[0x1000], st1[FP_PAGES * 0x1000];
    int warm_hits = 0, trials = 400;

    for (int t = 0; t < trials; t++) {
        struct harness *h = setup(H_LONG);
        struct cpu *c = &h->c;
        lm_user_gdt(h);
        h_seg(c, S_TR, 0x30, TSS_ADDR, 0x67, 0x8b);
        /* A and D preset everywhere; 4K pages for the stack region */
        h_w64(h, H_PML4, 0x4000 | 0x27);
        h_w64(h, 0x4000, 0x5000 | 0x27);
        h_w64(h, 0x5000, 0x000000 | 0xe3); /* supervisor: SMAP-proof tables */
        h_w64(h, 0x5008, FP_PT | 0x27);
        for (unsigned k = 0; k < 512; k++) {
            uint64_t e = (FP_LO + (uint64_t)k * 0x1000) | 0x67; /* P W U A D */
            unsigned r = fp_rand() % 16;
            if (r == 0)
                e &= ~1ull;   /* not present */
            else if (r == 1)
                e &= ~2ull;   /* read-only */
            else if (r < 5)
                e &= ~4ull;   /* supervisor */
            h_w64(h, FP_PT + (uint64_t)k * 8, e);
        }
        h_w64(h, TSS_ADDR + 4, fp_stack());      /* RSP0 */
        h_w64(h, TSS_ADDR + 0x24, fp_stack());   /* IST1 */
        h_w64(h, TSS_ADDR + 0x2c, fp_stack());   /* IST2 */
        if (fp_rand() % 2)
            c->cr4 |= CR4_SMAP;
        if (fp_rand() % 2)
            c->cr0 |= CR0_WP;
        static const int vecs[] = {EXC_BP, EXC_UD, EXC_GP, EXC_PF, EXC_DF, 0x80, 0x41};
        int vec = vecs[fp_rand() % 7];
        static const uint8_t attrs[] = {0x8e, 0x8f, 0xee, 0xef, 0x0e, 0x8c, 0xce};
        gate64_attr(h, vec, attrs[fp_rand() % 7], (uint8_t)(fp_rand() % 4 ? 0 : fp_rand() % 3));
        if (fp_rand() % 8 == 0)
            h_w16(h, H_IDT + (uint64_t)vec * 16 + 2, 0x08); /* 32-bit CS */
        if (fp_rand() % 2) { /* CPL3 */
            h_seg(c, S_CS, 0x2b, 0, 0xffffffff, 0xa0fb);
            h_seg(c, S_SS, 0x23, 0, 0xffffffff, 0xc0f3);
            c->cpl = 3;
        }
        if (fp_rand() % 4 == 0)
            cpu_set_eflags(c, cpu_get_eflags(c) | F_AC);
        cpu_state_changed(c);
        cpu_update_mode(c);
        c->regs[R_RSP] = fp_stack();
        c->rip = H_CODE + (fp_rand() & 0xff);
        c->next_rip = c->rip + 1 + fp_rand() % 3;
        int kind = (int)(fp_rand() % 4); /* EV_EXC, EV_EXT, EV_NMI, EV_SOFT */
        int32_t err = (kind == EV_EXC && (vec == EXC_GP || vec == EXC_PF || vec == EXC_DF))
                          ? (int32_t)(fp_rand() & 0xfff8) : CPU_NOERR;

        s0 = *c;
        fp_save(h, lo0, tss0, st0);

        /* cold: the slow path for every access */
        tlb_flush_all(c);
        deliver_event(c, vec, err, kind);
        struct fp_out a, b;
        fp_capture(c, &a);
        fp_save(h, lo1, tss1, st1);

        /* warm: the same delivery after an identical one filled the TLB */
        *c = s0;
        fp_load(h, lo0, tss0, st0);
        deliver_event(c, vec, err, kind);
        s1.tlb = c->tlb;
        *c = s0;
        c->tlb = s1.tlb;
        fp_load(h, lo0, tss0, st0);
        uint64_t fr = a.regs[R_RSP];
        if (!a.shutdown && mmu_tlb_hit(c, TLB_WRITE, TLB_CTX_SUP, fr, 40))
            warm_hits++;
        deliver_event(c, vec, err, kind);
        fp_capture(c, &b);

        CHECK(memcmp(&a, &b, sizeof a) == 0);
        CHECK(memcmp(h->ram, lo1, sizeof lo1) == 0);
        CHECK(memcmp(h->ram + TSS_ADDR, tss1, sizeof tss1) == 0);
        CHECK(memcmp(h->ram + FP_LO, st1, sizeof st1) == 0);
        if (memcmp(&a, &b, sizeof a) != 0)
            fprintf(stderr, "trial %d: vec %d kind %d rsp %llx\n", t, vec, kind,
                    (unsigned long long)s0.regs[R_RSP]);
        h_free(h);
    }
    CHECK(warm_hits > trials / 8); /* the fast path did run */
}

static const struct unit_test tests[] = {
    T(real_mode_int_uses_ivt_and_pushes_flags_cs_ip),
    T(real_mode_fault_pushes_faulting_ip),
    T(prot32_gp_error_code_is_the_selector),
    T(prot32_vector_beyond_idt_limit_is_gp_with_idt_bit),
    T(prot32_int_from_ring3_switches_to_tss_stack),
    T(prot32_int_to_dpl0_gate_from_ring3_is_gp),
    T(prot32_not_present_gp_gate_gives_double_fault),
    T(prot32_fault_delivering_double_fault_is_shutdown),
    T(long_mode_int_from_ring3_uses_rsp0_aligned_and_null_ss),
    T(long_mode_ist_stack_is_used_even_without_privilege_change),
    T(long_mode_pf_on_bad_stack_double_faults_onto_ist),
    T(long_mode_triple_fault_without_ist),
    T(external_interrupt_after_sti_shadow),
    T(nmi_ignores_if_and_blocks_further_nmis),
    T(halted_cpu_wakes_for_an_interrupt),
    T(smi_is_taken_and_the_guest_runs_on_with_pins_intact),
    T(iret_unblocks_nmi),
    T(log_int_lines_match_qemu_format),
    T(smi_round_trip_restores_every_mode_with_pins),
    T(endless_fault_loop_still_returns_to_the_host),
    T(long_mode_delivery_fast_path_matches_slow_path),
};
UNIT_MAIN(tests)
