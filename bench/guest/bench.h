/* bench.h: shared by the benchmark kernels (bench/guest/bench_*.c).
 *
 * Every kernel reads its iteration count from the command line ("n=N"),
 * runs the same setup whatever N is (so a run with n=0 times start-up plus
 * setup, and the harness takes the difference), and prints one line
 *
 *     bench NAME n=N ops=OPS [insns=I] result=0x...
 *
 * that bench/run.py compares between pinvm and QEMU. "pin" on the command
 * line pins CR0.WP and CR4.SMEP/SMAP/UMIP before the timed part; without
 * it the same bits are set but not pinned, so the two differ only in the
 * pins (the pinning-overhead column).
 */
#ifndef BENCH_H
#define BENCH_H

#include "kit.h"
#include "crpin.h"

/* Handler stubs count exceptions here (top-level asm refers to it). */
u64 bench_count;

/* The decimal value of "key=N" on the command line, or def. */
static inline u64 bench_arg(const char *key, u64 def)
{
    const char *s = cmdline();
    size_t k = strlen(key);
    while (*s) {
        while (*s == ' ')
            s++;
        if (!strncmp(s, key, k) && s[k] == '=') {
            u64 v = 0;
            for (s += k + 1; *s >= '0' && *s <= '9'; s++)
                v = v * 10 + (u64)(*s - '0');
            return v;
        }
        while (*s && *s != ' ')
            s++;
    }
    return def;
}

/* Set the pinnable CR4 bits this CPU has, then pin them if asked (or if
 * force: the gp workload needs pins to violate). Exits 0x7d if pinning was
 * asked for and is not available, so the harness never times an unpinned
 * run as pinned. */
static inline bool bench_setup(bool force_pin)
{
    u64 cr4 = read_cr4();
    if (cpuid_bit(7, 0, 'b', CPUID_7_EBX_SMEP))
        cr4 |= X86_CR4_SMEP;
    if (cpuid_bit(7, 0, 'b', CPUID_7_EBX_SMAP))
        cr4 |= X86_CR4_SMAP;
    if (cpuid_bit(7, 0, 'c', CPUID_7_ECX_UMIP))
        cr4 |= X86_CR4_UMIP;
    write_cr4(cr4);
    if (!cmdline_has("pin") && !force_pin)
        return false;
    if (crpin_pin_this_cpu(NULL, NULL) != 0) {
        printf("bench: pinning requested but not available\n");
        exit(0x7d);
    }
    return true;
}

static inline void bench_report(const char *name, u64 n, u64 ops, u64 insns,
                                u64 result)
{
    printf("bench %s n=%llu ops=%llu", name, (unsigned long long)n,
           (unsigned long long)ops);
    if (insns)
        printf(" insns=%llu", (unsigned long long)insns);
    printf(" result=0x%llx\n", (unsigned long long)result);
}

#endif
