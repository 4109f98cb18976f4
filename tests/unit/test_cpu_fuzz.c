/* Robustness: random bytes through the decoder and random code through
 * the whole vCPU must never crash pinvm or break its invariants (the
 * guest can at worst fault or triple-fault itself). Run it under
 * ASan/UBSan (make test-asan) for full value. */
#include "cpu_harness.h"
#include "unit.h"

static uint64_t rs = 0x243f6a8885a308d3ull;

static uint64_t rnd(void)
{
    return unit_xorshift64(&rs);
}

/* Bias towards prefixes and the interesting opcodes so the decoder's
 * corners are reached often. */
static uint8_t rnd_byte(void)
{
    static const uint8_t hot[] = { 0x66, 0x67, 0xf0, 0xf2, 0xf3, 0x2e, 0x64,
                                   0x48, 0x41, 0x0f, 0x38, 0x3a, 0xc7, 0xff,
                                   0x8f, 0xf7, 0x62, 0xc4, 0xd9 };
    uint64_t r = rnd();
    if ((r & 7) == 0)
        return hot[(r >> 8) % sizeof(hot)];
    return (uint8_t)(r >> 16);
}

TEST(decoder_never_overreads_or_returns_garbage)
{
    uint8_t b[15];
    struct insn in;
    static const int sizes[3] = { 2, 4, 8 };
    int bad = 0;
    for (int n = 0; n < 300000; n++) {
        int avail = 1 + (int)(rnd() % 15);
        for (int k = 0; k < avail; k++)
            b[k] = rnd_byte();
        bool more;
        int cs = sizes[n % 3];
        int len = decode_insn(&in, b, avail, cs, &more);
        if (len < 0 || len > avail || in.fn == NULL || (len > 0 && more) ||
            (len > 0 && in.len != len) || in.reg > 15 ||
            (in.mod == 3 && in.rm > 15) || (in.base != 0xff && in.base > 15) ||
            (in.index != 0xff && in.index > 15) ||
            (len > 0 && in.opsize != 1 && in.opsize != 2 && in.opsize != 4 &&
             in.opsize != 8) ||
            (len > 0 && in.addrsize != cs && in.addrsize * 2 != cs &&
             in.addrsize != cs * 2))
            bad++;
    }
    CHECK_EQ(bad, 0);
}

/* Random code in each mode: whatever it does, cpu_run returns. */
TEST(random_code_runs_without_crashing)
{
    static const int modes[3] = { H_REAL, H_PROT32, H_LONG };
    for (int m = 0; m < 3; m++) {
        struct harness h;
        h_init(&h, modes[m]);
        for (int n = 0; n < 150; n++) {
            uint8_t code[96];
            for (size_t k = 0; k < sizeof(code); k++)
                code[k] = rnd_byte();
            /* fresh state each time (random code may wreck it) */
            h_free(&h);
            h_init(&h, modes[m]);
            h_load(&h, code, sizeof(code));
            for (int r = 0; r < 4; r++) {
                enum cpu_exit e = cpu_run(&h.c, 500);
                if (e == CPU_EXIT_SHUTDOWN)
                    break;
                h.c.halted = false; /* keep going past HLT */
            }
            CHECK(h.c.icount <= 4 * 500);
        }
        h_free(&h);
    }
}

static const struct unit_test tests[] = {
    T(decoder_never_overreads_or_returns_garbage),
    T(random_code_runs_without_crashing),
};
UNIT_MAIN(tests)
