/* micro_exec.c: interpreter speed on a dependent ALU chain, no devices.
 *
 *   make BUILD=build/bench build/bench/libpinvm.a
 *   gcc -O2 -Isrc -Itests/unit -o build/bench/micro_exec bench/micro_exec.c \
 *       build/bench/libpinvm.a -lZydis -ljansson -lzstd -lm
 *   build/bench/micro_exec [million-instructions [alu|long|mem]]
 *
 * The loop (64-bit mode) is the add/xor/dec/jnz chain of the brief; each
 * instruction depends on the previous one. Prints guest MIPS per CPU
 * second of this process (so other load on the host matters less). */
#include <stdio.h>
#include <time.h>

#include "cpu_harness.h"

GUEST_ASM(chain, ".code64",
          "mov $-1, %edx\n"
          "1: add %ebx, %eax\n xor %eax, %ecx\n add %ecx, %eax\n dec %edx\n jnz 1b\n"
          "hlt");
GUEST_ASM(straight, ".code64",
          "mov $-1, %edx\n"
          "1: .rept 30\n add %ebx, %eax\n xor %eax, %ecx\n .endr\n dec %edx\n jnz 1b\n"
          "hlt");
GUEST_ASM(memchain, ".code64",
          "mov $-1, %edx\n mov $0x100000, %rsi\n"
          "1: add (%rsi), %eax\n mov %eax, 8(%rsi)\n cmp $3, %eax\n dec %edx\n jnz 1b\n"
          "hlt");

static double run(const uint8_t *code, size_t len, uint64_t n)
{
    struct harness h;
    h_init(&h, H_LONG);
    h_load(&h, code, len);
    h.c.regs[R_RBX] = 3;
    struct timespec t0, t1;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
    uint64_t start = h.c.icount;
    while (h.c.icount - start < n)
        if (cpu_run(&h.c, n - (h.c.icount - start)) != CPU_EXIT_BUDGET)
            break;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t1);
    double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
    double mips = (double)(h.c.icount - start) / s / 1e6;
    h_free(&h);
    return mips;
}

int main(int argc, char **argv)
{
    uint64_t n = (argc > 1 ? strtoull(argv[1], NULL, 0) : 200) * 1000000ull;
    const char *only = argc > 2 ? argv[2] : "";
    if (!*only || !strcmp(only, "alu"))
        printf("alu chain:    %.0f MIPS\n", run(chain, GUEST_LEN(chain), n));
    if (!*only || !strcmp(only, "long"))
        printf("long blocks:  %.0f MIPS\n", run(straight, GUEST_LEN(straight), n));
    if (!*only || !strcmp(only, "mem"))
        printf("memory chain: %.0f MIPS\n", run(memchain, GUEST_LEN(memchain), n));
    return 0;
}
