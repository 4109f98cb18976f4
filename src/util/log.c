/* log.c: -d item parsing and output. */
#include "log.h"

#include <stdarg.h>
#include <string.h>

static const struct {
    const char *name;
    unsigned bit;
    const char *help;
} items_tab[] = {
    {"int", LOG_INT, "show interrupts/exceptions in short format"},
    {"cpu_reset", LOG_CPU_RESET, "show CPU state before CPU resets"},
    {"guest_errors", LOG_GUEST_ERROR, "log when the guest does something invalid"},
    {"in_asm", LOG_IN_ASM, "show target assembly code for each compiled block"},
    {"pin", LOG_PIN, "audit record for every blocked control-register write"},
    {"smm", LOG_SMM, "trace SMM entry and exit"},
    {"exec", LOG_EXEC, "show trace before each executed block"},
};

int log_parse_items(const char *items, unsigned *mask, const char **bad,
                    size_t *badlen)
{
    unsigned m = 0;
    const char *p = items;

    if (strcmp(items, "help") == 0) {
        printf("Log items (comma separated):\n");
        for (size_t i = 0; i < sizeof items_tab / sizeof items_tab[0]; i++)
            printf("%-15s %s\n", items_tab[i].name, items_tab[i].help);
        return 1;
    }
    for (;;) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        size_t i;
        for (i = 0; i < sizeof items_tab / sizeof items_tab[0]; i++)
            if (strlen(items_tab[i].name) == n && memcmp(items_tab[i].name, p, n) == 0)
                break;
        if (n == 0 || i == sizeof items_tab / sizeof items_tab[0]) {
            *bad = p;
            *badlen = n;
            return -1;
        }
        m |= items_tab[i].bit;
        if (!e)
            break;
        p = e + 1;
    }
    *mask = m;
    return 0;
}

void log_printf(const struct pv_log *l, const char *fmt, ...)
{
    va_list ap;
    if (!l || !l->out)
        return;
    va_start(ap, fmt);
    vfprintf(l->out, fmt, ap);
    va_end(ap);
}
