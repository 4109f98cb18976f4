/* bench_branchy.c: branch-heavy integer code. A switch-dispatched bytecode
 * interpreter (one indirect jump per bytecode) runs a program that counts
 * the Collatz steps of 1..n, whose odd/even test is data-dependent, then an
 * insertion sort of the step counts (compare-and-branch inner loop).
 * ops = bytecodes executed + sort comparisons. */
#include "bench.h"

enum op { LI, MOV, ADDI, SHRI, ANDI, MUL3P1, JNZ, JEQI, JLE, JMP, STORE, HALT };
struct bc { u8 op, a, b; s32 imm, tgt; };

/* r0 = x, r1 = steps of x, r2 = i, r3 = n, r4 = scratch */
static const struct bc prog[] = {
    /* 0 */ { LI, 2, 0, 1, 0 },
    /* 1 */ { JLE, 2, 3, 0, 3 },        /* i <= n: go on */
    /* 2 */ { HALT, 0, 0, 0, 0 },
    /* 3 */ { MOV, 0, 2, 0, 0 },
    /* 4 */ { LI, 1, 0, 0, 0 },
    /* 5 */ { JEQI, 0, 0, 1, 13 },      /* x == 1: done with i */
    /* 6 */ { ANDI, 4, 0, 1, 0 },
    /* 7 */ { JNZ, 4, 0, 0, 11 },       /* odd */
    /* 8 */ { SHRI, 0, 0, 1, 0 },
    /* 9 */ { ADDI, 1, 1, 1, 0 },
    /* 10 */ { JMP, 0, 0, 0, 5 },
    /* 11 */ { MUL3P1, 0, 0, 0, 0 },
    /* 12 */ { JMP, 0, 0, 0, 9 },       /* share steps++ */
    /* 13 */ { STORE, 1, 2, 0, 0 },     /* steps[i] = r1 */
    /* 14 */ { ADDI, 2, 2, 1, 0 },
    /* 15 */ { JMP, 0, 0, 0, 1 },
};

#define MAX_N 200000
static u32 steps[MAX_N + 1];

/* Runs prog; returns bytecodes executed. */
static u64 interp(const struct bc *code, u64 n)
{
    u64 r[8] = { 0 }, ops = 0;
    r[3] = n;
    for (unsigned pc = 0;;) {
        const struct bc *b = &code[pc++];
        ops++;
        switch (b->op) {
        case LI: r[b->a] = (u64)(s64)b->imm; break;
        case MOV: r[b->a] = r[b->b]; break;
        case ADDI: r[b->a] = r[b->b] + (u64)(s64)b->imm; break;
        case SHRI: r[b->a] >>= b->imm; break;
        case ANDI: r[b->a] = r[b->b] & (u64)(s64)b->imm; break;
        case MUL3P1: r[b->a] = r[b->a] * 3 + 1; break;
        case JNZ: if (r[b->a]) pc = b->tgt; break;
        case JEQI: if (r[b->a] == (u64)(s64)b->imm) pc = b->tgt; break;
        case JLE: if (r[b->a] <= r[b->b]) pc = b->tgt; break;
        case JMP: pc = b->tgt; break;
        case STORE: steps[r[b->b]] = (u32)r[b->a]; break;
        case HALT: return ops;
        }
    }
}

/* Insertion sort of steps[1..m]; returns comparisons. */
static u64 sort(u32 *a, u64 m)
{
    u64 cmps = 0;
    for (u64 i = 1; i < m; i++) {
        u32 v = a[i];
        u64 j = i;
        while (j > 0) {
            cmps++;
            if (a[j - 1] <= v)
                break;
            a[j] = a[j - 1];
            j--;
        }
        a[j] = v;
    }
    return cmps;
}

int main(struct mb_info *mbi)
{
    (void)mbi;
    u64 n = bench_arg("n", 100000);
    if (n > MAX_N)
        n = MAX_N;
    bench_setup(false);
    u64 ops = n ? interp(prog, n) : 0;
    /* Sort a prefix only: insertion sort is quadratic. */
    u64 m = n / 16;
    ops += sort(steps + 1, m);
    u64 h = 0;
    for (u64 i = 1; i <= n; i++)
        h = (h ^ steps[i]) * 0x100000001b3ull;
    bench_report("branchy", n, ops, 0, h);
    return 0;
}
