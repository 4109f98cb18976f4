/* pinvm's SMRAM (0x30000-0x5FFFF) and its built-in SMI handler
 * (firmware/smm/smi_handler.s, docs/smm.md): the handler acknowledges
 * every SMI in the APM status port; SMRAM is closed outside SMM (reads
 * all ones, writes dropped, no code runs from it); SMBASE relocation
 * through the save map; edits the handler makes to the saved state of
 * unpinned bits are what RSM restores.
 * @qemu: skip (SeaBIOS relocates SMBASE into its own SMRAM at 0xA0000 /
 * TSEG, so 0x30000 is ordinary RAM there and its handler ignores these
 * APM commands) */
// @qemu: skip
#include "kit.h"
#include "vm.h"

#define APM_CNT 0xb2
#define APM_STS 0xb3

static u8 smi(u8 cmd)
{
    outb(APM_CNT, cmd);
    return inb(APM_STS);
}

static u64 rd64(u64 pa) { return *(volatile u64 *)pa; }
static void wr64(u64 pa, u64 v) { *(volatile u64 *)pa = v; }

int main(struct mb_info *mbi)
{
    (void)mbi;
    /* Acknowledgement: the status port gets the handler's SMI count. */
    u8 n1 = smi(0x10), n2 = smi(0x11), n3 = smi(0x12);
    report(n1 >= 1 && n2 == (u8)(n1 + 1) && n3 == (u8)(n2 + 1),
           "each SMI acknowledged in port 0xB3 (count %u %u %u)", n1, n2, n3);
    report(inb(APM_CNT) == 0x12, "port 0xB2 reads back the last command");
    outb(APM_STS, 0x77);
    report(inb(APM_STS) == 0x77, "port 0xB3 is a scratch byte");

    /* Closed: reads see all ones, wherever in SMRAM. */
    static const u64 where[] = {0x30000, 0x38000, 0x3fe00, 0x3ff00, 0x48000, 0x5fff8};
    bool ones = true;
    for (unsigned k = 0; k < sizeof where / sizeof where[0]; k++)
        ones &= rd64(where[k]) == ~0ull;
    report(ones, "SMRAM reads as all ones outside SMM");
    wr64(0x2fff8, 0x0123456789abcdefull);
    wr64(0x60000, 0xfedcba9876543210ull);
    report(rd64(0x2fff8) == 0x0123456789abcdefull && rd64(0x60000) == 0xfedcba9876543210ull,
           "RAM just below and above SMRAM is ordinary");
    /* An 8-byte access straddling the start of SMRAM: the SMRAM half is ones */
    report((rd64(0x2fffc) >> 32) == 0xffffffffu, "straddling read: SMRAM half all ones");

    /* The check is on the physical address: another mapping of SMRAM
     * (a 4K page above 4 GiB) sees all ones too. */
    map_4k(0x100000000ul, 0x3f000, PT_PRESENT | PT_WRITABLE);
    wr64(0x100000e00ul, 0);
    report(rd64(0x100000e00ul) == ~0ull && rd64(0x100000f78ul) == ~0ull,
           "an alias mapping of the save map reads all ones, writes dropped");

    /* A page table in SMRAM: the walk reads all-ones entries, which have
     * reserved bits set: #PF with RSVD (SDM 4.7), not the hidden bytes. */
    map_4k(0x200000000ul, 0x100000, PT_PRESENT | PT_WRITABLE);
    u64 *pde = pte_at(0x200000000ul, 2);
    u64 old_pde = *pde;
    *pde = 0x3f000 | PT_PRESENT | PT_WRITABLE;
    invlpg((void *)0x200000000ul);
    u64 dummy;
    asm volatile(ASM_TRY("1f") "mov (%1), %0\n1:" : "=r"(dummy) : "r"(0x200000000ul) : "memory");
    report(exception_vector() == PF_VECTOR && (exception_error_code() & PFERR_RSVD),
           "a page table in SMRAM reads as all ones: #PF(RSVD)");
    *pde = old_pde;
    invlpg((void *)0x200000000ul);

    /* Writes are dropped: overwrite the handler's entry and save area. */
    for (unsigned k = 0; k < sizeof where / sizeof where[0]; k++)
        wr64(where[k], 0);
    report(rd64(0x38000) == ~0ull, "a write into SMRAM has no visible effect");
    u8 n4 = smi(0x13);
    report(n4 == (u8)(n3 + 1), "the handler survived the writes (count %u)", n4);

    /* No code runs from SMRAM: the fetch sees 0xFF bytes, FF FF is #UD. */
    int v = try_call((void (*)(void *))0x38000ul, NULL);
    report(v == UD_VECTOR, "executing at the SMM entry point is #UD (vector %d)", v);

    /* SMBASE relocation through the save map's SMBASE field. */
    report(smi(0xe2) == 0x30, "default SMBASE 0x30000");
    report(smi(0xe1) == 0xe1, "handler relocates SMBASE");
    report(smi(0xe2) == 0x40, "next SMI uses SMBASE 0x40000");
    u8 n5 = smi(0x14);
    report(n5 == 2, "the relocated handler copy counts its own SMIs (%u)", n5);
    report(smi(0xe1) == 0xe1 && smi(0xe2) == 0x30, "and relocates back to 0x30000");
    /* first copy: 0xE2, 0xE1 before, 0xE2 and this one after */
    report(smi(0x15) == (u8)(n4 + 4), "the first copy's count continues");

    /* The handler may edit the saved state of bits that are not pinned:
     * RSM restores what it finds in SMRAM. */
    u64 cr0 = read_cr0();
    smi(0xe4);
    report(!(read_cr0() & X86_CR0_WP), "handler cleared the saved CR0.WP: RSM restores it clear");
    write_cr0(cr0);
    if (cpuid_bit(7, 0, 'b', CPUID_7_EBX_SMEP)) {
        u64 cr4 = read_cr4();
        write_cr4(cr4 | X86_CR4_SMEP);
        smi(0xe3);
        report(!(read_cr4() & X86_CR4_SMEP), "handler cleared the saved CR4.SMEP: RSM restores it clear");
        write_cr4(cr4);
    } else {
        report_skip("no SMEP");
    }
    return report_summary();
}
