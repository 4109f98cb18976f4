/* hello.c: the smallest kit kernel: output, a report, the summary. */
#include "kit.h"

int main(struct mb_info *mbi)
{
    report(boot_magic == MB_BOOT_MAGIC, "multiboot magic");
    report(mbi && (mbi->flags & MB_INFO_MEM), "multiboot memory info");
    report(read_cs() == KERNEL_CS, "64-bit kernel code segment");
    printf("%d %i %u %x %lx %llx %s %c %05d|%-4d|%4x|%p\n", -42, 7, 3000000000u,
           0xbeefu, 0x123456789abul, 0xfedcba9876543210ull, "str", 'c', 42, 7,
           0xab, (void *)0x1000);
    return report_summary();
}
