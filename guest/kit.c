/* kit.c: C entry (kit_main), exit, results, command line, string helpers. */
#include "kit.h"

extern u32 boot_info_phys;
struct mb_info *boot_info;

void serial_init(void);
void desc_init(void);
void vm_init(void);
int main(struct mb_info *mbi);

void kit_main(void)
{
    boot_info = (struct mb_info *)(u64)boot_info_phys;
    /* Mask every 8259 line: the BIOS leaves the PIT ticking on IRQ0 (vector
     * 8 in its mapping), which a test that sets IF must not see. */
    outb(0x21, 0xff);
    outb(0xa1, 0xff);
    serial_init();
    desc_init();
    vm_init();
    exit(main(boot_info));
}

void exit(int code)
{
    outl(DEBUG_EXIT_PORT, (u32)code);
    /* No debug-exit device: stop here. */
    for (;;)
        asm volatile("cli; hlt");
}

void abort_msg(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    exit(EXIT_ABORT);
}

/* ---- results --------------------------------------------------------- */
static unsigned n_pass, n_fail, n_skip, sdm_pass, sdm_fail, sdm_xfail;
static const char *prefix;

void report_prefix(const char *p) { prefix = p; }

static void report_line(const char *tag, const char *fmt, va_list ap)
{
    puts(tag);
    if (prefix) {
        puts(prefix);
        puts(": ");
    }
    vprintf(fmt, ap);
    putchar('\n');
}

bool report(bool cond, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    report_line(cond ? "PASS: " : "FAIL: ", fmt, ap);
    va_end(ap);
    if (cond)
        n_pass++;
    else
        n_fail++;
    return cond;
}

void report_skip(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    report_line("SKIP: ", fmt, ap);
    va_end(ap);
    n_skip++;
}

bool report_sdm(bool cond, const char *fmt, ...)
{
    va_list ap;
    bool expected_dev = !cond && on_qemu();
    va_start(ap, fmt);
    report_line(cond ? "SDM: PASS: " : expected_dev ? "SDM: XFAIL: "
                                                   : "SDM: FAIL: ", fmt, ap);
    va_end(ap);
    if (cond)
        sdm_pass++;
    else if (expected_dev)
        sdm_xfail++;
    else
        sdm_fail++;
    return cond;
}

int report_summary(void)
{
    if (sdm_pass + sdm_fail + sdm_xfail)
        printf("SDM: %u passed, %u failed, %u expected QEMU deviations\n",
               sdm_pass, sdm_fail, sdm_xfail);
    printf("%u passed, %u failed\n", n_pass, n_fail);
    return n_fail || sdm_fail ? 1 : 0;
}

/* ---- command line ------------------------------------------------------ */
const char *cmdline(void)
{
    if (boot_info && (boot_info->flags & MB_INFO_CMDLINE) && boot_info->cmdline)
        return (const char *)(u64)boot_info->cmdline;
    return "";
}

bool cmdline_has(const char *w)
{
    const char *s = cmdline();
    size_t n = strlen(w);
    while (*s) {
        while (*s == ' ')
            s++;
        const char *e = s;
        while (*e && *e != ' ')
            e++;
        if ((size_t)(e - s) == n && !strncmp(s, w, n))
            return true;
        s = e;
    }
    return false;
}

/* ---- string ------------------------------------------------------------ */
void *memset(void *d, int c, size_t n)
{
    u8 *p = d;
    while (n--)
        *p++ = (u8)c;
    return d;
}

void *memcpy(void *d, const void *s, size_t n)
{
    u8 *dp = d;
    const u8 *sp = s;
    while (n--)
        *dp++ = *sp++;
    return d;
}

void *memmove(void *d, const void *s, size_t n)
{
    u8 *dp = d;
    const u8 *sp = s;
    if (dp < sp)
        return memcpy(d, s, n);
    while (n--)
        dp[n] = sp[n];
    return d;
}

int memcmp(const void *a, const void *b, size_t n)
{
    const u8 *x = a, *y = b;
    for (; n; n--, x++, y++)
        if (*x != *y)
            return *x - *y;
    return 0;
}

size_t strlen(const char *s)
{
    size_t n = 0;
    while (s[n])
        n++;
    return n;
}

int strcmp(const char *a, const char *b)
{
    while (*a && *a == *b)
        a++, b++;
    return (u8)*a - (u8)*b;
}

int strncmp(const char *a, const char *b, size_t n)
{
    for (; n; n--, a++, b++) {
        if (*a != *b)
            return (u8)*a - (u8)*b;
        if (!*a)
            break;
    }
    return 0;
}

/* ---- fw_cfg ------------------------------------------------------------ */
void fw_cfg_read(u16 key, void *buf, unsigned len)
{
    u8 *p = buf;
    outw(FW_CFG_PORT_SEL, key);
    while (len--)
        *p++ = inb(FW_CFG_PORT_DATA);
}

u64 fw_cfg_read_int(u16 key, unsigned len)
{
    u8 b[8] = { 0 };
    u64 v = 0;
    fw_cfg_read(key, b, len > 8 ? 8 : len);
    for (int i = 7; i >= 0; i--)
        v = v << 8 | b[i];
    return v;
}
