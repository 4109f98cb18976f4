/* decode.c: instruction-encoding corners of 64-bit mode that an
 * interpreter's decoder must get right (SDM Vol 2 ch. 2):
 *   - the 15-byte instruction limit (#GP(0) beyond it),
 *   - REX must immediately precede the opcode (else it is ignored),
 *     the last REX wins, REX.W beats 0x66,
 *   - 0x90 is NOP but REX.B 0x90 is XCHG with R8, XCHG EAX,EAX zero-extends,
 *   - 32-bit results zero bits 63:32, 8/16-bit results keep them,
 *   - AH..BH without REX, SPL..DIL with it,
 *   - prefixes that do nothing (segment overrides, branch hints, PAUSE).
 * Byte sequences are spelled out so the assembler cannot "fix" them.
 */
// @qemu-differs: QEMU 7.2 applies a REX prefix that is followed by a legacy prefix (SDM 2.2.1: ignored)
// @qemu-args: -append qemu
#include "kit.h"

/* Run `len` bytes of code (plus a RET) with RAX set and R8, RSI, RDX all
 * set to `r8`; return RAX and R8. */
static u8 code_page[4096] __aligned(4096);
static u64 out_rax, out_r8;

static void run_bytes(const u8 *bytes, unsigned len, u64 rax, u64 r8)
{
    memcpy(code_page, bytes, len);
    code_page[len] = 0xc3;
    asm volatile("movq %2, %%r8\n\t"
                 "movq %2, %%rsi\n\t"
                 "movq %2, %%rdx\n\t"
                 "call *%3\n\t"
                 "movq %%r8, %1"
                 : "+a"(rax), "=&r"(out_r8) : "r"(r8), "r"(code_page)
                 : "r8", "rbx", "rcx", "rdx", "rsi", "rdi", "r9", "r10", "r11", "memory", "cc");
    out_rax = rax;
}

struct code { const u8 *bytes; unsigned len; u64 rax, r8; };
static void run_code(void *p)
{
    struct code *c = p;
    run_bytes(c->bytes, c->len, c->rax, c->r8);
}

static int try_bytes(const u8 *bytes, unsigned len, u64 rax, u64 r8)
{
    struct code c = { bytes, len, rax, r8 };
    return try_call(run_code, &c);
}

#define B(...) ((const u8[]){ __VA_ARGS__ }), sizeof((const u8[]){ __VA_ARGS__ })

static void test_length(void)
{
    u8 buf[20];
    memset(buf, 0x66, sizeof(buf));
    buf[14] = 0x90;                       /* 14 prefixes + NOP = 15 bytes */
    report(try_bytes(buf, 15, 0, 0) == -1, "15-byte instruction executes");
    memset(buf, 0x66, sizeof(buf));
    buf[15] = 0x90;                       /* 16 bytes */
    int v = try_bytes(buf, 16, 0, 0);
    report(v == GP_VECTOR && ex_last.error_code == 0 && ex_last.rip == (u64)code_page,
           "16-byte instruction: #GP(0) at its first byte");
}

static void test_rex(void)
{
    const u64 ones = ~0ull;
    /* REX not right before the opcode is ignored (SDM 2.2.1): 48 66 b8 is
     * mov $imm16, %ax. QEMU 7.2 keeps the REX.W. */
    int v = try_bytes(B(0x48, 0x66, 0xb8, 0x34, 0x12, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90), ones, 0);
    report_sdm(v == -1 && out_rax == 0xffffffffffff1234ull,
               "REX then 0x66: REX ignored, mov imm16 (got vector %d rax %lx)", v, out_rax);
    /* 0x66 then REX.W: REX.W wins -> 64-bit mov with imm32 sign-extended */
    report(try_bytes(B(0x66, 0x48, 0xc7, 0xc0, 0x78, 0x56, 0x34, 0x92), 0, 0) == -1 &&
           out_rax == 0xffffffff92345678ull, "0x66 then REX.W: 64-bit operand");
    /* Two REX prefixes: only the last counts (0x48 then 0x40: no W). */
    report(try_bytes(B(0x48, 0x40, 0xb8, 0x01, 0x00, 0x00, 0x00), ones, 0) == -1 &&
           out_rax == 1, "REX.W then REX: last REX wins (32-bit mov)");
}

static void test_nop_xchg(void)
{
    const u64 a = 0x3333333344444444ull, r8 = 0x1111111122222222ull;
    report(try_bytes(B(0x90), a, r8) == -1 && out_rax == a && out_r8 == r8, "0x90 is NOP");
    report(try_bytes(B(0x41, 0x90), a, r8) == -1 && out_rax == 0x22222222 &&
           out_r8 == 0x44444444, "REX.B 0x90 is xchg r8d, eax (zero-extends both)");
    report(try_bytes(B(0x49, 0x90), a, r8) == -1 && out_rax == r8 && out_r8 == a,
           "REX.WB 0x90 is xchg r8, rax");
    report(try_bytes(B(0x87, 0xc0), a, r8) == -1 && out_rax == 0x44444444,
           "xchg eax, eax (87 c0) zero-extends rax");
    report(try_bytes(B(0xf3, 0x90), a, r8) == -1 && out_rax == a, "pause (f3 90) is a NOP");
    report(try_bytes(B(0x0f, 0x1f, 0x44, 0x00, 0x00), a, r8) == -1 && out_rax == a,
           "multi-byte NOP 0f 1f /0");
}

static void test_widths(void)
{
    const u64 ones = ~0ull;
    report(try_bytes(B(0x83, 0xc0, 0x00), ones, 0) == -1 && out_rax == 0xffffffffull,
           "add $0, eax zeroes bits 63:32");
    /* A shift by a count that masks to 0 changes no flags, but the 32-bit
     * destination is still written, so bits 63:32 clear (SDM 3.4.1.1). */
    report(try_bytes(B(0xc1, 0xe0, 0x00), ones, 0) == -1 && out_rax == 0xffffffffull,
           "shl $0, eax zeroes bits 63:32");
    report(try_bytes(B(0xc1, 0xc0, 0x20), ones, 0) == -1 && out_rax == 0xffffffffull,
           "rol $32, eax (count masks to 0) zeroes bits 63:32");
    report(try_bytes(B(0x66, 0x83, 0xc0, 0x01), ones, 0) == -1 &&
           out_rax == 0xffffffffffff0000ull, "add $1, ax keeps bits 63:16");
    report(try_bytes(B(0x04, 0x01), ones, 0) == -1 && out_rax == 0xffffffffffffff00ull,
           "add $1, al keeps bits 63:8");
    /* Register number 6 in a byte operand: DH without REX, SIL with any REX. */
    report(try_bytes(B(0x88, 0xe0), 0x1234, 0) == -1 && out_rax == 0x1212,
           "88 e0 is mov ah, al");
    report(try_bytes(B(0x88, 0xf0), 0, 0xabcd) == -1 && out_rax == 0xab,
           "88 f0 without REX is mov dh, al");
    report(try_bytes(B(0x40, 0x88, 0xf0), 0, 0xabcd) == -1 && out_rax == 0xcd,
           "40 88 f0 (empty REX) is mov sil, al");
    report(try_bytes(B(0x44, 0x88, 0xc0), 0, 0x77) == -1 && out_rax == 0x77,
           "44 88 c0 (REX.R) is mov r8b, al");
}

static void test_ignored_prefixes(void)
{
    /* CS/SS/DS/ES overrides are ignored in 64-bit mode; 2e/3e on Jcc are hints. */
    static u64 word = 0x5151;
    u64 v;
    asm volatile(".byte 0x26\n\tmovq (%1), %0" : "=r"(v) : "r"(&word)); /* es: */
    report(v == 0x5151, "es: override ignored in 64-bit mode");
    asm volatile(".byte 0x2e\n\tmovq (%1), %0" : "=r"(v) : "r"(&word)); /* cs: */
    report(v == 0x5151, "cs: override ignored in 64-bit mode");
    int taken;
    asm volatile("xorl %0, %0\n\t"
                 "cmpl $0, %0\n\t"
                 ".byte 0x3e\n\t"
                 "je 1f\n\t"
                 "movl $2, %0\n"
                 "1:"
                 : "=&r"(taken) :: "cc");
    report(taken == 0, "branch hint prefix on jcc");
}

int main(struct mb_info *mbi)
{
    (void)mbi;
    test_length();
    test_rex();
    test_nop_xchg();
    test_widths();
    test_ignored_prefixes();
    return report_summary();
}
