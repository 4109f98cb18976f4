/* SMM (src/cpu/smm.c, docs/smm.md): the save map SMI entry writes, RSM's
 * checks of the guest-controlled map (each invalid field is a refusal:
 * shutdown, nothing restored to the guest), the pin rule, and SMRAM
 * closure in the MMU (physical and linear accesses, TLB, instruction
 * fetch). A bare vCPU from cpu_harness.h; the built-in handler is put in
 * SMRAM by apm_smm_firmware() as the machine does. */
#include "boot/multiboot.h"
#include "cpu/smm_smram.h"
#include "cpu/sys.h"
#include "cpu_harness.h"
#include "machine/apm.h"
#include "unit.h"

static struct harness H;

/* Long mode with SMEP|SMAP|PGE and WP pinned, then take an SMI: the vCPU
 * is at the handler's first instruction, in SMM. */
static struct cpu *enter_with(uint64_t cr4_bits)
{
    h_init(&H, H_LONG);
    struct cpu *c = &H.c;
    c->cr_pin_enabled = true;
    c->cr0 |= CR0_WP;
    c->cr4 |= cr4_bits;
    cpu_state_changed(c);
    CHECK_EQ(cpu_wrmsr(c, MSR_KVM_CR0_PINNED, CRPIN_CR0_WP, false), 0);
    if (cr4_bits & CR4_SMEP)
        CHECK_EQ(cpu_wrmsr(c, MSR_KVM_CR4_PINNED, CRPIN_CR4_SMEP, false), 0);
    apm_smm_firmware(c);
    c->regs[R_RBX] = 0x1234;
    c->smi_pending = true;
    cpu_check_interrupts(c);
    CHECK(c->in_smm);
    return c;
}

static struct cpu *enter(void)
{
    return enter_with(CR4_SMEP | CR4_SMAP);
}

static uint64_t sm(struct cpu *c, unsigned off)
{
    uint64_t v;
    memcpy(&v, c->ram + c->smbase + off, 8);
    return v;
}
static void sm_set(struct cpu *c, unsigned off, uint64_t v)
{
    memcpy(c->ram + c->smbase + off, &v, 8);
}

TEST(entry_writes_the_amd64_save_map_and_smm_state)
{
    struct cpu *c = enter();
    CHECK_EQ(c->smbase, SMBASE_DEFAULT);
    CHECK_EQ(c->rip, SMM_ENTRY_OFF);
    CHECK_EQ(c->seg[S_CS].base, SMBASE_DEFAULT);
    CHECK_EQ(c->seg[S_CS].sel, SMBASE_DEFAULT >> 4);
    CHECK_EQ(c->mode, MODE_REAL);
    CHECK_EQ(c->cr0 & (CR0_PE | CR0_PG), 0);
    CHECK(c->cr0 & CR0_WP); /* not cleared by entry */
    CHECK_EQ(c->cr4, 0);    /* pinned SMEP cleared: SMM is exempt */
    CHECK_EQ(c->efer, 0);
    CHECK(c->nmi_blocked);
    CHECK_EQ(sm(c, SMS_RIP), 0x10000);
    CHECK(sm(c, SMS_CR4) & CR4_SMEP);
    CHECK(sm(c, SMS_EFER) & EFER_LMA);
    CHECK_EQ(sm(c, SMS_GPR(R_RBX)), 0x1234);
    CHECK_EQ((uint32_t)sm(c, SMS_SMBASE), SMBASE_DEFAULT);
    CHECK_EQ((uint32_t)sm(c, SMS_REVISION), SMM_REVISION);
    CHECK_EQ(c->smm_entry_cr4 & CR4_SMEP, CR4_SMEP);
    h_free(&H);
}

TEST(rsm_restores_the_map)
{
    struct cpu *c = enter();
    sm_set(c, SMS_GPR(R_RBX), 0x5678); /* the handler may edit GPRs */
    CHECK(smm_rsm(c));
    CHECK(!c->in_smm);
    CHECK_EQ(c->mode, MODE_LONG);
    CHECK_EQ(c->rip, 0x10000);
    CHECK_EQ(c->regs[R_RBX], 0x5678);
    CHECK(c->cr4 & CR4_SMEP);
    CHECK(c->efer & EFER_LMA);
    CHECK(!c->nmi_blocked);
    h_free(&H);
}

/* Each edit makes the map invalid: RSM refuses and the vCPU stays in SMM
 * (op_rsm then shuts down). */
static void refused(unsigned off, uint64_t val, bool or_in)
{
    struct cpu *c = enter();
    sm_set(c, off, or_in ? sm(c, off) | val : val);
    CHECK(!smm_rsm(c));
    CHECK(c->in_smm);
    h_free(&H);
}

TEST(rsm_refuses_invalid_or_pin_defeating_state)
{
    refused(SMS_CR4, CR4_SMEP, false);            /* pinned SMEP cleared */
    refused(SMS_CR0, CR0_PE | CR0_PG | CR0_ET, false); /* pinned WP cleared */
    refused(SMS_CR0, 1ull << 40, true);           /* CR0[63:32] */
    refused(SMS_CR4, 1ull << 30, true);           /* reserved CR4 bit */
    refused(SMS_CR3, 1ull << 50, true);           /* above MAXPHYADDR */
    refused(SMS_EFER, 1ull << 3, true);           /* reserved EFER bit */
    refused(SMS_EFER, EFER_LME, false);           /* LMA=0 with LME and PG */
    refused(SMS_RIP, 0x0000800000000000ull, false);/* non-canonical RIP */
    refused(SMS_RFLAGS, F_VM, true);              /* no virtual-8086 */
    refused(SMS_RFLAGS, 1ull << 40, true);
    refused(SMS_DR7, 1ull << 40, true);
    refused(SMS_SEG(S_FS) + 8, 0x0000900000000000ull, false); /* FS base */
    refused(SMS_GDTR + 4, 0x10000, false);
    refused(SMS_SMBASE, 0x100000, false);         /* SMBASE out of SMRAM */
    refused(SMS_SMBASE, 0x20000, false);
    /* CS.L and CS.D both set in IA-32e mode */
    refused(SMS_SEG(S_CS), (uint64_t)(SEG_ATTR_L | SEG_ATTR_DB) << 16, true);
}

TEST(unpinned_edits_and_relocation_are_honoured)
{
    struct cpu *c = enter();
    sm_set(c, SMS_CR4, sm(c, SMS_CR4) & ~CR4_SMAP); /* not pinned */
    sm_set(c, SMS_SMBASE, 0x40000);
    CHECK(smm_rsm(c));
    CHECK(!(c->cr4 & CR4_SMAP) && (c->cr4 & CR4_SMEP));
    CHECK_EQ(c->smbase, 0x40000);
    c->smi_pending = true;
    cpu_check_interrupts(c);
    CHECK(c->in_smm);
    CHECK_EQ(c->seg[S_CS].base, 0x40000);
    CHECK_EQ(sm(c, SMS_RIP), 0x10000);
    h_free(&H);
}

TEST(smram_is_closed_outside_smm)
{
    struct cpu *c = enter_with(0); /* harness pages are U=1: no SMEP/SMAP */
    /* In SMM: the handler's bytes, through phys and linear accesses. */
    uint8_t first = c->ram[SMBASE_DEFAULT + SMM_ENTRY_OFF];
    CHECK_EQ(phys_read(c, SMBASE_DEFAULT + SMM_ENTRY_OFF, 1), first);
    CHECK_EQ(mem_read8(c, S_CS, SMM_ENTRY_OFF), first); /* fills the TLB */
    CHECK(smm_rsm(c));
    /* Outside: all ones, writes dropped, also through the linear path
     * that the TLB served in SMM (flushed by RSM), and fetch. */
    CHECK_EQ(phys_read(c, SMBASE_DEFAULT + SMM_ENTRY_OFF, 8), ~0ull);
    CHECK_EQ(mem_read64(c, S_DS, SMRAM_BASE), ~0ull);
    CHECK_EQ(mem_read64(c, S_DS, SMRAM_END - 8), ~0ull);
    mem_write64(c, S_DS, SMBASE_DEFAULT + SMM_ENTRY_OFF, 0);
    phys_write(c, SMBASE_DEFAULT + SMM_SAVE_OFF, 8, 0);
    CHECK_EQ(c->ram[SMBASE_DEFAULT + SMM_ENTRY_OFF], first);
    CHECK(sm(c, SMS_RIP) == 0x10000);
    uint8_t buf[4];
    uint64_t phys = 0;
    CHECK_EQ(cpu_fetch_code(c, SMBASE_DEFAULT + SMM_ENTRY_OFF, buf, 4, &phys), 4);
    CHECK_EQ(buf[0], 0xff);
    CHECK_EQ(phys, ~0ull);
    CHECK_EQ(cpu_peek_code(c, SMBASE_DEFAULT + SMM_ENTRY_OFF, buf, 1), 1);
    CHECK_EQ(buf[0], 0xff);
    h_free(&H);
}

TEST(smi_is_latched_in_smm_and_rsm_outside_is_ud)
{
    struct cpu *c = enter();
    c->smi_pending = true;
    cpu_check_interrupts(c); /* in SMM: stays pending */
    CHECK(c->smi_pending && c->in_smm);
    CHECK_EQ(c->rip, SMM_ENTRY_OFF);
    CHECK(smm_rsm(c));
    cpu_check_interrupts(c); /* taken now */
    CHECK(c->in_smm && !c->smi_pending);
    h_free(&H);
}

TEST(handler_runs_and_acknowledges)
{
    struct cpu *c = enter();
    for (int k = 0; k < 200 && c->in_smm; k++)
        cpu_run(c, 1);
    CHECK(!c->in_smm && !c->shutdown);
    CHECK_EQ(c->rip, 0x10000);
    CHECK(c->cr4 & CR4_SMEP);
    h_free(&H);
}

/* The save map is guest-controlled: random edits (whole fields, single
 * bits, near-valid values) through RSM never crash or escape; a state RSM
 * accepts runs on, one it refuses leaves the vCPU in SMM. Under ASan and
 * UBSan (make test-asan) this is also a memory-safety check. */
static uint64_t rng(uint64_t *s)
{
    return unit_xorshift64(s);
}

TEST(random_save_maps_never_crash)
{
    static const unsigned fields[] = {
        SMS_SEG(0), SMS_SEG(1), SMS_SEG(2), SMS_SEG(3), SMS_SEG(4), SMS_SEG(5),
        SMS_SEG(0) + 8, SMS_SEG(1) + 8, SMS_SEG(4) + 8, SMS_GDTR, SMS_GDTR + 8,
        SMS_LDTR, SMS_IDTR, SMS_IDTR + 8, SMS_TR, SMS_TR + 8, SMS_NMI_MASK,
        SMS_EFER, SMS_SMBASE, SMS_CR4, SMS_CR3, SMS_CR0, SMS_DR7, SMS_DR6,
        SMS_RFLAGS, SMS_RIP, SMS_GPR(R_RSP)};
    uint64_t seed = 0x9e3779b97f4a7c15ull;
    int accepted = 0, refused_n = 0;
    for (int it = 0; it < 400; it++) {
        struct cpu *c = enter_with(it & 1 ? CR4_SMEP : 0);
        int edits = 1 + (int)(rng(&seed) % 3);
        for (int e = 0; e < edits; e++) {
            unsigned off = fields[rng(&seed) % (sizeof fields / sizeof fields[0])];
            uint64_t v = sm(c, off), r = rng(&seed);
            switch (r % 4) {
            case 0: v ^= 1ull << (r >> 8) % 64; break;   /* one bit */
            case 1: v = r; break;                         /* anything */
            case 2: v = (uint32_t)r; break;
            default: v ^= (r >> 16) & 0xffff; break;      /* low bits */
            }
            sm_set(c, off, v);
        }
        if (smm_rsm(c)) {
            accepted++;
            CHECK(!c->in_smm);
            CHECK(smbase_valid(c->smbase));
            CHECK_EQ((c->cr0 ^ c->smm_entry_cr0) & c->pin.cr0_pinned, 0);
            CHECK_EQ((c->cr4 ^ c->smm_entry_cr4) & c->pin.cr4_pinned, 0);
            cpu_run(c, 200); /* whatever the state, the interpreter copes */
        } else {
            refused_n++;
            CHECK(c->in_smm);
        }
        h_free(&H);
    }
    CHECK(accepted > 20 && refused_n > 20);
}

/* The loader does not put a kernel in SMRAM (the guest could not read it). */
TEST(loader_refuses_a_kernel_in_smram)
{
    static uint8_t ram[4u << 20], img[0x2000];
    memset(img, 0x90, sizeof img);
    uint32_t hdr[8] = {0x1badb002u, 1u << 16, 0, 0x30000, 0x30000, 0, 0, 0x30020};
    hdr[2] = (uint32_t)-(hdr[0] + hdr[1]);
    memcpy(img, hdr, sizeof hdr);
    struct mb_params p = {"k.elf", NULL, NULL};
    struct mb_result res;
    char err[200] = "";
    CHECK_EQ(multiboot_load_image(ram, sizeof ram, img, sizeof img, &p, &res,
                                  err, sizeof err), -1);
    CHECK(strstr(err, "overlaps SMRAM") != NULL);
    hdr[3] = hdr[4] = 0x100000; /* at 1 MiB, the same image loads */
    hdr[7] = 0x100020;
    memcpy(img, hdr, sizeof hdr);
    CHECK_EQ(multiboot_load_image(ram, sizeof ram, img, sizeof img, &p, &res,
                                  err, sizeof err), 0);
}

static const struct unit_test tests[] = {
    T(entry_writes_the_amd64_save_map_and_smm_state),
    T(rsm_restores_the_map),
    T(rsm_refuses_invalid_or_pin_defeating_state),
    T(unpinned_edits_and_relocation_are_honoured),
    T(smram_is_closed_outside_smm),
    T(smi_is_latched_in_smm_and_rsm_outside_is_ud),
    T(handler_runs_and_acknowledges),
    T(random_save_maps_never_crash),
    T(loader_refuses_a_kernel_in_smram),
};

UNIT_MAIN(tests)
