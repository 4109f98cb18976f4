/* reset.c: three ways to reset the PC, one after the other, counted by a
 * marker in RAM outside the kernel image (RAM survives a reset; with
 * -kernel the image itself is loaded again on every boot):
 *   boot 1 -> reset control register 0xCF9 (bits 1 and 2: hard reset)
 *   boot 2 -> keyboard controller command 0xFE (pulse the reset line)
 *   boot 3 -> port 0x92 (System Control Port A) bit 0: fast reset
 *   boot 4 -> triple fault (IDT limit 0: #UD -> #GP -> #DF -> shutdown,
 *             which the PC turns into a reset when not run with -no-reboot)
 *   boot 5 -> checks what each boot recorded and exits.
 * Each boot also checks that the reset really reset the CPU (EFER.SCE and
 * MSRs the previous boot set are back to 0) and reloaded the image.
 */
// @reboot: on
#include "kit.h"

/* 48 MiB: beyond the kernel and its pools, in RAM (-m 128), identity-mapped. */
#define MARKER_ADDR  0x3000000ull
#define MARKER_MAGIC 0x5245534554544553ull /* "SETTESER" */

struct marker {
    u64 magic;
    u64 boots;
    u64 clean[5];     /* boot n+1 saw the state boot n left reset */
    u64 reloaded[5];  /* boot n+1 saw .data as in the image */
};

static u64 data_word = 0x1111;

static void dirty_cpu(void)
{
    wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_SCE);
    wrmsr(MSR_STAR, STAR_VALUE);
    wrmsr(MSR_KERNEL_GS_BASE, 0x123456789000ull);
    data_word = 0x2222;
}

static bool cpu_is_clean(void)
{
    return !(rdmsr(MSR_EFER) & EFER_SCE) && rdmsr(MSR_STAR) == 0 &&
           rdmsr(MSR_KERNEL_GS_BASE) == 0;
}

/* After asking for a reset, give the machine time to do it; if it does
 * not, say so: main then reports what it has and fails. */
static void wait_for_reset(const char *how)
{
    for (volatile u32 i = 0; i < 20000000; i++)
        ;
    printf("%s did not reset the machine\n", how);
}

int main(struct mb_info *mbi)
{
    volatile struct marker *m = (volatile struct marker *)MARKER_ADDR;
    (void)mbi;

    if (m->magic != MARKER_MAGIC) {
        memset((void *)m, 0, sizeof(*m));
        m->magic = MARKER_MAGIC;
    } else if (m->boots >= 1 && m->boots <= 5) {
        m->clean[m->boots - 1] = cpu_is_clean();
        m->reloaded[m->boots - 1] = data_word == 0x1111;
    }
    m->boots++;
    printf("boot %lu\n", (u64)m->boots);

    switch (m->boots) {
    case 1:
        dirty_cpu();
        printf("resetting through port 0xcf9\n");
        outb(0xcf9, 0x02);
        outb(0xcf9, 0x06);   /* the 0 -> 1 edge of bit 2 resets */
        wait_for_reset("0xcf9");
        break;
    case 2:
        dirty_cpu();
        printf("resetting through the keyboard controller\n");
        outb(0x64, 0xfe);
        wait_for_reset("0x64 <- 0xfe");
        break;
    case 3:
        dirty_cpu();
        printf("resetting through port 0x92\n");
        outb(0x92, inb(0x92) | 1);
        wait_for_reset("port 0x92 bit 0");
        break;
    case 4: {
        dirty_cpu();
        printf("resetting through a triple fault\n");
        struct dtr empty = { 0, 0 };
        lidt(&empty);
        asm volatile("ud2");
        wait_for_reset("triple fault");
        break;
    }
    default:
        break;
    }
    /* Here on boot 5, or when a reset did not happen: report either way. */
    static const char *const how[4] = { "0xcf9", "keyboard controller", "port 0x92",
                                        "triple fault" };
    report(m->boots == 5, "five boots (%lu)", (u64)m->boots);
    for (int i = 0; i < 4; i++) {
        report(m->clean[i], "reset by %s: EFER.SCE, STAR, KERNEL_GS_BASE are 0 again", how[i]);
        report(m->reloaded[i], "reset by %s: kernel image loaded again", how[i]);
    }
    m->magic = 0; /* a rerun starts over */
    return report_summary();
}
