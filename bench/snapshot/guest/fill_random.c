/* fill_random: the "mostly random" guest of bench/snapshot/run.py. Fills
 * RAM from 16 MiB to its end with xorshift64* output (incompressible),
 * says so on COM1, then halts with interrupts off: the harness snapshots
 * it over QMP (pinvm keeps serving the socket while it is halted). */
#include "kit.h"

int main(struct mb_info *mbi)
{
    u64 end = ((u64)mbi->mem_upper << 10) + (1ull << 20);
    u64 x = 0x9e3779b97f4a7c15ull;
    u64 *p = (u64 *)(16ull << 20), *e = (u64 *)end;

    for (; p < e; p++) {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        *p = x * 0x2545f4914f6cdd1dull;
    }
    printf("fill_random: filled %llu MiB\n",
           (unsigned long long)((end >> 20) - 16));
    for (;;)
        __asm__ volatile("cli; hlt");
}
