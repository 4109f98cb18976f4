/* decode_xcheck.c: pinvm's decoder (decode_insn) against Zydis on random
 * bytes in 16-, 32- and 64-bit code.
 *
 * For each random 15-byte buffer (biased toward prefixes, the 0F maps and
 * ModRM forms), both decoders say "invalid" or give a length. Zydis's
 * verdict is classified by ISA extension:
 *   - implemented classes (base integer set, long mode, LZCNT/POPCNT,
 *     SMAP, PAUSE ...): both must agree on validity and length; a
 *     disagreement is a mismatch, printed with a one-line reproducer
 *     `decode_xcheck -m BITS -x HEX`;
 *   - classes pinvm deliberately does not implement (x87, MMX, SSE, AVX,
 *     ... and system extensions like VMX/SVM/SGX): pinvm must say invalid
 *     (#UD); counted separately, a valid decode there is also a mismatch
 *     since the handler would be wrong.
 * Known disagreements are listed with their reason in
 * tests/difftest/decode_regress.txt (an instruction pinvm does not decode
 * yet, by Zydis mnemonic and mode); a listed one is counted as expected, and
 * one that starts to agree fails so the entry is removed.
 *
 *   decode_xcheck [-n N] [-s SEED] [-m 16|32|64 -x HEX] [-v]
 *
 * The last line is "N passed, M failed" (the suite runs it as a unit test). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <Zydis/Zydis.h>

#include "cpu_harness.h"

#define DEFAULT_N 100000

static uint64_t rng;
static uint64_t rnd(void)
{
    uint64_t z = (rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* A random buffer: 0-3 prefixes, maybe REX (64-bit), maybe 0F / 0F38 /
 * 0F3A, then random bytes (opcode, ModRM, SIB, displacement, immediate). */
static void fill(uint8_t *b, int bits)
{
    static const uint8_t pfx[] = { 0x66, 0x67, 0xf2, 0xf3, 0xf0, 0x2e, 0x36,
                                   0x3e, 0x26, 0x64, 0x65 };
    int n = 0;
    for (int k = 0; k < 15; k++)
        b[k] = (uint8_t)rnd();
    uint64_t r = rnd();
    int np = (int)(r & 3);
    if ((r >> 2 & 3) == 0)
        np = 0;
    for (int k = 0; k < np; k++)
        b[n++] = pfx[(r >> (4 + 4 * k)) % sizeof pfx];
    if (bits == 64 && (r >> 20 & 1))
        b[n++] = (uint8_t)(0x40 | (r >> 21 & 15));
    switch (r >> 25 & 7) {
    case 0: case 1: case 2:
        b[n++] = 0x0f;
        break;
    case 3:
        b[n++] = 0x0f;
        b[n++] = (r >> 28 & 1) ? 0x38 : 0x3a;
        break;
    default:
        break;
    }
}

/* Extensions whose instructions pinvm implements. */
static bool implemented(ZydisISAExt e, ZydisMnemonic mn)
{
    if (mn == ZYDIS_MNEMONIC_POPCNT || mn == ZYDIS_MNEMONIC_TZCNT)
        return true;               /* filed under SSE4 / BMI1 by Zydis */
    switch (e) {
    case ZYDIS_ISA_EXT_BASE:
    case ZYDIS_ISA_EXT_LONGMODE:
    case ZYDIS_ISA_EXT_LZCNT:
    case ZYDIS_ISA_EXT_SMAP:
    case ZYDIS_ISA_EXT_PAUSE:
    case ZYDIS_ISA_EXT_RDTSCP:
        return true;
    default:
        return false;
    }
}

struct known {
    int bits;
    char mnem[32];
    char hex[40];          /* a reproducer: must still disagree */
    char reason[160];
    int hits;
};
static struct known known[256];
static int nknown;

static void load_known(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    char line[512];
    while (fgets(line, sizeof line, f) && nknown < 256) {
        struct known *k = &known[nknown];
        int pos = 0;
        if (line[0] == '#' || line[0] == '\n')
            continue;
        if (sscanf(line, "%d %31s %39s %n", &k->bits, k->mnem, k->hex, &pos) >= 3) {
            snprintf(k->reason, sizeof k->reason, "%s", line + pos);
            k->reason[strcspn(k->reason, "\n")] = 0;
            nknown++;
        }
    }
    fclose(f);
}

static struct known *find_known(int bits, const char *mnem)
{
    for (int k = 0; k < nknown; k++)
        if (!strcmp(known[k].mnem, "fixed"))
            continue;
        else
        if ((known[k].bits == bits || known[k].bits == 0) && !strcmp(known[k].mnem, mnem))
            return &known[k];
    return NULL;
}

enum { AGREE_VALID, AGREE_INVALID, LATE_UD, UD_DELIBERATE, EXTRA_OK, KNOWN, MISMATCH, NKIND };

/* Bytes Zydis calls invalid that pinvm decodes: its handler must raise #UD
 * when run (MOV to a reserved CR, MOV to CS, a register far CALL ...).
 * Run the instruction alone (followed by HLT) at CPL0 in that mode. */
static bool raises_ud(const uint8_t *b, int len, int bits)
{
    static struct harness h;
    h_init(&h, bits == 16 ? H_REAL : bits == 32 ? H_PROT32 : H_LONG);
    uint8_t code[16];
    memcpy(code, b, (size_t)len);
    code[len] = 0xf4;
    h_load(&h, code, (size_t)len + 1);
    cpu_run(&h.c, 64);
    bool ud = h_vector(&h) == 6 && h_frame(&h, 0) == h_ip(&h, 0);
    h_free(&h);
    return ud;
}
static uint64_t tally[3][NKIND];
static int verbose;

static void hex(const uint8_t *b, int n, char *out)
{
    for (int k = 0; k < n; k++)
        sprintf(out + 2 * k, "%02x", b[k]);
}

/* Check one buffer; returns the kind. */
static int check(const uint8_t *b, int bits, bool print)
{
    static ZydisDecoder dec[3];
    static bool init;
    if (!init) {
        ZydisDecoderInit(&dec[0], ZYDIS_MACHINE_MODE_LEGACY_16, ZYDIS_STACK_WIDTH_16);
        ZydisDecoderInit(&dec[1], ZYDIS_MACHINE_MODE_LEGACY_32, ZYDIS_STACK_WIDTH_32);
        ZydisDecoderInit(&dec[2], ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64);
        init = true;
    }
    int m = bits == 16 ? 0 : bits == 32 ? 1 : 2;
    ZydisDecodedInstruction zi;
    ZydisDecoderContext ctx;
    bool zok = ZYAN_SUCCESS(ZydisDecoderDecodeInstruction(&dec[m], &ctx, b, 15, &zi));
    struct insn pi;
    bool need_more = false;
    int plen = decode_insn(&pi, b, 15, bits / 8, &need_more);
    const char *mn = zok ? ZydisMnemonicGetString(zi.mnemonic) : "(invalid)";
    bool impl = zok && implemented(zi.meta.isa_ext, zi.mnemonic);
    int kind;
    if (zok && (zi.mnemonic == ZYDIS_MNEMONIC_UD0 || zi.mnemonic == ZYDIS_MNEMONIC_UD1 ||
                zi.mnemonic == ZYDIS_MNEMONIC_UD2))
        kind = plen == 0 || raises_ud(b, plen, bits) ? LATE_UD : MISMATCH;
    else if (!zok && plen && pi.map == 1 && pi.opcode >= 0x18 && pi.opcode <= 0x1f)
        kind = EXTRA_OK;           /* 0F 18-1F: hint NOPs (SDM Vol 2, Table A-3, note);
                                    * Zydis rejects some MPX forms, a CPU without MPX runs
                                    * them as NOPs */
    else if (!zok)
        kind = plen == 0 ? AGREE_INVALID : raises_ud(b, plen, bits) ? LATE_UD : MISMATCH;
    else if (!impl)                /* x87/SSE/...: #UD, or a NOP-like hint of the same length */
        kind = plen == 0 ? UD_DELIBERATE : plen == zi.length ? EXTRA_OK : MISMATCH;
    else if (plen == zi.length)
        kind = AGREE_VALID;
    else
        kind = MISMATCH;
    if (kind == MISMATCH) {
        char key[32];
        if (zok)
            snprintf(key, sizeof key, "%s", mn);
        else
            snprintf(key, sizeof key, "invalid-%s%02x", pi.map == 1 ? "0f" : pi.map == 2 ? "0f38"
                     : pi.map == 3 ? "0f3a" : "", pi.opcode);
        struct known *k = find_known(bits, key);
        if (k) {
            k->hits++;
            kind = KNOWN;
        }
    }
    if ((kind == MISMATCH && print) || verbose > 1) {
        char h[40];
        hex(b, 15, h);
        printf("  %s: decode_xcheck -m %d -x %s  zydis %s len %d (%s), pinvm len %d\n",
               kind == MISMATCH ? "MISMATCH" : "case", bits, h, mn, zok ? zi.length : 0,
               zok ? ZydisISAExtGetString(zi.meta.isa_ext) : "-", plen);
    }
    return kind;
}

static int hexval(int c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
         : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

int main(int argc, char **argv)
{
    uint64_t n = DEFAULT_N, seed = 1;
    int bits = 0;
    const char *x = NULL, *regress = "tests/difftest/decode_regress.txt";
    for (int k = 1; k < argc; k++) {
        if (!strcmp(argv[k], "-n") && k + 1 < argc)
            n = strtoull(argv[++k], NULL, 0);
        else if (!strcmp(argv[k], "-s") && k + 1 < argc)
            seed = strtoull(argv[++k], NULL, 0);
        else if (!strcmp(argv[k], "-m") && k + 1 < argc)
            bits = atoi(argv[++k]);
        else if (!strcmp(argv[k], "-x") && k + 1 < argc)
            x = argv[++k];
        else if (!strcmp(argv[k], "-v"))
            verbose++;
        else if (!strcmp(argv[k], "--known") && k + 1 < argc)
            regress = argv[++k];
        else {
            fprintf(stderr, "usage: %s [-n N] [-s SEED] [-m BITS -x HEX] [-v]\n", argv[0]);
            return 2;
        }
    }
    load_known(regress);
    if (x) {
        uint8_t b[15] = { 0 };
        for (int k = 0; k < 15 && hexval(x[2 * k]) >= 0 && hexval(x[2 * k + 1]) >= 0; k++)
            b[k] = (uint8_t)(hexval(x[2 * k]) << 4 | hexval(x[2 * k + 1]));
        verbose = 2;
        int kind = check(b, bits ? bits : 64, true);
        return kind == MISMATCH;
    }
    int printed = 0;
    uint64_t mism = 0;
    for (int m = 0; m < 3; m++) {
        int bm = 16 << m;
        rng = seed * 0x9e3779b97f4a7c15ull + (uint64_t)bm;
        for (uint64_t i = 0; i < n; i++) {
            uint8_t b[15];
            fill(b, bm);
            int kind = check(b, bm, printed < 20 || verbose);
            if (kind == MISMATCH && printed++ == 20)
                printf("  ... (further mismatches not printed)\n");
            tally[m][kind]++;
            if (kind == MISMATCH)
                mism++;
        }
        printf("decode_xcheck %d-bit: %" PRIu64 " buffers: %" PRIu64 " agree valid, %" PRIu64
               " agree invalid, %" PRIu64 " #UD when run, %" PRIu64
               " deliberate #UD (x87/SSE/AVX/...), %" PRIu64 " hint/fence decoded as Zydis, %"
               PRIu64 " known, %" PRIu64 " mismatches\n", bm, n, tally[m][AGREE_VALID],
               tally[m][AGREE_INVALID], tally[m][LATE_UD], tally[m][UD_DELIBERATE],
               tally[m][EXTRA_OK], tally[m][KNOWN], tally[m][MISMATCH]);
    }
    int pass = mism == 0, fail = mism != 0;
    for (int k = 0; k < nknown; k++)
        if (verbose && known[k].hits)
            printf("  known %d-bit %s: %d (%s)\n", known[k].bits, known[k].mnem, known[k].hits,
                   known[k].reason);
    /* The cross-check itself: a plain ADD must agree in every mode, and a
     * byte string both call invalid (a lone LOCK on a register MOV, 0F 0B
     * UD2 is valid) must be seen as such. */
    static const uint8_t add[15] = { 0x01, 0xd8 }, lockmov[15] = { 0xf0, 0x89, 0xd8 };
    int ok = check(add, 16, true) == AGREE_VALID && check(add, 32, true) == AGREE_VALID &&
             check(add, 64, true) == AGREE_VALID && check(lockmov, 64, true) == AGREE_INVALID;
    pass += ok;
    fail += !ok;
    if (!ok)
        printf("  FAIL: the self-check cases do not classify as expected\n");
    /* Each known difference's reproducer must still be one (else the fix
     * landed: remove the entry). */
    for (int k = 0; k < nknown; k++) {
        uint8_t b[15] = { 0 };
        const char *h = known[k].hex;
        for (int j = 0; j < 15 && hexval(h[2 * j]) >= 0 && hexval(h[2 * j + 1]) >= 0; j++)
            b[j] = (uint8_t)(hexval(h[2 * j]) << 4 | hexval(h[2 * j + 1]));
        int saved = nknown;
        nknown = 0;                /* classify without the known list */
        int kind = check(b, known[k].bits ? known[k].bits : 64, false);
        nknown = saved;
        bool fixed = !strcmp(known[k].mnem, "fixed");
        if (fixed && kind == MISMATCH) {
            printf("  FAIL: regression: decode_xcheck -m %d -x %s disagrees again (%s)\n",
                   known[k].bits ? known[k].bits : 64, h, known[k].reason);
            fail++;
        } else if (fixed || kind == MISMATCH) {
            pass++;
        } else {
            printf("  XPASS: known difference %d-bit %s (%s) agrees now: drop it from %s\n",
                   known[k].bits, known[k].mnem, h, regress);
            fail++;
        }
    }
    printf("%d passed, %d failed\n", pass, fail);
    return fail != 0;
}
