/* halt_once: boot 1 halts with interrupts off (nothing but the host can
 * end that); boot 2, after a host system_reset, exits with HALT_ONCE_DONE:
 * pinvm's status (0x12 << 1) | 1 = 37. A marker in RAM, which survives
 * the reset, tells the boots apart. */
#include "kit.h"

#define MARKER ((volatile u64 *)0x2000000ull)
#define MAGIC 0x4841544c4f4e4345ull
#define HALT_ONCE_DONE 0x12

int main(struct mb_info *mbi)
{
    (void)mbi;
    if (*MARKER != MAGIC) {
        *MARKER = MAGIC;
        printf("halt_once: boot 1, halting\n");
        for (;;)
            asm volatile("cli; hlt");
    }
    *MARKER = 0;
    printf("halt_once: boot 2\n");
    exit(HALT_ONCE_DONE);
}
