/* mbentry.c: see mbentry.h. Selector values, GDT and CR0 are what QEMU's
 * multiboot option ROM (pc-bios/optionrom/multiboot.S) leaves: CS = 0x08,
 * data = 0x10, CR0 = PE | ET (0x11), GDTR pointing at its 5-entry GDT
 * (ours is at MB_GDT_ADDR, written by the loader). */
#include "mbentry.h"

#include <string.h>

/* Hidden parts of flat 4 GiB segments (attr = descriptor bits 40..55):
 * G | D/B | P | S | type. */
#define ATTR_CODE32 (SEG_ATTR_G | SEG_ATTR_DB | SEG_ATTR_P | SEG_ATTR_S | 0xb)
#define ATTR_DATA32 (SEG_ATTR_G | SEG_ATTR_DB | SEG_ATTR_P | SEG_ATTR_S | 0x3)

void multiboot_enter(struct cpu *c, const struct mb_result *r)
{
    memset(c->regs, 0, sizeof c->regs);
    c->regs[R_RAX] = MB_BOOT_MAGIC;
    c->regs[R_RBX] = r->info_addr;
    c->regs[R_RSP] = MB_STACK_TOP;
    c->rip = r->entry;
    c->next_rip = r->entry;
    cpu_set_eflags(c, 0x2);

    for (int s = S_ES; s <= S_GS; s++) {
        c->seg[s].sel = MB_SEL_DATA32;
        c->seg[s].base = 0;
        c->seg[s].limit = 0xffffffffu;
        c->seg[s].attr = ATTR_DATA32;
    }
    c->seg[S_CS].sel = MB_SEL_CODE32;
    c->seg[S_CS].attr = ATTR_CODE32;

    c->gdtr.base = MB_GDT_ADDR;
    c->gdtr.limit = MB_GDT_LIMIT;
    c->idtr.base = 0; /* the real-mode IVT the BIOS left */
    c->idtr.limit = 0x3ff;

    c->cr0 = CR0_PE | CR0_ET;
    c->cr2 = c->cr3 = c->cr4 = 0;
    c->efer = 0;
    c->halted = false;
    cpu_state_changed(c);
}
