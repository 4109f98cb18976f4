/* log.h: QEMU-style -d/-D logging. One struct per machine, no globals. */
#ifndef PINVM_LOG_H
#define PINVM_LOG_H

#include <stdio.h>

enum {
    LOG_INT         = 1u << 0, /* -d int: every exception/interrupt taken */
    LOG_CPU_RESET   = 1u << 1, /* -d cpu_reset */
    LOG_GUEST_ERROR = 1u << 2, /* -d guest_errors */
    LOG_IN_ASM      = 1u << 3, /* -d in_asm: each newly decoded block */
    LOG_PIN         = 1u << 4, /* -d pin: audit records of blocked CR writes */
    LOG_SMM         = 1u << 5, /* -d smm: SMM entry/exit */
    LOG_EXEC        = 1u << 6, /* -d exec: every block executed (slow) */
};

struct pv_log {
    unsigned mask;
    FILE *out; /* stderr or the -D file */
};

/* Parse a comma-separated -d list into *mask. Returns 0, or -1 and puts the
 * bad item in *bad (points into items). "help" lists them on stdout and
 * returns 1. */
int log_parse_items(const char *items, unsigned *mask, const char **bad,
                    size_t *badlen);

__attribute__((format(printf, 2, 3)))
void log_printf(const struct pv_log *l, const char *fmt, ...);

static inline int log_on(const struct pv_log *l, unsigned what)
{
    return l && (l->mask & what);
}

#endif
