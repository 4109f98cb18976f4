/* cpudump.c: the register dump of QEMU's x86_cpu_dump_state (the format
 * of -d cpu_reset and "info registers"), so logs can be compared. */
#include <inttypes.h>
#include <stdio.h>

#include "machine.h"

static const char *const seg_names[] = {"ES", "CS", "SS", "DS", "FS", "GS"};

/* QEMU prints the descriptor's high dword bits 8..23 as "flags"; our attr
 * is exactly those bits shifted down by 8. */
static uint32_t seg_flags(const struct seg *s)
{
    return (uint32_t)s->attr << 8;
}

static void dump_seg(FILE *f, const char *name, const struct seg *s, bool lm)
{
    if (lm)
        fprintf(f, "%-3s=%04x %016" PRIx64 " %08x %08x\n", name, s->sel,
                s->base, s->limit, seg_flags(s));
    else
        fprintf(f, "%-3s=%04x %08x %08x %08x\n", name, s->sel,
                (uint32_t)s->base, s->limit, seg_flags(s));
}

void cpu_dump_state(struct cpu *c, FILE *f)
{
    static const char *const r64[] = {"RAX", "RBX", "RCX", "RDX", "RSI",
                                      "RDI", "RBP", "RSP"};
    static const int idx[] = {R_RAX, R_RBX, R_RCX, R_RDX, R_RSI, R_RDI,
                              R_RBP, R_RSP};
    uint32_t fl = cpu_get_eflags(c);
    bool lm = cpu_long_mode(c);
    char flags[8] = {
        fl & F_DF ? 'D' : '-', fl & F_OF ? 'O' : '-', fl & F_SF ? 'S' : '-',
        fl & F_ZF ? 'Z' : '-', fl & F_AF ? 'A' : '-', fl & F_PF ? 'P' : '-',
        fl & F_CF ? 'C' : '-', 0};

    if (!f)
        return;
    if (lm) {
        for (int i = 0; i < 8; i++)
            fprintf(f, "%s=%016" PRIx64 "%s", r64[i], c->regs[idx[i]],
                    (i & 3) == 3 ? "\n" : " ");
        for (int i = 8; i < 16; i++)
            fprintf(f, "R%d%s=%016" PRIx64 "%s", i, i < 10 ? " " : "",
                    c->regs[i], (i & 3) == 3 ? "\n" : " ");
        fprintf(f, "RIP=%016" PRIx64 " RFL=%08x [%s] CPL=%d II=%d A20=1 SMM=%d HLT=%d\n",
                c->rip, fl, flags, c->cpl, c->intr_shadow, c->in_smm, c->halted);
    } else {
        for (int i = 0; i < 8; i++)
            fprintf(f, "E%s=%08x%s", r64[i] + 1, (uint32_t)c->regs[idx[i]],
                    (i & 3) == 3 ? "\n" : " ");
        fprintf(f, "EIP=%08x EFL=%08x [%s] CPL=%d II=%d A20=1 SMM=%d HLT=%d\n",
                (uint32_t)c->rip, fl, flags, c->cpl, c->intr_shadow,
                c->in_smm, c->halted);
    }
    for (int s = S_ES; s <= S_GS; s++)
        dump_seg(f, seg_names[s], &c->seg[s], lm);
    dump_seg(f, "LDT", &c->seg[S_LDTR], lm);
    dump_seg(f, "TR", &c->seg[S_TR], lm);
    if (lm) {
        fprintf(f, "GDT=     %016" PRIx64 " %08x\n", c->gdtr.base, c->gdtr.limit);
        fprintf(f, "IDT=     %016" PRIx64 " %08x\n", c->idtr.base, c->idtr.limit);
        fprintf(f, "CR0=%08x CR2=%016" PRIx64 " CR3=%016" PRIx64 " CR4=%08x\n",
                (uint32_t)c->cr0, c->cr2, c->cr3, (uint32_t)c->cr4);
        for (int i = 0; i < 4; i++)
            fprintf(f, "DR%d=%016" PRIx64 " ", i, c->dr[i]);
        fprintf(f, "\nDR6=%016" PRIx64 " DR7=%016" PRIx64 "\n", c->dr[6], c->dr[7]);
    } else {
        fprintf(f, "GDT=     %08x %08x\n", (uint32_t)c->gdtr.base, c->gdtr.limit);
        fprintf(f, "IDT=     %08x %08x\n", (uint32_t)c->idtr.base, c->idtr.limit);
        fprintf(f, "CR0=%08x CR2=%08x CR3=%08x CR4=%08x\n", (uint32_t)c->cr0,
                (uint32_t)c->cr2, (uint32_t)c->cr3, (uint32_t)c->cr4);
        for (int i = 0; i < 4; i++)
            fprintf(f, "DR%d=%08x ", i, (uint32_t)c->dr[i]);
        fprintf(f, "\nDR6=%08x DR7=%08x\n", (uint32_t)c->dr[6], (uint32_t)c->dr[7]);
    }
    fprintf(f, "EFER=%016" PRIx64 "\n", c->efer);
}
