/* uart16550.c: NS16550A register model, after the National datasheet
 * (PC16550D, "Register Summary") and QEMU's hw/char/serial.c for the
 * reset values and for what "transmission" means in an emulator: a byte
 * written to THR leaves at once, so THRE/TEMT are set again immediately. */
#include "uart16550.h"

#include <string.h>

#include "vmstate.h"

#define LCR_DLAB 0x80
#define MCR_LOOP 0x10
#define MCR_OUT2 0x08
#define IER_RDI  0x01
#define IER_THRI 0x02
#define IER_RLSI 0x04
#define FCR_ENABLE 0x01
#define FCR_CLEAR_RX 0x02
#define MSR_CTS 0x10
#define MSR_DSR 0x20
#define MSR_RI  0x40
#define MSR_DCD 0x80

void uart16550_init(struct uart16550 *u, struct chardev *out)
{
    memset(u, 0, sizeof *u);
    u->out = out;
    uart16550_reset(u);
}

void uart16550_reset(void *dev)
{
    struct uart16550 *u = dev;
    u->ier = 0;
    u->lcr = 0;
    u->mcr = MCR_OUT2;
    u->lsr = UART_LSR_THRE | UART_LSR_TEMT;
    /* A host chardev is "connected": carrier, data set ready, clear to
     * send (QEMU's reset value). */
    u->msr = MSR_DCD | MSR_DSR | MSR_CTS;
    u->scr = 0;
    u->fcr = 0;
    u->divider = 0x0C; /* 9600 baud, as QEMU */
    u->thr_ipending = false;
    u->rx_head = u->rx_count = 0;
    irq_set(&u->irq, 0);
}

/* Interrupt identification by priority (datasheet table IV). */
static uint8_t iir_id(const struct uart16550 *u)
{
    if ((u->ier & IER_RLSI) && (u->lsr & UART_LSR_OE))
        return UART_IIR_RLSI;
    if ((u->ier & IER_RDI) && (u->lsr & UART_LSR_DR))
        return UART_IIR_RDI;
    if ((u->ier & IER_THRI) && u->thr_ipending)
        return UART_IIR_THRI;
    return UART_IIR_NO_INT;
}

static void update_irq(struct uart16550 *u)
{
    irq_set(&u->irq, iir_id(u) != UART_IIR_NO_INT);
}

static unsigned fifo_cap(const struct uart16550 *u)
{
    return (u->fcr & FCR_ENABLE) ? UART_FIFO_SIZE : 1;
}

unsigned uart16550_rx_room(const struct uart16550 *u)
{
    if (u->mcr & MCR_LOOP)
        return 0; /* loopback: the line is disconnected */
    return fifo_cap(u) - u->rx_count;
}

bool uart16550_receive(struct uart16550 *u, uint8_t byte)
{
    if (u->rx_count >= fifo_cap(u)) {
        u->lsr |= UART_LSR_OE;
        update_irq(u);
        return false;
    }
    u->rx[(u->rx_head + u->rx_count) % UART_FIFO_SIZE] = byte;
    u->rx_count++;
    u->lsr |= UART_LSR_DR;
    update_irq(u);
    return true;
}

/* Loopback wires MCR outputs to MSR inputs (datasheet, MCR bit 4). */
static uint8_t msr_value(const struct uart16550 *u)
{
    if (!(u->mcr & MCR_LOOP))
        return u->msr;
    uint8_t v = 0;
    if (u->mcr & 0x02) v |= MSR_CTS; /* RTS -> CTS */
    if (u->mcr & 0x01) v |= MSR_DSR; /* DTR -> DSR */
    if (u->mcr & 0x04) v |= MSR_RI;  /* OUT1 -> RI */
    if (u->mcr & 0x08) v |= MSR_DCD; /* OUT2 -> DCD */
    return v;
}

uint64_t uart16550_read(void *dev, uint64_t off, int size)
{
    struct uart16550 *u = dev;
    uint8_t v = 0xff;
    (void)size;
    switch (off) {
    case 0:
        if (u->lcr & LCR_DLAB)
            return u->divider & 0xff;
        v = 0;
        if (u->rx_count) {
            v = u->rx[u->rx_head];
            u->rx_head = (uint8_t)((u->rx_head + 1) % UART_FIFO_SIZE);
            u->rx_count--;
        }
        if (!u->rx_count)
            u->lsr &= (uint8_t)~UART_LSR_DR;
        update_irq(u);
        return v;
    case 1:
        return (u->lcr & LCR_DLAB) ? u->divider >> 8 : u->ier;
    case 2:
        v = iir_id(u);
        /* Reading IIR while it reports THRE clears that source. */
        if (v == UART_IIR_THRI) {
            u->thr_ipending = false;
            update_irq(u);
        }
        if (u->fcr & FCR_ENABLE)
            v |= UART_IIR_FIFO;
        return v;
    case 3:
        return u->lcr;
    case 4:
        return u->mcr;
    case 5:
        v = u->lsr;
        /* Error bits clear on read. */
        if (u->lsr & UART_LSR_OE) {
            u->lsr &= (uint8_t)~UART_LSR_OE;
            update_irq(u);
        }
        return v;
    case 6:
        return msr_value(u);
    case 7:
        return u->scr;
    }
    return v;
}

void uart16550_write(void *dev, uint64_t off, int size, uint64_t val)
{
    struct uart16550 *u = dev;
    uint8_t b = (uint8_t)val;
    (void)size;
    switch (off) {
    case 0:
        if (u->lcr & LCR_DLAB) {
            u->divider = (uint16_t)((u->divider & 0xff00) | b);
            return;
        }
        if (u->mcr & MCR_LOOP)
            uart16550_receive(u, b);
        else if (u->out)
            chardev_write(u->out, &b, 1);
        /* Sent at once: THR empty again, and THRE interrupt pending. */
        u->lsr |= UART_LSR_THRE | UART_LSR_TEMT;
        u->thr_ipending = true;
        update_irq(u);
        return;
    case 1:
        if (u->lcr & LCR_DLAB) {
            u->divider = (uint16_t)((u->divider & 0x00ff) | b << 8);
            return;
        }
        /* Enabling THRI while THR is empty raises it at once (QEMU and
         * real 16550s; Linux's autoconfig relies on it). */
        if ((b & IER_THRI) && !(u->ier & IER_THRI) &&
            (u->lsr & UART_LSR_THRE))
            u->thr_ipending = true;
        u->ier = b & 0x0f;
        update_irq(u);
        return;
    case 2:
        if ((b ^ u->fcr) & FCR_ENABLE || (b & FCR_CLEAR_RX)) {
            u->rx_head = u->rx_count = 0;
            u->lsr &= (uint8_t)~UART_LSR_DR;
        }
        /* Bits 1-2 self-clear; keep enable, DMA mode and trigger level. */
        u->fcr = b & 0xc9;
        update_irq(u);
        return;
    case 3:
        u->lcr = b;
        return;
    case 4:
        u->mcr = b & 0x1f;
        return;
    case 5: /* LSR: factory test only, ignored (as QEMU) */
    case 6: /* MSR: read-only */
        return;
    case 7:
        u->scr = b;
        return;
    }
}

static void uart16550_save(const void *dev, struct vmstate *s)
{
    const struct uart16550 *u = dev;
    vmstate_put_u8(s, u->ier);
    vmstate_put_u8(s, u->lcr);
    vmstate_put_u8(s, u->mcr);
    vmstate_put_u8(s, u->lsr);
    vmstate_put_u8(s, u->msr);
    vmstate_put_u8(s, u->scr);
    vmstate_put_u8(s, u->fcr);
    vmstate_put_u16(s, u->divider);
    vmstate_put_u8(s, u->thr_ipending);
    vmstate_put_u8(s, u->rx_head);
    vmstate_put_u8(s, u->rx_count);
    vmstate_put_bytes(s, u->rx, sizeof u->rx);
}

static int uart16550_load(void *dev, struct vmstate *s)
{
    struct uart16550 *u = dev;
    struct uart16550 t = *u;
    t.ier = vmstate_get_u8(s);
    t.lcr = vmstate_get_u8(s);
    t.mcr = vmstate_get_u8(s);
    t.lsr = vmstate_get_u8(s);
    t.msr = vmstate_get_u8(s);
    t.scr = vmstate_get_u8(s);
    t.fcr = vmstate_get_u8(s);
    t.divider = vmstate_get_u16(s);
    t.thr_ipending = vmstate_get_u8(s) != 0;
    t.rx_head = vmstate_get_u8(s);
    t.rx_count = vmstate_get_u8(s);
    vmstate_get_bytes(s, t.rx, sizeof t.rx);
    if (!vmstate_ok(s) || t.rx_head >= UART_FIFO_SIZE ||
        t.rx_count > UART_FIFO_SIZE || t.ier > 0x0f || t.mcr > 0x1f) {
        uart16550_reset(u);
        return -1;
    }
    *u = t;
    update_irq(u);
    return 0;
}

const struct device_ops uart16550_ops = {
    .name = "uart16550",
    .reset = uart16550_reset,
    .save = uart16550_save,
    .load = uart16550_load,
};
