/* MSRs (msr.c) and CPUID (cpuid.c): the pin MSRs for guest and host,
 * present only with the feature; EFER and canonical rules; CPUID leaves
 * and both hypervisor signatures. */
#include <setjmp.h>

#include "cpu/sys.h"
#include "cpu/sysops.h"
#include "cpu_harness.h"
#include "unit.h"

static struct harness h;

static int try_op(struct cpu *c, op_fn fn)
{
    struct insn i = {0};
    c->fault_vec = -1;
    static cpu_jmp_buf jb;
    c->fault_jmp = &jb;
    if (CPU_SETJMP(jb))
        return c->fault_vec;
    fn(c, &i);
    return -1;
}

static int guest_rdmsr(struct cpu *c, uint32_t msr, uint64_t *v)
{
    c->regs[R_RCX] = msr;
    c->regs[R_RAX] = c->regs[R_RDX] = 0xdead;
    int r = try_op(c, op_rdmsr);
    *v = (uint32_t)c->regs[R_RAX] | c->regs[R_RDX] << 32;
    return r;
}

static int guest_wrmsr(struct cpu *c, uint32_t msr, uint64_t v)
{
    c->regs[R_RCX] = msr;
    c->regs[R_RAX] = (uint32_t)v;
    c->regs[R_RDX] = v >> 32;
    return try_op(c, op_wrmsr);
}

TEST(pin_msrs_absent_without_the_feature)
{
    h_init(&h, H_LONG);
    struct cpu *c = &h.c;
    uint64_t v;
    CHECK_EQ(guest_rdmsr(c, MSR_KVM_CR4_PIN_ALLOWED, &v), EXC_GP);
    CHECK_EQ(guest_wrmsr(c, MSR_KVM_CR4_PINNED, CRPIN_CR4_SMEP), EXC_GP);
    CHECK_EQ(c->pin.cr4_pinned, 0);
    CHECK_EQ(cpu_rdmsr(c, MSR_KVM_CR0_PIN_ALLOWED, &v, true), -1);
    h_free(&h);
}

TEST(pin_msrs_guest_vs_host)
{
    h_init(&h, H_LONG);
    struct cpu *c = &h.c;
    c->cr_pin_enabled = true;
    uint64_t v;
    CHECK_EQ(guest_rdmsr(c, MSR_KVM_CR4_PIN_ALLOWED, &v), -1);
    CHECK_EQ(v, CRPIN_CR4_ALLOWED);
    CHECK_EQ(guest_rdmsr(c, MSR_KVM_CR0_PIN_ALLOWED, &v), -1);
    CHECK_EQ(v, CRPIN_CR0_ALLOWED);
    CHECK_EQ(guest_wrmsr(c, MSR_KVM_CR4_PIN_ALLOWED, 0), EXC_GP); /* read-only */
    CHECK_EQ(guest_wrmsr(c, MSR_KVM_CR4_PINNED, CRPIN_CR4_SMEP), -1);
    CHECK_EQ(guest_wrmsr(c, MSR_KVM_CR4_PINNED, CRPIN_CR4_UMIP), -1);
    CHECK_EQ(c->pin.cr4_pinned, CRPIN_CR4_SMEP | CRPIN_CR4_UMIP); /* ORed */
    CHECK_EQ(guest_wrmsr(c, MSR_KVM_CR4_PINNED, CR4_PGE), EXC_GP); /* not allowed */
    CHECK_EQ(guest_rdmsr(c, MSR_KVM_CR4_PINNED, &v), EXC_GP);     /* write-only */
    /* the host reads and replaces */
    CHECK_EQ(cpu_rdmsr(c, MSR_KVM_CR4_PINNED, &v, true), 0);
    CHECK_EQ(v, CRPIN_CR4_SMEP | CRPIN_CR4_UMIP);
    CHECK_EQ(cpu_wrmsr(c, MSR_KVM_CR4_PINNED, 0, true), 0);
    CHECK_EQ(c->pin.cr4_pinned, 0);
    /* guest RDMSR/WRMSR at CPL 3 */
    c->cpl = 3;
    CHECK_EQ(guest_wrmsr(c, MSR_KVM_CR0_PINNED, CRPIN_CR0_WP), EXC_GP);
    CHECK_EQ(c->pin.cr0_pinned, 0);
    h_free(&h);
}

TEST(unknown_msr_is_gp)
{
    h_init(&h, H_LONG);
    struct cpu *c = &h.c;
    uint64_t v;
    CHECK_EQ(guest_rdmsr(c, 0x4b564d05, &v), EXC_GP);
    CHECK_EQ(guest_rdmsr(c, 0x12345678, &v), EXC_GP);
    CHECK_EQ(guest_wrmsr(c, 0xc0000104, 0), EXC_GP);
    CHECK_EQ(guest_wrmsr(c, 0xfe, 0), EXC_GP); /* MTRRcap is read-only */
    h_free(&h);
}

TEST(efer_rules)
{
    h_init(&h, H_LONG);
    struct cpu *c = &h.c;
    uint64_t v;
    CHECK_EQ(guest_rdmsr(c, 0xc0000080, &v), -1);
    CHECK_EQ(v, EFER_LME | EFER_LMA | EFER_NXE);
    CHECK_EQ(guest_wrmsr(c, 0xc0000080, EFER_LMA | EFER_NXE), EXC_GP); /* LME with PG=1 */
    CHECK_EQ(guest_wrmsr(c, 0xc0000080, EFER_LME | EFER_SCE), -1);    /* LMA is kept */
    CHECK_EQ(c->efer, EFER_LME | EFER_LMA | EFER_SCE);
    CHECK_EQ(guest_wrmsr(c, 0xc0000080, EFER_LME | (1ull << 12)), EXC_GP);
    h_free(&h);
}

TEST(canonical_and_misc_msrs)
{
    h_init(&h, H_LONG);
    struct cpu *c = &h.c;
    uint64_t v;
    CHECK_EQ(guest_wrmsr(c, 0xc0000100, 0x0000800000000000ull), EXC_GP);
    CHECK_EQ(guest_wrmsr(c, 0xc0000100, 0xffff800000001000ull), -1);
    CHECK_EQ(c->seg[S_FS].base, 0xffff800000001000ull);
    CHECK_EQ(guest_wrmsr(c, 0xc0000082, 1ull << 50), EXC_GP);
    CHECK_EQ(guest_wrmsr(c, 0xc0000102, 0x1234), -1);
    CHECK_EQ(c->kernel_gs_base, 0x1234);
    CHECK_EQ(guest_wrmsr(c, 0x277, 0x0000000000000002ull), EXC_GP); /* PAT type 2 */
    CHECK_EQ(guest_wrmsr(c, 0x277, 0x0007040600070406ull), -1);
    CHECK_EQ(guest_rdmsr(c, 0x1b, &v), -1);
    CHECK_EQ(v, 0xfee00900u);
    CHECK_EQ(guest_rdmsr(c, 0xfe, &v), -1);
    CHECK_EQ(v & 0xff, 8);
    CHECK_EQ(guest_wrmsr(c, 0x10, 1000), -1);
    CHECK_EQ(guest_rdmsr(c, 0x10, &v), -1);
    CHECK_EQ(v, 1000);
    c->icount += 5;
    CHECK_EQ(guest_rdmsr(c, 0x10, &v), -1);
    CHECK_EQ(v, 1005);
    CHECK_EQ(guest_wrmsr(c, 0xc0000103, 1ull << 32), EXC_GP);
    h_free(&h);
}

static void cpuid(struct cpu *c, uint32_t leaf, uint32_t sub, uint32_t r[4])
{
    c->regs[R_RAX] = leaf;
    c->regs[R_RCX] = sub;
    CHECK_EQ(try_op(c, op_cpuid), -1);
    r[0] = (uint32_t)c->regs[R_RAX];
    r[1] = (uint32_t)c->regs[R_RBX];
    r[2] = (uint32_t)c->regs[R_RCX];
    r[3] = (uint32_t)c->regs[R_RDX];
}

TEST(cpuid_hypervisor_signatures_and_pin_bit)
{
    h_init(&h, H_LONG);
    struct cpu *c = &h.c;
    uint32_t r[4];
    char sig[13] = {0};
    cpuid(c, 0x40000000, 0, r);
    CHECK_EQ(r[0], 0x40000001);
    memcpy(sig, &r[1], 4);
    memcpy(sig + 4, &r[2], 4);
    memcpy(sig + 8, &r[3], 4);
    CHECK(memcmp(sig, "KVMKVMKVM\0\0\0", 12) == 0);
    cpuid(c, 0x40000001, 0, r);
    CHECK_EQ(r[0], 0);
    c->cr_pin_enabled = true;
    cpuid(c, 0x40000001, 0, r);
    CHECK_EQ(r[0], 1u << 14);
    CHECK_EQ(r[1] | r[2] | r[3], 0);
    c->hv_sig_pinvm = true;
    cpuid(c, 0x40000000, 0, r);
    memcpy(sig, &r[1], 4);
    memcpy(sig + 4, &r[2], 4);
    memcpy(sig + 8, &r[3], 4);
    CHECK(memcmp(sig, "PinVMPinVM\0\0", 12) == 0);
    h_free(&h);
}

TEST(cpuid_features_match_implementation)
{
    h_init(&h, H_LONG);
    struct cpu *c = &h.c;
    uint32_t r[4];
    cpuid(c, 0, 0, r);
    CHECK_EQ(r[1], 0x756e6547); /* "Genu" */
    CHECK_EQ(r[3], 0x49656e69); /* "ineI" */
    CHECK_EQ(r[2], 0x6c65746e); /* "ntel" */
    cpuid(c, 1, 0, r);
    CHECK_EQ(r[0], 0x663);
    CHECK(r[2] & (1u << 31));            /* hypervisor */
    CHECK_EQ(r[3] & 1, 0);               /* no x87 */
    CHECK_EQ(r[3] & (1u << 25 | 1u << 26 | 1u << 23 | 1u << 24), 0); /* SSE, SSE2, MMX, FXSR */
    CHECK_EQ(r[2] & (1u << 26 | 1u << 28 | 1u << 17 | 1u << 5 | 1u << 0), 0); /* XSAVE AVX PCID VMX SSE3 */
    CHECK(r[3] & (1u << 6 | 1u << 13 | 1u << 11)); /* PAE PGE SEP */
    cpuid(c, 7, 0, r);
    CHECK_EQ(r[1], (1u << 7) | (1u << 20)); /* SMEP SMAP only */
    CHECK_EQ(r[2], 1u << 2);                /* UMIP */
    cpuid(c, 0x80000001, 0, r);
    CHECK(r[3] & (1u << 29 | 1u << 20 | 1u << 11 | 1u << 27 | 1u << 26));
    CHECK_EQ(r[2] & (1u << 2), 0); /* no SVM */
    cpuid(c, 0x80000008, 0, r);
    CHECK_EQ(r[0] & 0xffff, 0x3028);
    /* above the maximum: the highest basic leaf (Intel) */
    uint32_t r7[4];
    cpuid(c, 7, 0, r7);
    cpuid(c, 0x20, 0, r);
    CHECK_EQ(r[1], r7[1]);
    h_free(&h);
}

static const struct unit_test tests[] = {
    T(pin_msrs_absent_without_the_feature),
    T(pin_msrs_guest_vs_host),
    T(unknown_msr_is_gp),
    T(efer_rules),
    T(canonical_and_misc_msrs),
    T(cpuid_hypervisor_signatures_and_pin_bit),
    T(cpuid_features_match_implementation),
};
UNIT_MAIN(tests)
