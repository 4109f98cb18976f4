/* devices.c: the PC devices a kernel touches first, at the register level:
 * the 16550 UART (scratch, line control, divisor latch, FIFO/IIR, LSR,
 * loopback), the 8259 PIC (IMR, in-service register), port 0x92 (A20),
 * and fw_cfg's signature through the selector/data ports. Values are the
 * datasheets' (NS16550A, Intel 8259A) and what QEMU's devices give. */
#include "kit.h"

#define COM1 0x3f8

static void test_uart(void)
{
    outb(COM1 + 7, 0xa5);
    report(inb(COM1 + 7) == 0xa5, "uart: scratch register holds a value");
    report(inb(COM1 + 3) == 0x03, "uart: LCR 8N1 as the kit set it");
    report(inb(COM1 + 1) == 0x00, "uart: IER 0");
    report(inb(COM1 + 2) == 0xc1, "uart: IIR = FIFOs on, no interrupt pending (0xc1)");
    report(inb(COM1 + 5) == 0x60, "uart: LSR idle = THRE|TEMT (0x60)");
    report(inb(COM1 + 4) == 0x03, "uart: MCR DTR|RTS");

    outb(COM1 + 3, 0x83);            /* DLAB: the divisor latch */
    outb(COM1 + 0, 0x0c);
    outb(COM1 + 1, 0x00);
    u8 dll = inb(COM1 + 0), dlm = inb(COM1 + 1);
    outb(COM1 + 0, 0x01);            /* back to 115200 */
    outb(COM1 + 3, 0x03);
    report(dll == 0x0c && dlm == 0x00, "uart: divisor latch reads back (DLAB=1)");
    report(inb(COM1 + 3) == 0x03 && inb(COM1 + 1) == 0x00, "uart: DLAB=0 again, IER visible");

    /* Loopback (MCR bit 4): a transmitted byte comes back as received. */
    outb(COM1 + 4, 0x13);
    outb(COM1, 'Z');
    u8 lsr1 = inb(COM1 + 5), rbr = inb(COM1), lsr2 = inb(COM1 + 5);
    outb(COM1 + 4, 0x03);
    report((lsr1 & 1) && rbr == 'Z' && !(lsr2 & 1),
           "uart loopback: LSR.DR set, RBR = 'Z', DR clear after the read");
}

static void test_pic(void)
{
    report(inb(0x21) == 0xff && inb(0xa1) == 0xff, "pic: all lines masked (the kit)");
    outb(0x21, 0xfb);
    report(inb(0x21) == 0xfb, "pic: IMR reads back");
    outb(0x21, 0xff);
    outb(0x20, 0x0b);                /* OCW3: read ISR */
    report(inb(0x20) == 0x00, "pic: nothing in service");
    outb(0x20, 0x0a);                /* back to IRR reads */
}

static void test_misc(void)
{
    report((inb(0x92) & 2) == 2, "port 0x92: A20 enabled");
    char sig[5] = { 0 };
    fw_cfg_read(FW_CFG_SIGNATURE, sig, 4);
    report(!strcmp(sig, "QEMU"), "fw_cfg: signature");
    fw_cfg_read(FW_CFG_SIGNATURE, sig, 2);
    report(sig[0] == 'Q' && sig[1] == 'E', "fw_cfg: selecting again restarts at offset 0");
}

int main(struct mb_info *mbi)
{
    (void)mbi;
    test_uart();
    test_pic();
    test_misc();
    return report_summary();
}
