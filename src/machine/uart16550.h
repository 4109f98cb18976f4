/* uart16550.h: an NS16550A UART (COM1 at 0x3F8 on a PC). */
#ifndef PINVM_UART16550_H
#define PINVM_UART16550_H

#include <stdbool.h>
#include <stdint.h>

#include "chardev.h"
#include "device.h"
#include "irq.h"

#define UART_FIFO_SIZE 16

struct uart16550 {
    /* registers (16550 datasheet names) */
    uint8_t ier, lcr, mcr, lsr, msr, scr, fcr;
    uint16_t divider;     /* DLL | DLM << 8 */
    bool thr_ipending;    /* THR-empty interrupt pending (cleared by IIR read) */
    uint8_t rx[UART_FIFO_SIZE];
    uint8_t rx_head, rx_count;

    struct chardev *out;  /* not owned; may be NULL */
    struct irq_line irq;  /* IRQ4 on COM1; n/a until interrupts exist */
};

extern const struct device_ops uart16550_ops;

void uart16550_init(struct uart16550 *u, struct chardev *out);
void uart16550_reset(void *dev);
/* Port offsets 0..7 from the base; size is always 1 (the dispatcher
 * splits wider accesses, as QEMU's serial does). */
uint64_t uart16550_read(void *dev, uint64_t off, int size);
void uart16550_write(void *dev, uint64_t off, int size, uint64_t val);
/* Host side: a byte arrives on the line. Returns false if the FIFO was
 * full (the byte is lost and LSR.OE is set, as on the chip). */
bool uart16550_receive(struct uart16550 *u, uint8_t byte);
/* How many bytes the receiver can take now without an overrun. */
unsigned uart16550_rx_room(const struct uart16550 *u);

/* LSR bits */
#define UART_LSR_DR   0x01
#define UART_LSR_OE   0x02
#define UART_LSR_THRE 0x20
#define UART_LSR_TEMT 0x40
/* IIR values */
#define UART_IIR_NO_INT 0x01
#define UART_IIR_THRI   0x02
#define UART_IIR_RDI    0x04
#define UART_IIR_RLSI   0x06
#define UART_IIR_FIFO   0xC0

#endif
