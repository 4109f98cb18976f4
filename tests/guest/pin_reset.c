// @reboot: on
/* Every kind of reset clears the pins (the RFC: "userspace must clear
 * pinned bits on reboot"; docs/cr-pinning.md decision d). Each boot pins
 * SMEP and WP, checks they hold, and resets the machine a different way:
 * the reset control register (0xCF9), the keyboard controller (0xFE to
 * port 0x64), fast reset (port 0x92 bit 0), and a triple fault. The next
 * boot, told apart by a marker in RAM outside the kernel image (RAM
 * survives a reset; -kernel reloads the image), checks that SMEP and WP
 * flip freely again, which a leftover pin would refuse. */
#include "kit.h"
#include "crpin.h"

/* 32 MiB: above the kernel image and the kit's pools, inside the 4 GiB
 * identity map and the 128 MiB of RAM the runner gives. */
#define MARKER_ADDR 0x2000000ull
#define MARKER_MAGIC 0x50494e5245534554ull /* "PINRESET" */

struct marker {
    u64 magic;
    u64 boots; /* boots so far, including this one */
};

static void reset_cf9(void)
{
    /* bit 1 = system (not just CPU) reset; the 0 -> 1 edge of bit 2
     * triggers it (PIIX3/ICH reset control register) */
    outb(0xcf9, 0x02);
    outb(0xcf9, 0x06);
}

static void reset_kbc(void)
{
    outb(0x64, 0xfe); /* 8042 command: pulse the reset line */
}

static void reset_port92(void)
{
    u8 v = inb(0x92) & ~1; /* the 0 -> 1 edge of bit 0 resets */
    outb(0x92, v);
    outb(0x92, v | 1);
}

static void reset_triple_fault(void)
{
    static const struct dtr empty = { 0, 0 };
    lidt(&empty);
    asm volatile("ud2"); /* #UD, #GP, #DF all miss the empty IDT */
}

static const struct {
    const char *name;
    void (*fn)(void);
} resets[] = {
    { "0xCF9", reset_cf9 },
    { "keyboard controller", reset_kbc },
    { "port 0x92", reset_port92 },
    { "triple fault", reset_triple_fault },
};

/* Are SMEP and WP free to flip (nothing pinned)? Leaves both set. */
static bool flips_freely(void)
{
    u64 cr4 = read_cr4() | X86_CR4_SMEP, cr0 = read_cr0() | X86_CR0_WP;
    bool ok = write_cr4_safe(cr4) < 0 && write_cr4_safe(cr4 & ~X86_CR4_SMEP) < 0 &&
              write_cr4_safe(cr4) < 0 && write_cr0_safe(cr0 & ~X86_CR0_WP) < 0 &&
              write_cr0_safe(cr0) < 0;
    return ok && read_cr4() == cr4 && read_cr0() == cr0;
}

int main(struct mb_info *mbi)
{
    volatile struct marker *m = (volatile struct marker *)MARKER_ADDR;
    unsigned boot;
    u64 cr0p = 0, cr4p = 0;
    bool ok;

    (void)mbi;
    if (m->magic != MARKER_MAGIC) {
        m->magic = MARKER_MAGIC;
        m->boots = 0;
    }
    boot = (unsigned)++m->boots;
    if (boot > ARRAY_SIZE(resets) + 1) {
        m->magic = 0;
        report(false, "boot %u: more boots than resets", boot);
        return report_summary();
    }
    if (boot > 1)
        ok = report(flips_freely(), "boot %u, after a reset via %s: SMEP and WP flip freely",
                    boot, resets[boot - 2].name);
    else
        ok = report(flips_freely(), "boot 1: nothing pinned");
    if (!ok || boot == ARRAY_SIZE(resets) + 1) {
        m->magic = 0; /* the next run starts over */
        return report_summary();
    }

    write_cr4(read_cr4() | X86_CR4_SMEP);
    write_cr0(read_cr0() | X86_CR0_WP);
    int ret = crpin_pin_this_cpu(&cr0p, &cr4p);
    ok = report(ret == 0 && (cr4p & X86_CR4_SMEP) && (cr0p & X86_CR0_WP),
                "boot %u: SMEP and WP pinned", boot);
    ok &= report(write_cr4_safe(read_cr4() & ~X86_CR4_SMEP) == GP_VECTOR &&
                 write_cr0_safe(read_cr0() & ~X86_CR0_WP) == GP_VECTOR,
                 "boot %u: clearing them is #GP; resetting via %s", boot,
                 resets[boot - 1].name);
    if (!ok) {
        m->magic = 0;
        return report_summary();
    }
    /* The summary comes on the last boot: no "N passed" line before it. */
    resets[boot - 1].fn();
    for (;;)
        hlt();
}
