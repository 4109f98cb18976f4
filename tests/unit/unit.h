/* unit.h: a tiny unit-test runner. Each test file defines TESTS with
 * TEST(name) functions and ends with UNIT_MAIN(). Output per failure names
 * file:line and the expression; the last line is "N passed, N failed". */
#ifndef PINVM_UNIT_H
#define PINVM_UNIT_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct unit_test {
    const char *name;
    void (*fn)(void);
};

static int unit_failed_now;
static int unit_checks;

#define CHECK(cond)                                                          \
    do {                                                                     \
        unit_checks++;                                                       \
        if (!(cond)) {                                                       \
            printf("  FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);         \
            unit_failed_now = 1;                                             \
        }                                                                    \
    } while (0)

#define CHECK_EQ(a, b)                                                       \
    do {                                                                     \
        unsigned long long va_ = (unsigned long long)(a);                    \
        unsigned long long vb_ = (unsigned long long)(b);                    \
        unit_checks++;                                                       \
        if (va_ != vb_) {                                                    \
            printf("  FAIL %s:%d: %s == %s (0x%llx != 0x%llx)\n", __FILE__,  \
                   __LINE__, #a, #b, va_, vb_);                              \
            unit_failed_now = 1;                                             \
        }                                                                    \
    } while (0)

/* xorshift64 (Marsaglia 2003): advances *s and returns it. The tests'
 * seeded generators; each keeps its own state, so runs are repeatable. */
static inline uint64_t unit_xorshift64(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

#define TEST(name) static void name(void)
#define T(name) {#name, name}

/* Usage: static const struct unit_test tests[] = { T(a), T(b) };
 *        UNIT_MAIN(tests) */
#define UNIT_MAIN(tab)                                                       \
    int main(int argc, char **argv)                                          \
    {                                                                        \
        int pass = 0, fail = 0;                                              \
        for (size_t k = 0; k < sizeof(tab) / sizeof(tab[0]); k++) {          \
            if (argc > 1 && !strstr(tab[k].name, argv[1]))                   \
                continue;                                                    \
            unit_failed_now = 0;                                             \
            tab[k].fn();                                                     \
            if (unit_failed_now) {                                           \
                printf("FAIL %s\n", tab[k].name);                            \
                fail++;                                                      \
            } else {                                                         \
                pass++;                                                      \
            }                                                                \
        }                                                                    \
        printf("%d passed, %d failed\n", pass, fail);                        \
        return fail != 0;                                                    \
    }

#endif
