/* printf.c: COM1 output and a small printf (no libc). */
#include "kit.h"

#define COM1 0x3f8

void serial_init(void)
{
    outb(COM1 + 1, 0x00);   /* IER: no interrupts */
    outb(COM1 + 3, 0x80);   /* LCR: DLAB */
    outb(COM1 + 0, 0x01);   /* divisor 1: 115200 baud */
    outb(COM1 + 1, 0x00);
    outb(COM1 + 3, 0x03);   /* 8N1 */
    outb(COM1 + 2, 0x07);   /* FCR: enable and clear FIFOs */
    outb(COM1 + 4, 0x03);   /* MCR: DTR | RTS */
}

void putchar(int c)
{
    /* Wait for THRE (LSR bit 5); bounded so a missing UART cannot hang us. */
    for (int i = 0; i < 100000 && !(inb(COM1 + 5) & 0x20); i++)
        ;
    outb(COM1, (u8)c);
}

void puts(const char *s)
{
    while (*s)
        putchar(*s++);
}

struct out {
    char *buf;      /* NULL: to the serial port */
    size_t size, len;
};

static void emit(struct out *o, char c)
{
    if (!o->buf)
        putchar(c);
    else if (o->len + 1 < o->size)
        o->buf[o->len] = c;
    o->len++;
}

static void emit_num(struct out *o, unsigned long long v, unsigned base,
                     bool neg, int width, bool zero, bool left, bool upper)
{
    char tmp[24];
    int n = 0;
    const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    do {
        tmp[n++] = digits[v % base];
        v /= base;
    } while (v);
    int len = n + neg;
    if (neg && zero)
        emit(o, '-');
    if (!left)
        for (; len < width; width--)
            emit(o, zero ? '0' : ' ');
    if (neg && !zero)
        emit(o, '-');
    while (n)
        emit(o, tmp[--n]);
    if (left)
        for (; len < width; width--)
            emit(o, ' ');
}

static int format(struct out *o, const char *fmt, va_list ap)
{
    for (; *fmt; fmt++) {
        if (*fmt != '%') {
            emit(o, *fmt);
            continue;
        }
        bool zero = false, left = false;
        int width = 0, lng = 0;
        fmt++;
        for (;; fmt++) {
            if (*fmt == '0')
                zero = true;
            else if (*fmt == '-')
                left = true;
            else
                break;
        }
        if (*fmt == '*') {
            width = va_arg(ap, int);
            fmt++;
        }
        while (*fmt >= '0' && *fmt <= '9')
            width = width * 10 + (*fmt++ - '0');
        while (*fmt == 'l' || *fmt == 'z') {
            lng++;
            fmt++;
        }
        if (left)
            zero = false;
        unsigned long long u;
        long long s;
        switch (*fmt) {
        case 'd':
        case 'i':
            s = lng ? va_arg(ap, long long) : va_arg(ap, int);
            emit_num(o, s < 0 ? -(unsigned long long)s : (unsigned long long)s,
                     10, s < 0, width, zero, left, false);
            break;
        case 'u':
        case 'x':
        case 'X':
        case 'o':
            u = lng ? va_arg(ap, unsigned long long) : va_arg(ap, unsigned);
            emit_num(o, u, *fmt == 'u' ? 10 : *fmt == 'o' ? 8 : 16, false,
                     width, zero, left, *fmt == 'X');
            break;
        case 'p':
            emit(o, '0');
            emit(o, 'x');
            emit_num(o, (unsigned long long)va_arg(ap, void *), 16, false,
                     width, zero, left, false);
            break;
        case 'c':
            emit(o, (char)va_arg(ap, int));
            break;
        case 's': {
            const char *str = va_arg(ap, const char *);
            if (!str)
                str = "(null)";
            int n = (int)strlen(str);
            if (!left)
                for (; n < width; width--)
                    emit(o, ' ');
            while (*str)
                emit(o, *str++);
            if (left)
                for (; n < width; width--)
                    emit(o, ' ');
            break;
        }
        case '%':
            emit(o, '%');
            break;
        case 0:
            return (int)o->len;
        default:
            emit(o, '%');
            emit(o, *fmt);
        }
    }
    return (int)o->len;
}

int vprintf(const char *fmt, va_list ap)
{
    struct out o = { 0 };
    return format(&o, fmt, ap);
}

int printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vprintf(fmt, ap);
    va_end(ap);
    return n;
}

int vsnprintf(char *buf, size_t n, const char *fmt, va_list ap)
{
    struct out o = { buf, n, 0 };
    int len = format(&o, fmt, ap);
    if (n)
        buf[o.len < n ? o.len : n - 1] = 0;
    return len;
}

int snprintf(char *buf, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(buf, n, fmt, ap);
    va_end(ap);
    return len;
}
