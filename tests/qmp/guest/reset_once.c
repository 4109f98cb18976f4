/* reset_once: boot 1 resets the machine through the reset control register
 * (0xCF9), boot 2 exits with RESET_ONCE_DONE: pinvm's status
 * (0x11 << 1) | 1 = 35. For the QMP test of the guest-initiated RESET
 * event. RAM survives the reset (-kernel reloads only the image), so a
 * marker at 32 MiB tells the boots apart. */
#include "kit.h"

#define MARKER ((volatile u64 *)0x2000000ull)
#define MAGIC 0x4f4e43455245534eull
#define RESET_ONCE_DONE 0x11

int main(struct mb_info *mbi)
{
    (void)mbi;
    if (*MARKER != MAGIC) {
        *MARKER = MAGIC;
        printf("reset_once: boot 1, resetting\n");
        outb(0xcf9, 0x02);
        outb(0xcf9, 0x06); /* 0 -> 1 edge of bit 2: reset */
        for (;;)
            asm volatile("hlt");
    }
    *MARKER = 0;
    printf("reset_once: boot 2\n");
    exit(RESET_ONCE_DONE);
}
