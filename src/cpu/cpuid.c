/* cpuid.c: CPUID advertises exactly what pinvm implements (SDM Vol 2A
 * CPUID). No x87/MMX/SSE/AVX/XSAVE, no PCID/PKU/VMX/SVM, no FSGSBASE.
 *
 * Vendor: GenuineIntel. We follow Intel where vendors differ, e.g. SYSCALL
 * and SYSRET are #UD outside 64-bit mode (AMD allows SYSCALL in
 * compatibility and legacy mode), null FS/GS loads zero the base, and
 * out-of-range leaves return the highest basic leaf. One vendor keeps the
 * guest-visible behaviour consistent with one manual. */
#include "sys.h"
#include "sysops.h"

/* family 6, model 6, stepping 3: a generic Intel P6-family signature (as
 * QEMU's qemu32 model), so guests apply no model-specific quirks. Also the
 * EDX value after reset (system.c). */
#define CPU_SIGNATURE 0x00000663u

#define MAX_BASIC    0x7u
#define MAX_EXTENDED 0x80000008u

/* leaf 1 EDX */
#define F1D_DE    (1u << 2)
#define F1D_PSE   (1u << 3)
#define F1D_TSC   (1u << 4)
#define F1D_MSR   (1u << 5)
#define F1D_PAE   (1u << 6)
#define F1D_MCE   (1u << 7) /* CR4.MCE may be set; #MC never occurs */
#define F1D_CX8   (1u << 8)
#define F1D_APIC  (1u << 9)
#define F1D_SEP   (1u << 11)
#define F1D_MTRR  (1u << 12)
#define F1D_PGE   (1u << 13)
#define F1D_CMOV  (1u << 15)
#define F1D_PAT   (1u << 16)
/* leaf 1 ECX */
#define F1C_CX16   (1u << 13)
#define F1C_X2APIC (1u << 21) /* x2APIC MSRs (machine/lapic.c) */
#define F1C_TSC_DEADLINE (1u << 24) /* LVT timer mode 10b, MSR 0x6e0 */
#define F1C_POPCNT (1u << 23)
#define F1C_HYPERVISOR (1u << 31)
/* leaf 7.0 EBX / ECX */
#define F7B_SMEP (1u << 7)
#define F7B_SMAP (1u << 20)
#define F7C_UMIP (1u << 2)
/* 0x80000001 ECX / EDX */
#define FE1C_LAHF (1u << 0)
#define FE1C_ABM  (1u << 5) /* LZCNT */
#define FE1D_SYSCALL (1u << 11)
#define FE1D_NX      (1u << 20)
#define FE1D_PDPE1GB (1u << 26)
#define FE1D_RDTSCP  (1u << 27)
#define FE1D_LM      (1u << 29)

static uint32_t str4(const char *s)
{
    return (uint32_t)(uint8_t)s[0] | (uint32_t)(uint8_t)s[1] << 8 |
           (uint32_t)(uint8_t)s[2] << 16 | (uint32_t)(uint8_t)s[3] << 24;
}

void cpu_cpuid(const struct cpu *c, uint32_t leaf, uint32_t sub,
               uint32_t out[4])
{
    out[0] = out[1] = out[2] = out[3] = 0;

    if (leaf >= 0x40000000u && leaf <= 0x4fffffffu) {
        /* Hypervisor leaves (KVM's layout). The signature is switchable:
         * see docs/cr-pinning.md "ABI collision". */
        if (leaf == 0x40000000u) {
            const char *sig = c->hv_sig_pinvm ? "PinVMPinVM\0\0" : "KVMKVMKVM\0\0\0";
            out[0] = 0x40000001u;
            out[1] = str4(sig);
            out[2] = str4(sig + 4);
            out[3] = str4(sig + 8);
        } else if (leaf == 0x40000001u) {
            /* Only KVM_FEATURE_CR_PIN, and only when exposed. */
            out[0] = c->cr_pin_enabled ? 1u << KVM_FEATURE_CR_PIN : 0;
        }
        return;
    }
    /* Intel: a leaf above the maximum returns the highest basic leaf. */
    if (leaf >= 0x80000000u) {
        if (leaf > MAX_EXTENDED)
            leaf = MAX_BASIC;
    } else if (leaf > MAX_BASIC) {
        leaf = MAX_BASIC;
    }

    switch (leaf) {
    case 0:
        out[0] = MAX_BASIC;
        out[1] = str4("Genu");
        out[3] = str4("ineI");
        out[2] = str4("ntel");
        break;
    case 1:
        out[0] = CPU_SIGNATURE;
        out[1] = (uint32_t)(c->cpu_index & 0xff) << 24; /* initial APIC ID */
        out[2] = F1C_CX16 | F1C_X2APIC | F1C_POPCNT | F1C_TSC_DEADLINE |
                 F1C_HYPERVISOR;
        out[3] = F1D_DE | F1D_PSE | F1D_TSC | F1D_MSR | F1D_PAE | F1D_MCE | F1D_CX8 |
                 F1D_APIC | F1D_SEP | F1D_MTRR | F1D_PGE | F1D_CMOV | F1D_PAT;
        break;
    case 7:
        if (sub == 0) {
            out[1] = F7B_SMEP | F7B_SMAP;
            out[2] = F7C_UMIP;
        }
        break;
    case 0x80000000u:
        out[0] = MAX_EXTENDED;
        break;
    case 0x80000001u:
        out[2] = FE1C_LAHF | FE1C_ABM;
        out[3] = FE1D_SYSCALL | FE1D_NX | FE1D_PDPE1GB | FE1D_RDTSCP | FE1D_LM;
        break;
    case 0x80000002u:
    case 0x80000003u:
    case 0x80000004u: {
        /* brand string, 48 bytes, NUL padded */
        static const char brand[48] = "pinvm virtual CPU";
        const char *p = brand + 16 * (leaf - 0x80000002u);
        for (int k = 0; k < 4; k++)
            out[k] = str4(p + 4 * k);
        break;
    }
    case 0x80000008u:
        out[0] = 48u << 8 | CPU_MAXPHYADDR; /* linear / physical bits */
        break;
    default:
        break; /* leaves 2-6, 0x80000005-7: nothing to report */
    }
}

void op_cpuid(struct cpu *c, const struct insn *i)
{
    (void)i;
    uint32_t r[4];
    cpu_cpuid(c, (uint32_t)c->regs[R_RAX], (uint32_t)c->regs[R_RCX], r);
    c->regs[R_RAX] = r[0];
    c->regs[R_RBX] = r[1];
    c->regs[R_RCX] = r[2];
    c->regs[R_RDX] = r[3];
}
