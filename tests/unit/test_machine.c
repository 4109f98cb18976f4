/* Unit tests of the PC model (src/machine): port dispatch, every device's
 * registers as the guest sees them through machine_io_in/out and
 * machine_mmio_*, reset sources, debug-exit, reset/save/load. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "machine/machine.h"
#include "machine/vmstate.h"
#include "unit.h"

static struct machine m;
static struct pinvm_config cfg;
static char err[512];
static char serial_path[] = "/tmp/pinvm-serial-XXXXXX";
static struct cpu fake; /* only apic_base/cpu_index/exit_request are used */

static void setup_cfg(void)
{
    config_defaults(&cfg);
    cfg.kernel = "unused";
    int fd = mkstemp(serial_path);
    if (fd >= 0)
        close(fd);
    cfg.serial = SERIAL_FILE;
    cfg.serial_path = serial_path;
}

static int start(void)
{
    int r = machine_init(&m, &cfg, err, sizeof err);
    memset(&fake, 0, sizeof fake);
    fake.apic_base = LAPIC_DEFAULT_BASE | APIC_BASE_ENABLE | APIC_BASE_BSP;
    return r;
}

static void stop(void)
{
    machine_destroy(&m);
    unlink(serial_path);
    strcpy(serial_path, "/tmp/pinvm-serial-XXXXXX");
}

static uint32_t in8(uint16_t p) { return machine_io_in(&m, &fake, p, 1); }
static void out8(uint16_t p, uint8_t v) { machine_io_out(&m, &fake, p, 1, v); }
static void out16(uint16_t p, uint16_t v) { machine_io_out(&m, &fake, p, 2, v); }

static size_t serial_contents(char *buf, size_t n)
{
    FILE *f = fopen(serial_path, "r");
    if (!f)
        return 0;
    size_t got = fread(buf, 1, n - 1, f);
    buf[got] = 0;
    fclose(f);
    return got;
}

TEST(uart_transmits_to_backend_and_reports_thr_empty)
{
    char buf[64];
    setup_cfg();
    CHECK_EQ(start(), 0);
    CHECK_EQ(in8(0x3fd), UART_LSR_THRE | UART_LSR_TEMT);
    out8(0x3f8, 'O');
    out8(0x3f8, 'K');
    CHECK_EQ(serial_contents(buf, sizeof buf), 2);
    CHECK(strcmp(buf, "OK") == 0);
    CHECK_EQ(in8(0x3fd), 0x60);
    stop();
}

TEST(uart_registers)
{
    setup_cfg();
    CHECK_EQ(start(), 0);
    CHECK_EQ(in8(0x3fa), UART_IIR_NO_INT);
    CHECK_EQ(in8(0x3fc), 0x08); /* MCR: OUT2, QEMU's reset value */
    CHECK_EQ(in8(0x3fe), 0xb0); /* MSR: DCD | DSR | CTS */
    /* divisor latch behind DLAB */
    out8(0x3fb, 0x83);
    out8(0x3f8, 0x01);
    out8(0x3f9, 0x02);
    CHECK_EQ(in8(0x3f8), 0x01);
    CHECK_EQ(in8(0x3f9), 0x02);
    CHECK_EQ(m.com1.divider, 0x0201);
    out8(0x3fb, 0x03);
    CHECK_EQ(in8(0x3fb), 0x03);
    CHECK_EQ(in8(0x3f9), 0); /* IER again */
    out8(0x3ff, 0x5a);
    CHECK_EQ(in8(0x3ff), 0x5a);
    /* FIFO enable shows in IIR bits 6-7 */
    out8(0x3fa, 0x07);
    CHECK_EQ(in8(0x3fa), 0xc1);
    /* enabling THRI with THR empty raises it; reading IIR clears it */
    out8(0x3f9, 0x02);
    CHECK_EQ(in8(0x3fa), 0xc2);
    CHECK_EQ(in8(0x3fa), 0xc1);
    out8(0x3f8, 'x'); /* transmit: THRE interrupt again */
    CHECK_EQ(in8(0x3fa), 0xc2);
    /* 16-bit read straddling the UART's end: SCR, then an empty port */
    CHECK_EQ(machine_io_in(&m, &fake, 0x3ff, 2), 0xff5a);
    stop();
}

TEST(uart_receive_and_loopback)
{
    char buf[64];
    setup_cfg();
    CHECK_EQ(start(), 0);
    CHECK(uart16550_receive(&m.com1, 'a'));
    CHECK_EQ(in8(0x3fd) & UART_LSR_DR, UART_LSR_DR);
    out8(0x3f9, 0x01);
    CHECK_EQ(in8(0x3fa), UART_IIR_RDI);
    CHECK_EQ(in8(0x3f8), 'a');
    CHECK_EQ(in8(0x3fd) & UART_LSR_DR, 0);
    /* FIFO off: one byte holds, the next overruns */
    CHECK(uart16550_receive(&m.com1, 'b'));
    CHECK(!uart16550_receive(&m.com1, 'c'));
    CHECK_EQ(in8(0x3fd) & UART_LSR_OE, UART_LSR_OE);
    CHECK_EQ(in8(0x3fd) & UART_LSR_OE, 0); /* cleared by the read */
    CHECK_EQ(in8(0x3f8), 'b');
    /* loopback: THR comes back on RBR, nothing reaches the backend */
    out8(0x3fc, 0x1f);
    CHECK_EQ(in8(0x3fe), 0xf0);
    out8(0x3f8, 'L');
    CHECK_EQ(in8(0x3f8), 'L');
    CHECK_EQ(serial_contents(buf, sizeof buf), 0);
    stop();
}

TEST(host_input_reaches_receiver_without_overrun)
{
    int fds[2];
    setup_cfg();
    CHECK_EQ(start(), 0);
    CHECK_EQ(pipe(fds), 0);
    m.serial_out.in_fd = fds[0];
    machine_poll_input(&m); /* nothing ready: no block, no data */
    CHECK_EQ(in8(0x3fd) & UART_LSR_DR, 0);
    CHECK_EQ(write(fds[1], "hi!", 3), 3);
    /* FIFO off: one byte at a time, the rest waits in the pipe */
    machine_poll_input(&m);
    CHECK_EQ(in8(0x3fd) & (UART_LSR_DR | UART_LSR_OE), UART_LSR_DR);
    CHECK_EQ(in8(0x3f8), 'h');
    out8(0x3fa, 0x01); /* FIFO on */
    machine_poll_input(&m);
    CHECK_EQ(in8(0x3f8), 'i');
    CHECK_EQ(in8(0x3f8), '!');
    CHECK_EQ(in8(0x3fd) & UART_LSR_DR, 0);
    close(fds[1]);
    machine_poll_input(&m); /* EOF switches input off */
    CHECK_EQ(m.serial_out.in_fd, -1);
    close(fds[0]);
    stop();
}

TEST(uart_irq_reaches_pic_irr)
{
    setup_cfg();
    CHECK_EQ(start(), 0);
    out8(0x20, 0x0a); /* OCW3: read IRR */
    CHECK_EQ(in8(0x20), 0);
    out8(0x3f9, 0x02); /* THRI */
    CHECK_EQ(in8(0x20), 0x10);
    stop();
}

TEST(debug_exit_status_and_exit_request)
{
    setup_cfg();
    CHECK_EQ(start(), 0);
    CHECK_EQ(in8(0xf4), 0);
    CHECK_EQ(m.req.kind, SYSREQ_NONE);
    out8(0xf4, 0x10);
    CHECK_EQ(m.req.kind, SYSREQ_EXIT);
    CHECK_EQ(m.req.status, 0x21);
    CHECK_EQ(fake.exit_request, 1);
    machine_reset_devices(&m);
    CHECK_EQ(m.req.kind, SYSREQ_NONE);
    machine_io_out(&m, &fake, 0xf6, 2, 0x1);
    CHECK_EQ(m.req.status, 3);
    machine_reset_devices(&m);
    machine_io_out(&m, &fake, 0xf4, 4, 0x7f);
    CHECK_EQ(m.req.status, 0xff);
    stop();
}

TEST(debug_exit_moved_by_device_flag)
{
    setup_cfg();
    cfg.debugexit_iobase = 0x501;
    cfg.debugexit_iosize = 2;
    CHECK_EQ(start(), 0);
    out8(0xf4, 1);
    CHECK_EQ(m.req.kind, SYSREQ_NONE);
    CHECK_EQ(in8(0xf4), 0xff);
    out8(0x502, 0x31);
    CHECK_EQ(m.req.status, 0x63);
    stop();
    /* onto another device's ports: refused with a message */
    setup_cfg();
    cfg.debugexit_iobase = 0x3f8;
    CHECK_EQ(start(), -1);
    CHECK(strstr(err, "-device isa-debug-exit: ports 0x3f8-0x3fb overlap COM1") != NULL);
    unlink(serial_path);
    strcpy(serial_path, "/tmp/pinvm-serial-XXXXXX");
}

static uint64_t fwcfg_item(uint16_t key, int n)
{
    uint64_t v = 0;
    out16(0x510, key);
    for (int i = 0; i < n; i++)
        v |= (uint64_t)in8(0x511) << (8 * i);
    return v;
}

TEST(fw_cfg_items)
{
    setup_cfg();
    cfg.ram_size = 64ull << 20;
    CHECK_EQ(start(), 0);
    CHECK_EQ(fwcfg_item(FW_CFG_SIGNATURE, 4), 0x554d4551); /* "QEMU" */
    CHECK_EQ(fwcfg_item(FW_CFG_ID, 4), 1);
    CHECK_EQ(fwcfg_item(FW_CFG_RAM_SIZE, 8), 64ull << 20);
    CHECK_EQ(fwcfg_item(FW_CFG_NB_CPUS, 2), 1);
    CHECK_EQ(fwcfg_item(FW_CFG_MAX_CPUS, 2), 1);
    CHECK_EQ(fwcfg_item(0x1234, 8), 0);   /* unknown key */
    CHECK_EQ(fwcfg_item(0x8000, 4), 0);   /* arch-local: none */
    CHECK_EQ(fwcfg_item(FW_CFG_ID, 6), 1);/* past the end reads 0 */
    /* selecting restarts at offset 0; byte writes do not select */
    out16(0x510, FW_CFG_SIGNATURE);
    CHECK_EQ(in8(0x511), 'Q');
    out8(0x510, FW_CFG_ID);
    CHECK_EQ(in8(0x511), 'E');
    /* QEMU allows only byte reads: a 16-bit read of the pair hits nothing;
     * one straddling the end reads a data byte, then an empty port. */
    CHECK_EQ(machine_io_in(&m, &fake, 0x510, 2), 0xffff);
    CHECK_EQ(machine_io_in(&m, &fake, 0x511, 2), 0xff00 | 'M');
    stop();
}

TEST(unassigned_ports_read_all_ones)
{
    setup_cfg();
    CHECK_EQ(start(), 0);
    CHECK_EQ(machine_io_in(&m, &fake, 0x1234, 1), 0xff);
    CHECK_EQ(machine_io_in(&m, &fake, 0x1234, 2), 0xffff);
    CHECK_EQ(machine_io_in(&m, &fake, 0x1234, 4), 0xffffffff);
    CHECK_EQ(machine_io_in(&m, &fake, 0xffff, 4), 0xffffffff);
    CHECK_EQ(machine_io_in(&m, &fake, 0x80, 1), 0xff);
    CHECK_EQ(machine_io_in(&m, &fake, 0xed, 1), 0xff);
    machine_io_out(&m, &fake, 0x80, 1, 0x12);
    machine_io_out(&m, &fake, 0x1234, 4, 0x12345678);
    CHECK_EQ(m.req.kind, SYSREQ_NONE);
    CHECK_EQ(machine_io_in(&m, &fake, 0x1234, 3), 0xffffffff); /* bad size */
    stop();
}

TEST(pic_initialisation_sequence)
{
    setup_cfg();
    CHECK_EQ(start(), 0);
    CHECK_EQ(in8(0x21), 0); /* IMR 0 at reset */
    /* The Linux/BSD remap: ICW1..ICW4 on both chips, then masks. */
    out8(0x20, 0x11); out8(0x21, 0x20); out8(0x21, 0x04); out8(0x21, 0x01);
    out8(0xa0, 0x11); out8(0xa1, 0x28); out8(0xa1, 0x02); out8(0xa1, 0x01);
    out8(0x21, 0xfb);
    out8(0xa1, 0xff);
    CHECK_EQ(in8(0x21), 0xfb);
    CHECK_EQ(in8(0xa1), 0xff);
    CHECK_EQ(m.pic[0].vector_base, 0x20);
    CHECK_EQ(m.pic[1].vector_base, 0x28);
    out8(0x20, 0x0b); /* OCW3: read ISR */
    CHECK_EQ(in8(0x20), 0);
    out8(0x20, 0x20); /* EOI with nothing in service: harmless */
    CHECK_EQ(in8(0x21), 0xfb);
    machine_reset_devices(&m);
    CHECK_EQ(in8(0x21), 0);
    stop();
}

TEST(reset_sources)
{
    setup_cfg();
    CHECK_EQ(start(), 0);
    out8(0xcf9, 0x02); /* SRST only: stored, no reset */
    CHECK_EQ(m.req.kind, SYSREQ_NONE);
    CHECK_EQ(in8(0xcf9), 0x02);
    out8(0xcf9, 0x06);
    CHECK_EQ(m.req.kind, SYSREQ_RESET);
    CHECK(strstr(m.req.why, "0xcf9") != NULL);
    CHECK_EQ(fake.exit_request, 1);

    machine_reset_devices(&m);
    CHECK_EQ(in8(0x64) & 0x02, 0); /* input buffer empty: can send */
    out8(0x64, 0xfe);
    CHECK_EQ(m.req.kind, SYSREQ_RESET);
    machine_reset_devices(&m);
    out8(0x64, 0xff); /* pulse nothing */
    CHECK_EQ(m.req.kind, SYSREQ_NONE);
    out8(0x64, 0xd1);
    out8(0x60, 0x00); /* output port bit 0 low: reset */
    CHECK_EQ(m.req.kind, SYSREQ_RESET);
    machine_reset_devices(&m);
    out8(0x64, 0xaa);
    CHECK_EQ(in8(0x64) & 1, 1);
    CHECK_EQ(in8(0x60), 0x55);

    CHECK_EQ(in8(0x92), 0x02); /* A20 on */
    out8(0x92, 0x03);
    CHECK_EQ(m.req.kind, SYSREQ_RESET);
    CHECK_EQ(in8(0x92), 0x02);
    stop();
}

TEST(exit_beats_reset)
{
    setup_cfg();
    CHECK_EQ(start(), 0);
    out8(0xcf9, 0x04);
    out8(0xf4, 0x00);
    CHECK_EQ(m.req.kind, SYSREQ_EXIT);
    out8(0xcf9, 0x04);
    CHECK_EQ(m.req.kind, SYSREQ_EXIT);
    CHECK_EQ(m.req.status, 1);
    stop();
}

TEST(lapic_registers)
{
    setup_cfg();
    CHECK_EQ(start(), 0);
    uint64_t b = LAPIC_DEFAULT_BASE;
    CHECK_EQ(machine_mmio_read(&m, &fake, b + 0x20, 4), 0);
    CHECK_EQ(machine_mmio_read(&m, &fake, b + 0x30, 4), 0x00050014);
    CHECK_EQ(machine_mmio_read(&m, &fake, b + 0xf0, 4), 0xff);
    CHECK_EQ(machine_mmio_read(&m, &fake, b + 0xe0, 4), 0xffffffff);
    CHECK_EQ(machine_mmio_read(&m, &fake, b + 0x320, 4), 0x10000);
    CHECK_EQ(machine_mmio_read(&m, &fake, b + 0x350, 4), 0x10000);
    CHECK_EQ(machine_mmio_read(&m, &fake, b + 0x100, 4), 0); /* ISR */
    CHECK_EQ(machine_mmio_read(&m, &fake, b + 0x200, 4), 0); /* IRR */
    machine_mmio_write(&m, &fake, b + 0x80, 4, 0x1ff);
    CHECK_EQ(machine_mmio_read(&m, &fake, b + 0x80, 4), 0xff);
    machine_mmio_write(&m, &fake, b + 0xf0, 4, 0x1ff); /* enable */
    machine_mmio_write(&m, &fake, b + 0x350, 4, 0x700);
    CHECK_EQ(machine_mmio_read(&m, &fake, b + 0x350, 4), 0x700);
    machine_mmio_write(&m, &fake, b + 0x300, 4, 0x4500);
    machine_mmio_write(&m, &fake, b + 0x310, 4, 0x01000000);
    CHECK_EQ(machine_mmio_read(&m, &fake, b + 0x300, 4), 0x4500);
    CHECK_EQ(machine_mmio_read(&m, &fake, b + 0x310, 4), 0x01000000);
    machine_mmio_write(&m, &fake, b + 0x380, 4, 12345);
    CHECK_EQ(machine_mmio_read(&m, &fake, b + 0x380, 4), 12345);
    machine_mmio_write(&m, &fake, b + 0xd0, 4, 0x03000000);
    CHECK_EQ(machine_mmio_read(&m, &fake, b + 0xd0, 4), 0x03000000);
    /* software disable masks the LVTs again */
    machine_mmio_write(&m, &fake, b + 0xf0, 4, 0xff);
    CHECK_EQ(machine_mmio_read(&m, &fake, b + 0x350, 4), 0x10700);
    /* narrow accesses read 0 and are ignored (QEMU) */
    CHECK_EQ(machine_mmio_read(&m, &fake, b + 0x30, 1), 0);
    machine_mmio_write(&m, &fake, b + 0x80, 1, 0x10);
    CHECK_EQ(machine_mmio_read(&m, &fake, b + 0x80, 4), 0xff);
    stop();
}

TEST(lapic_follows_apic_base)
{
    setup_cfg();
    CHECK_EQ(start(), 0);
    fake.apic_base = 0xfed00000 | APIC_BASE_ENABLE;
    CHECK_EQ(machine_mmio_read(&m, &fake, 0xfee00030, 4), 0xffffffff);
    CHECK_EQ(machine_mmio_read(&m, &fake, 0xfed00030, 4), 0x00050014);
    fake.apic_base = LAPIC_DEFAULT_BASE; /* globally disabled */
    CHECK_EQ(machine_mmio_read(&m, &fake, 0xfee00030, 4), 0xffffffff);
    /* host-side access (no vCPU): no APIC */
    CHECK_EQ(machine_mmio_read(&m, NULL, 0xfee00030, 4), 0xffffffff);
    stop();
}

TEST(unassigned_mmio_reads_all_ones)
{
    setup_cfg();
    CHECK_EQ(start(), 0);
    CHECK_EQ(machine_mmio_read(&m, &fake, 0xf0000000, 1), 0xff);
    CHECK_EQ(machine_mmio_read(&m, &fake, 0xf0000000, 2), 0xffff);
    CHECK_EQ(machine_mmio_read(&m, &fake, 0xf0000000, 4), 0xffffffff);
    CHECK_EQ(machine_mmio_read(&m, &fake, 0xf0000000, 8), ~0ull);
    machine_mmio_write(&m, &fake, 0xf0000000, 8, 0);
    CHECK_EQ(machine_mmio_read(&m, &fake, 0xf0000000, 5), ~0ull);
    stop();
}

TEST(ram_is_mapped_lazily_and_zeroed)
{
    setup_cfg();
    cfg.ram_size = 2ull << 30;
    CHECK_EQ(start(), 0);
    CHECK(m.ram != NULL);
    CHECK_EQ(m.ram[0], 0);
    CHECK_EQ(m.ram[m.ram_size - 1], 0);
    CHECK_EQ(m.code_pages[(m.ram_size >> 12) - 1], 0);
    stop();
}

TEST(devices_reset_restores_power_on_state)
{
    setup_cfg();
    CHECK_EQ(start(), 0);
    out8(0x3fb, 0x80);
    out8(0x3f8, 0x01);
    out8(0x3fb, 0x03);
    out8(0x3ff, 0x77);
    out8(0x21, 0x55);
    out16(0x510, FW_CFG_RAM_SIZE);
    in8(0x511);
    machine_mmio_write(&m, &fake, LAPIC_DEFAULT_BASE + 0x80, 4, 0x20);
    machine_reset_devices(&m);
    CHECK_EQ(in8(0x3fb), 0);
    CHECK_EQ(in8(0x3ff), 0);
    CHECK_EQ(m.com1.divider, 0x0c);
    CHECK_EQ(in8(0x21), 0);
    CHECK_EQ(m.fwcfg.key, 0);
    CHECK_EQ(m.fwcfg.offset, 0);
    CHECK_EQ(machine_mmio_read(&m, &fake, LAPIC_DEFAULT_BASE + 0x80, 4), 0);
    stop();
}

TEST(devices_save_and_load_round_trip)
{
    struct vmstate s;
    setup_cfg();
    CHECK_EQ(start(), 0);
    out8(0x3fb, 0x1b);
    out8(0x3ff, 0x42);
    uart16550_receive(&m.com1, 'z');
    out8(0x21, 0x99);
    out16(0x510, FW_CFG_SIGNATURE);
    in8(0x511);
    machine_mmio_write(&m, &fake, LAPIC_DEFAULT_BASE + 0x80, 4, 0x30);
    vmstate_init(&s);
    for (int i = 0; i < m.ndevs; i++)
        m.devs[i].ops->save(m.devs[i].dev, &s);
    CHECK(vmstate_ok(&s));
    machine_reset_devices(&m);
    CHECK_EQ(in8(0x3ff), 0);
    struct vmstate r;
    vmstate_init_reader(&r, s.buf, s.len);
    for (int i = 0; i < m.ndevs; i++)
        CHECK_EQ(m.devs[i].ops->load(m.devs[i].dev, &r), 0);
    CHECK_EQ(r.pos, s.len);
    CHECK_EQ(in8(0x3fb), 0x1b);
    CHECK_EQ(in8(0x3ff), 0x42);
    CHECK_EQ(in8(0x3f8), 'z');
    CHECK_EQ(in8(0x21), 0x99);
    CHECK_EQ(in8(0x511), 'E'); /* offset restored */
    CHECK_EQ(machine_mmio_read(&m, &fake, LAPIC_DEFAULT_BASE + 0x80, 4), 0x30);
    /* truncated state: load fails and leaves the device in reset state */
    vmstate_init_reader(&r, s.buf, 3);
    CHECK_EQ(uart16550_ops.load(&m.com1, &r), -1);
    CHECK_EQ(in8(0x3fb), 0);
    /* out-of-range state is refused too */
    uint8_t bad[32];
    memset(bad, 0xff, sizeof bad);
    vmstate_init_reader(&r, bad, sizeof bad);
    CHECK_EQ(pic8259_ops.load(&m.pic[0], &r), -1);
    vmstate_free(&s);
    stop();
}

TEST(machine_device_state_round_trip_and_errors)
{
    struct vmstate s, r;
    setup_cfg();
    CHECK_EQ(start(), 0);
    out8(0x3ff, 0x42);
    out8(0xa1, 0x3c);
    vmstate_init(&s);
    machine_save_devices(&m, &s);
    CHECK(vmstate_ok(&s));
    machine_reset_devices(&m);
    vmstate_init_reader(&r, s.buf, s.len);
    CHECK_EQ(machine_load_devices(&m, &r, err, sizeof err), 0);
    CHECK_EQ(r.pos, s.len);
    CHECK_EQ(in8(0x3ff), 0x42);
    CHECK_EQ(in8(0xa1), 0x3c);
    /* truncated anywhere: an error naming a device, never a crash */
    for (size_t cut = 0; cut < s.len; cut += 7) {
        vmstate_init_reader(&r, s.buf, cut);
        CHECK_EQ(machine_load_devices(&m, &r, err, sizeof err), -1);
    }
    vmstate_init_reader(&r, s.buf, 5);
    CHECK_EQ(machine_load_devices(&m, &r, err, sizeof err), -1);
    CHECK(strstr(err, "uart16550") != NULL);
    /* a renamed device */
    s.buf[1] = 'X';
    vmstate_init_reader(&r, s.buf, s.len);
    CHECK_EQ(machine_load_devices(&m, &r, err, sizeof err), -1);
    CHECK(strstr(err, "'Xart16550' where uart16550 was expected") != NULL);
    /* a blob length pointing past the end */
    s.buf[1] = 'u';
    s.buf[1 + 9 + 3] = 0x7f;
    vmstate_init_reader(&r, s.buf, s.len);
    CHECK_EQ(machine_load_devices(&m, &r, err, sizeof err), -1);
    CHECK(strstr(err, "uart16550: device state truncated") != NULL);
    vmstate_free(&s);
    stop();
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

TEST(boot_enters_multiboot_state_and_reset_restores_image)
{
    char kpath[] = "/tmp/pinvm-kernel-XXXXXX";
    uint8_t k[0x24] = {0};
    put32(k, 0x1BADB002);
    put32(k + 4, 0x10000);
    put32(k + 8, (uint32_t)-(0x1BADB002u + 0x10000u));
    put32(k + 12, 0x100000); /* header_addr */
    put32(k + 16, 0x100000); /* load_addr */
    put32(k + 28, 0x100020); /* entry */
    k[0x20] = 0xf4;          /* hlt */
    int fd = mkstemp(kpath);
    CHECK(fd >= 0);
    CHECK_EQ(write(fd, k, sizeof k), (long)sizeof k);
    close(fd);
    setup_cfg();
    cfg.kernel = kpath;
    cfg.append = "x=1";
    CHECK_EQ(start(), 0);
    CHECK_EQ(machine_start(&m, err, sizeof err), 0);
    struct cpu *c = m.cpus[0];
    CHECK_EQ(c->rip, 0x100020);
    CHECK_EQ(c->regs[R_RAX], 0x2badb002);
    CHECK_EQ(c->regs[R_RBX], 0x9500);
    CHECK_EQ(c->seg[S_CS].sel, 0x08);
    CHECK_EQ(c->seg[S_CS].limit, 0xffffffff);
    CHECK_EQ(c->seg[S_SS].sel, 0x10);
    CHECK_EQ(c->cr0, CR0_PE | CR0_ET);
    CHECK_EQ(cpu_get_eflags(c), 0x2);
    CHECK_EQ(c->gdtr.base, 0x8000);
    CHECK(c->cr_pin_enabled);

    /* the guest scribbles over its image and boot info, pins a bit... */
    m.ram[0x100020] = 0xcc;
    m.ram[0x9500] = 0;
    m.ram[0x101000] = 0;       /* the command line */
    m.ram[0x300000] = 0x55;
    c->pin.cr4_pinned = CR4_SMEP;
    c->rip = 0x1234;
    unlink(kpath); /* ...and the file is gone: QEMU would not re-read it */
    CHECK_EQ(machine_reset(&m, err, sizeof err), 0);
    CHECK_EQ(m.resets, 1);
    CHECK_EQ(m.ram[0x100020], 0xf4);
    CHECK_EQ(m.ram[0x9500], 0x4f);
    CHECK(strncmp((char *)m.ram + 0x101000, kpath, strlen(kpath)) == 0);
    CHECK_EQ(m.ram[0x300000], 0x55); /* RAM otherwise kept */
    CHECK_EQ(c->pin.cr4_pinned, 0);  /* reset clears pins */
    CHECK_EQ(c->rip, 0x100020);
    stop();
}

TEST(vmstate_bounds)
{
    struct vmstate s, r;
    vmstate_init(&s);
    vmstate_put_u8(&s, 0x12);
    vmstate_put_u16(&s, 0x3456);
    vmstate_put_u32(&s, 0x789abcde);
    vmstate_put_u64(&s, 0x0123456789abcdefull);
    for (int i = 0; i < 1000; i++) /* grows past the first allocation */
        vmstate_put_u32(&s, (uint32_t)i);
    CHECK(vmstate_ok(&s));
    CHECK_EQ(s.len, 15 + 4000);
    CHECK_EQ(s.buf[1], 0x56); /* little-endian */
    vmstate_init_reader(&r, s.buf, s.len);
    CHECK_EQ(vmstate_get_u8(&r), 0x12);
    CHECK_EQ(vmstate_get_u16(&r), 0x3456);
    CHECK_EQ(vmstate_get_u32(&r), 0x789abcde);
    CHECK_EQ(vmstate_get_u64(&r), 0x0123456789abcdefull);
    for (int i = 0; i < 1000; i++)
        CHECK_EQ(vmstate_get_u32(&r), (uint32_t)i);
    CHECK(vmstate_ok(&r));
    CHECK_EQ(vmstate_get_u8(&r), 0); /* past the end: 0 and the error flag */
    CHECK(!vmstate_ok(&r));
    CHECK_EQ(vmstate_get_u32(&r), 0); /* stays failed */
    uint8_t b[4] = {1, 2, 3, 4};
    vmstate_get_bytes(&r, b, sizeof b);
    CHECK_EQ(b[0] | b[3], 0);
    vmstate_put_u8(&r, 1); /* a reader view is not writable */
    CHECK(!vmstate_ok(&r));
    vmstate_free(&s);
}

TEST(iomap_rejects_overlaps_and_splits_wide_accesses)
{
    struct iomap map;
    iomap_init(&map);
    struct io_region a = {"a", 0x100, 4, 1, NULL, NULL, NULL};
    CHECK_EQ(iomap_add(&map, &a), 0);
    struct io_region b = {"b", 0x103, 2, 1, NULL, NULL, NULL};
    CHECK_EQ(iomap_add(&map, &b), -1);
    struct io_region c = {"c", 0x104, 0, 1, NULL, NULL, NULL};
    CHECK_EQ(iomap_add(&map, &c), -1);
    struct io_region d = {"d", ~0ull, 2, 1, NULL, NULL, NULL};
    CHECK_EQ(iomap_add(&map, &d), -1);
    struct io_region e = {"e", 0x200, 2, 3, NULL, NULL, NULL};
    CHECK_EQ(iomap_add(&map, &e), -1);
    CHECK(iomap_find(&map, 0x103) != NULL);
    CHECK(iomap_find(&map, 0x104) == NULL);
    CHECK_EQ(iomap_remove(&map, NULL, 0x100), 0);
    CHECK(iomap_find(&map, 0x100) == NULL);
}

TEST(cpu_dump_state_is_qemu_format)
{
    static struct cpu c;
    char buf[4096];
    memset(&c, 0, sizeof c);
    c.regs[R_RAX] = 0x2badb002;
    c.regs[R_RBX] = 0x9500;
    c.rip = 0x100000;
    cpu_set_eflags(&c, 0x2);
    c.seg[S_CS] = (struct seg){0x08, 0xc09b, 0xffffffff, 0};
    c.seg[S_DS] = (struct seg){0x10, 0xc093, 0xffffffff, 0};
    c.gdtr = (struct dtr){0x8000, 0x27};
    c.cr0 = 0x11;
    FILE *f = fmemopen(buf, sizeof buf, "w");
    cpu_dump_state(&c, f);
    fclose(f);
    CHECK(strstr(buf, "EAX=2badb002 EBX=00009500 ECX=00000000 EDX=00000000\n") != NULL);
    CHECK(strstr(buf, "EIP=00100000 EFL=00000002 [-------] CPL=0") != NULL);
    CHECK(strstr(buf, "CS =0008 00000000 ffffffff 00c09b00\n") != NULL);
    CHECK(strstr(buf, "DS =0010 00000000 ffffffff 00c09300\n") != NULL);
    CHECK(strstr(buf, "GDT=     00008000 00000027\n") != NULL);
    CHECK(strstr(buf, "CR0=00000011 CR2=00000000") != NULL);
    /* long mode: 64-bit registers, four per line, as QEMU */
    c.efer = EFER_LME | EFER_LMA;
    c.regs[R_R8] = 8;
    f = fmemopen(buf, sizeof buf, "w");
    cpu_dump_state(&c, f);
    fclose(f);
    CHECK(strstr(buf, "RAX=000000002badb002 RBX=0000000000009500 "
                      "RCX=0000000000000000 RDX=0000000000000000\n") != NULL);
    CHECK(strstr(buf, "\nR8 =0000000000000008 R9 =0000000000000000 "
                      "R10=0000000000000000 R11=0000000000000000\n") != NULL);
    CHECK(strstr(buf, "RIP=0000000000100000 RFL=00000002") != NULL);
    CHECK(strstr(buf, "EFER=0000000000000500\n") != NULL);
}

static const struct unit_test tests[] = {
    T(uart_transmits_to_backend_and_reports_thr_empty),
    T(uart_registers),
    T(uart_receive_and_loopback),
    T(host_input_reaches_receiver_without_overrun),
    T(uart_irq_reaches_pic_irr),
    T(debug_exit_status_and_exit_request),
    T(debug_exit_moved_by_device_flag),
    T(fw_cfg_items),
    T(unassigned_ports_read_all_ones),
    T(pic_initialisation_sequence),
    T(reset_sources),
    T(exit_beats_reset),
    T(lapic_registers),
    T(lapic_follows_apic_base),
    T(unassigned_mmio_reads_all_ones),
    T(ram_is_mapped_lazily_and_zeroed),
    T(devices_reset_restores_power_on_state),
    T(devices_save_and_load_round_trip),
    T(machine_device_state_round_trip_and_errors),
    T(boot_enters_multiboot_state_and_reset_restores_image),
    T(vmstate_bounds),
    T(iomap_rejects_overlaps_and_splits_wide_accesses),
    T(cpu_dump_state_is_qemu_format),
};
UNIT_MAIN(tests)
