/* bench_alu.c: a dependent integer chain. Each iteration is exactly
 * ALU_INSNS guest instructions (8 ALU ops on one register, dec, jnz), so
 * n=1e8 is 1e9 instructions and MIPS needs no instruction counter. */
#include "bench.h"

#define ALU_INSNS 10

static u64 alu(u64 n, u64 x)
{
    const u64 k = 0x9e3779b97f4a7c15ull;
    if (!n)
        return x;
    /* Every op reads the previous result; the mix covers add/sub/logic,
     * rotate, shift, imul and lea (which sets no flags). */
    asm volatile("1:\n\t"
                 "add %[k], %[x]\n\t"
                 "rol $13, %[x]\n\t"
                 "xor %[n], %[x]\n\t"
                 "imul $0x2545f491, %[x], %[x]\n\t"
                 "sub $0x1234, %[x]\n\t"
                 "lea 7(%[x],%[x],2), %[x]\n\t"
                 "shr $3, %[x]\n\t"
                 "not %[x]\n\t"
                 "dec %[n]\n\t"
                 "jnz 1b"
                 : [x] "+r"(x), [n] "+r"(n)
                 : [k] "r"(k)
                 : "cc");
    return x;
}

int main(struct mb_info *mbi)
{
    (void)mbi;
    u64 n = bench_arg("n", 100000000);
    bench_setup(false);
    u64 r = alu(n, 1);
    bench_report("alu", n, n * ALU_INSNS, n * ALU_INSNS, r);
    return 0;
}
