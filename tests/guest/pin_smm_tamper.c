/* A saved state edited inside SMM must not defeat a pin: RSM refuses it
 * and shuts down (docs/cr-pinning.md, decision (c)). Run with no command
 * line by the suite (a control: SMIs round-trip); tests/smm/run.sh runs
 * it with one of these words on the command line and expects shutdown:
 *   tamper-smep     handler clears CR4.SMEP (pinned) in the saved CR4
 *   tamper-wp       handler clears CR0.WP (pinned) in the saved CR0
 *   tamper-invalid  handler makes the saved CR0 invalid (PG without PE)
 *   tamper-smbase   handler moves SMBASE outside SMRAM
 *   unpinned-smep   as tamper-smep without pinning SMEP: must return */
#include "kit.h"
#include "crpin.h"

int main(struct mb_info *mbi)
{
    (void)mbi;
    u64 smep = cpuid_bit(7, 0, 'b', CPUID_7_EBX_SMEP) ? X86_CR4_SMEP : 0;
    write_cr4(read_cr4() | smep);
    if (!cmdline_has("unpinned-smep")) {
        u64 cr0p = 0, cr4p = 0;
        report(crpin_pin_this_cpu(&cr0p, &cr4p) == 0 && (cr4p & smep) == smep,
               "pinned WP and SMEP");
    }
    u64 cr0 = read_cr0(), cr4 = read_cr4();
    static const struct { const char *word; u8 cmd; } mode[] = {
        {"tamper-smep", 0xe3}, {"tamper-wp", 0xe4}, {"tamper-invalid", 0xe5},
        {"tamper-smbase", 0xe6}, {"unpinned-smep", 0xe3},
    };
    for (unsigned k = 0; k < sizeof mode / sizeof mode[0]; k++) {
        if (!cmdline_has(mode[k].word))
            continue;
        printf("SMI with APM command 0x%x (%s)\n", mode[k].cmd, mode[k].word);
        outb(0xb2, mode[k].cmd);
        printf("RSM returned: CR0 %llx CR4 %llx\n", (unsigned long long)read_cr0(),
               (unsigned long long)read_cr4());
        if (k < 4)
            return 3; /* the pin (or SMRAM) was defeated */
        report(!(read_cr4() & X86_CR4_SMEP), "unpinned SMEP cleared by the handler");
        return report_summary();
    }
    outb(0xb2, 0x10);
    report(read_cr0() == cr0 && read_cr4() == cr4, "control: SMI round trip");
    return report_summary();
}
