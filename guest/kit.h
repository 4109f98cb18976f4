/* kit.h: the guest kit. Include this one header in a test kernel.
 *
 *     #include "kit.h"
 *     int main(struct mb_info *mbi)
 *     {
 *         report(1 + 1 == 2, "arithmetic");
 *         return report_summary();
 *     }
 *
 * main runs in 64-bit mode at CPL0 with interrupts off, the kit's GDT, IDT,
 * TSS and identity map loaded, COM1 initialised; its return value is written
 * to the isa-debug-exit port (0xf4), so the emulator exits (v << 1) | 1.
 * See guest/README.md.
 */
#ifndef GUEST_KIT_H
#define GUEST_KIT_H

#include <stdarg.h>
#include <stddef.h>
#include "processor.h"
#include "desc.h"
#include "vm.h"
#include "fwcfg.h"
#include "multiboot.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define __unused __attribute__((unused))
#define __noreturn __attribute__((noreturn))
#define __aligned(n) __attribute__((aligned(n)))
#define barrier() asm volatile("" ::: "memory")

/* ---- output (COM1, 0x3f8) ------------------------------------------ */
void putchar(int c);
void puts(const char *s);               /* no newline added */
/* %d %i %u %x %X %o %p %s %c %%, with l/ll/z, width, 0 and - flags. */
__attribute__((format(printf, 1, 2))) int printf(const char *fmt, ...);
int vprintf(const char *fmt, va_list ap);
__attribute__((format(printf, 3, 4)))
int snprintf(char *buf, size_t n, const char *fmt, ...);
int vsnprintf(char *buf, size_t n, const char *fmt, va_list ap);

/* ---- results ------------------------------------------------------- */
/* Print "PASS: <msg>" or "FAIL: <msg>" and count it. Returns cond. */
__attribute__((format(printf, 2, 3))) bool report(bool cond, const char *fmt, ...);
/* "SKIP: <msg>", not counted. */
__attribute__((format(printf, 1, 2))) void report_skip(const char *fmt, ...);
/* A check where QEMU 7.2 is known to deviate from the SDM (the test file
 * then has "// @qemu-differs: REASON"). Prints "SDM: PASS: <msg>" or
 * "SDM: FAIL: <msg>"; those lines are left out of the QEMU/pinvm
 * comparison and out of the main counts. A FAIL counts as a failure unless
 * the kernel command line has "qemu" (the runner's @qemu-args should pass
 * -append qemu), where the deviation is expected. */
__attribute__((format(printf, 2, 3))) bool report_sdm(bool cond, const char *fmt, ...);
/* Print "N passed, M failed" (and an "SDM: ..." line if report_sdm was
 * used); return 0 iff nothing failed (1 otherwise): return it from main. */
int report_summary(void);
/* Prefix for report messages, e.g. report_prefix("pf"), NULL to clear. */
void report_prefix(const char *prefix);

/* Write code to isa-debug-exit (exit status (code << 1) | 1), then halt. */
__noreturn void exit(int code);
/* Print a message and exit(EXIT_ABORT). */
#define EXIT_ABORT 0x7e
__attribute__((format(printf, 1, 2))) __noreturn void abort_msg(const char *fmt, ...);
#define assert(c) do { if (!(c)) abort_msg("assert failed: %s:%d: %s\n", \
                                            __FILE__, __LINE__, #c); } while (0)

/* ---- boot information ---------------------------------------------- */
extern struct mb_info *boot_info;  /* as passed in EBX */
extern u32 boot_magic;             /* EAX at entry: MB_BOOT_MAGIC */
/* The kernel command line ("" if none). */
const char *cmdline(void);
/* True if the command line has the whitespace-separated word w. */
bool cmdline_has(const char *w);
/* True when run with "-append qemu" (see report_sdm). */
static inline bool on_qemu(void) { return cmdline_has("qemu"); }

/* Linker symbols */
extern char __kernel_start[], __kernel_end[];
extern char __user_start[], __user_end[];

/* ---- string ---------------------------------------------------------- */
void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
void *memmove(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);

/* Debug-exit port */
#define DEBUG_EXIT_PORT 0xf4

#endif
