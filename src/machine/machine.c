/* machine.c: RAM, devices and the dispatch that routes vCPU accesses to
 * them. See machine.h for the address map. */
#include "machine.h"

#include "vmstate.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "util/errbuf.h"

_Static_assert(PINVM_MAX_SMP == MACHINE_MAX_CPUS, "-smp limit and vCPU arrays");

static void add_device(struct machine *m, const struct device_ops *ops,
                       void *dev)
{
    /* The list is sized for the fixed device set below. */
    if (m->ndevs < MACHINE_MAX_DEVICES)
        m->devs[m->ndevs++] = (struct machine_device){ops, dev};
}

/* The virtual clock (smp.c) as a device, so that snapshots carry it:
 * LAPIC and PIT deadlines are absolute clock values. A reset keeps it
 * running (it is monotonic). */
static void clock_reset(void *dev) { (void)dev; }
static void clock_save(const void *dev, struct vmstate *s)
{
    vmstate_put_u64(s, ((const struct machine *)dev)->vclock);
}
static int clock_load(void *dev, struct vmstate *s)
{
    uint64_t v = vmstate_get_u64(s);
    if (!vmstate_ok(s))
        return -1;
    ((struct machine *)dev)->vclock = v;
    return 0;
}
static const struct device_ops clock_ops = {
    .name = "vclock",
    .reset = clock_reset,
    .save = clock_save,
    .load = clock_load,
};

static int add_ports(struct machine *m, const char *name, uint16_t base,
                     uint32_t len, int max_size, void *opaque,
                     io_read_fn rd, io_write_fn wr, char *err, size_t errlen)
{
    struct io_region r = {name, base, len, max_size, opaque, rd, wr};
    if (iomap_add(&m->io, &r) < 0) {
        const struct io_region *o = iomap_find(&m->io, base);
        return errbuf_fail(err, errlen, "%s at port 0x%x conflicts with %s", name,
                    base, o ? o->name : "another device");
    }
    return 0;
}

int machine_init(struct machine *m, const struct pinvm_config *cfg,
                 char *err, size_t errlen)
{
    memset(m, 0, sizeof *m);
    m->cfg = cfg;
    m->ncpus = cfg->smp;
    if (m->ncpus < 1 || m->ncpus > MACHINE_MAX_CPUS)
        return errbuf_fail(err, errlen, "-smp %d: between 1 and %d vCPUs", cfg->smp,
                    MACHINE_MAX_CPUS);
    if (cfg->ram_size < RAM_SIZE_MIN || cfg->ram_size > RAM_SIZE_MAX ||
        (cfg->ram_size & 0xfff))
        return errbuf_fail(err, errlen, "unsupported RAM size %llu",
                    (unsigned long long)cfg->ram_size);

    m->log.mask = cfg->log_mask;
    m->log.out = stderr;
    if (cfg->logfile) {
        m->log.out = fopen(cfg->logfile, "w");
        if (!m->log.out)
            return errbuf_fail(err, errlen, "-D %s: %s", cfg->logfile, strerror(errno));
    }

    /* Untouched RAM costs no RSS: MAP_NORESERVE anonymous zero pages. */
    m->ram_size = cfg->ram_size;
    m->ram = mmap(NULL, m->ram_size, PROT_READ | PROT_WRITE,
                  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m->ram == MAP_FAILED) {
        m->ram = NULL;
        machine_destroy(m);
        return errbuf_fail(err, errlen, "-m: cannot allocate %llu MiB of guest RAM",
                    (unsigned long long)(cfg->ram_size >> 20));
    }
    m->code_pages = calloc(m->ram_size >> 12, 1);
    if (!m->code_pages) {
        machine_destroy(m);
        return errbuf_fail(err, errlen, "out of memory");
    }

    pin_audit_init(&m->audit, &m->log);

    switch (cfg->serial) {
    case SERIAL_STDIO:
        chardev_init_fd(&m->serial_out, STDOUT_FILENO);
        /* Input as QEMU's stdio chardev; but a background job reading
         * its terminal would be stopped by SIGTTIN, so not then. */
        if (!isatty(STDIN_FILENO) || tcgetpgrp(STDIN_FILENO) == getpgrp())
            m->serial_out.in_fd = STDIN_FILENO;
        break;
    case SERIAL_NONE:
        chardev_init_null(&m->serial_out);
        break;
    case SERIAL_FILE:
        if (chardev_open_file(&m->serial_out, cfg->serial_path) < 0) {
            int e = errno;
            chardev_init_null(&m->serial_out);
            machine_destroy(m);
            return errbuf_fail(err, errlen, "-serial file:%s: %s", cfg->serial_path,
                        strerror(e));
        }
        break;
    }

    iomap_init(&m->io);
    iomap_init(&m->mmio);
    uart16550_init(&m->com1, &m->serial_out);
    m->com1.irq = (struct irq_line){machine_isa_irq, m, 4};
    debugexit_init(&m->dbgexit, cfg->debugexit_iobase, cfg->debugexit_iosize,
                   &m->req);
    pic8259_init(&m->pic[0]);
    pic8259_init(&m->pic[1]);
    fwcfg_init(&m->fwcfg, m->ram_size, (uint16_t)m->ncpus, (uint16_t)m->ncpus);
    i8042_init(&m->kbd, &m->req);
    port92_init(&m->port92, &m->req);
    resetctl_init(&m->rcr, &m->req);
    apm_init(&m->apm);
    smp_setup(m);
    for (int i = 0; i < m->ncpus; i++)
        lapic_init(&m->lapic[i], (uint8_t)i, i == 0, &m->lapic_host);
    ioapic_init(&m->ioapic, &m->ioapic_host);
    pit8254_init(&m->pit, m->lapic_host.now, m,
                 (struct irq_line){machine_isa_irq, m, 0});

    add_device(m, &uart16550_ops, &m->com1);
    add_device(m, &debugexit_ops, &m->dbgexit);
    add_device(m, &pic8259_ops, &m->pic[0]);
    add_device(m, &pic8259_ops, &m->pic[1]);
    add_device(m, &fwcfg_ops, &m->fwcfg);
    add_device(m, &i8042_ops, &m->kbd);
    add_device(m, &port92_ops, &m->port92);
    add_device(m, &resetctl_ops, &m->rcr);
    add_device(m, &apm_ops, &m->apm);
    add_device(m, &clock_ops, m);
    add_device(m, &ioapic_ops, &m->ioapic);
    add_device(m, &pit8254_ops, &m->pit);
    for (int i = 0; i < m->ncpus; i++)
        add_device(m, &lapic_ops, &m->lapic[i]);

    if (add_ports(m, "i8259 master", 0x20, 2, 1, &m->pic[0], pic8259_read,
                  pic8259_write, err, errlen) < 0 ||
        add_ports(m, "i8259 slave", 0xa0, 2, 1, &m->pic[1], pic8259_read,
                  pic8259_write, err, errlen) < 0 ||
        add_ports(m, "i8254 PIT", 0x40, 4, 1, &m->pit, pit8254_read,
                  pit8254_write, err, errlen) < 0 ||
        add_ports(m, "i8042 data", 0x60, 1, 1, &m->kbd, i8042_data_read,
                  i8042_data_write, err, errlen) < 0 ||
        add_ports(m, "i8042 command", 0x64, 1, 1, &m->kbd, i8042_cmd_read,
                  i8042_cmd_write, err, errlen) < 0 ||
        /* POST code and I/O delay ports: present, no effect. */
        add_ports(m, "port 0x80", 0x80, 1, 1, NULL, NULL, NULL, err, errlen) < 0 ||
        add_ports(m, "port 0xed", 0xed, 1, 1, NULL, NULL, NULL, err, errlen) < 0 ||
        add_ports(m, "port 0x92", 0x92, 1, 1, &m->port92, port92_read,
                  port92_write, err, errlen) < 0 ||
        add_ports(m, "COM1", 0x3f8, 8, 1, &m->com1, uart16550_read,
                  uart16550_write, err, errlen) < 0 ||
        add_ports(m, "fw_cfg", FW_CFG_PORT_SEL, 2, 2, &m->fwcfg, fwcfg_read,
                  fwcfg_write, err, errlen) < 0 ||
        add_ports(m, "PIIX reset control", 0xcf9, 1, 1, &m->rcr,
                  resetctl_read, resetctl_write, err, errlen) < 0 ||
        add_ports(m, "APM", APM_CNT_PORT, 2, 1, &m->apm, apm_read,
                  apm_write, err, errlen) < 0) {
        machine_destroy(m);
        return -1; /* fixed map: cannot happen */
    }
    struct io_region ioa = {"ioapic", IOAPIC_BASE, 0x1000, 4, &m->ioapic,
                            ioapic_read, ioapic_write};
    if (iomap_add(&m->mmio, &ioa) < 0) {
        machine_destroy(m);
        return errbuf_fail(err, errlen, "cannot map the I/O APIC");
    }
    /* Last, so that a -device that moves it onto another device's ports
     * is refused naming that device. */
    struct io_region dx = {"isa-debug-exit", cfg->debugexit_iobase,
                           cfg->debugexit_iosize, 4, &m->dbgexit,
                           debugexit_read, debugexit_write};
    if (iomap_add(&m->io, &dx) < 0) {
        const char *other = "another device";
        for (uint32_t p = 0; p < cfg->debugexit_iosize; p++) {
            const struct io_region *o = iomap_find(&m->io, cfg->debugexit_iobase + p);
            if (o) {
                other = o->name;
                break;
            }
        }
        errbuf_fail(err, errlen, "-device isa-debug-exit: ports 0x%x-0x%x overlap %s",
             cfg->debugexit_iobase,
             cfg->debugexit_iobase + cfg->debugexit_iosize - 1, other);
        machine_destroy(m);
        return -1;
    }

    m->bus.opaque = m;
    return 0;
}

void machine_destroy(struct machine *m)
{
    for (int i = 0; i < MACHINE_MAX_CPUS; i++) {
        if (m->cpus[i]) {
            cpu_destroy(m->cpus[i]);
            free(m->cpus[i]);
            m->cpus[i] = NULL;
        }
    }
    if (m->audit.log) {
        pin_audit_flush(&m->audit);
        pin_audit_destroy(&m->audit);
        m->audit.log = NULL;
    }
    chardev_close(&m->serial_out);
    if (m->log.out && m->log.out != stderr)
        fclose(m->log.out);
    m->log.out = NULL;
    if (m->ram)
        munmap(m->ram, m->ram_size);
    m->ram = NULL;
    free(m->code_pages);
    m->code_pages = NULL;
    free(m->boot_blob);
    m->boot_blob = NULL;
}

void machine_poll_input(struct machine *m)
{
    uint8_t buf[UART_FIFO_SIZE];
    unsigned room = uart16550_rx_room(&m->com1);
    if (room > sizeof buf)
        room = sizeof buf;
    size_t n = chardev_read_ready(&m->serial_out, buf, room);
    for (size_t i = 0; i < n; i++)
        uart16550_receive(&m->com1, buf[i]);
}

void machine_save_devices(const struct machine *m, struct vmstate *s)
{
    for (int i = 0; i < m->ndevs; i++) {
        const struct machine_device *d = &m->devs[i];
        size_t nlen = strlen(d->ops->name);
        struct vmstate blob;
        vmstate_init(&blob);
        d->ops->save(d->dev, &blob);
        if (!vmstate_ok(&blob) || blob.len > UINT32_MAX || nlen > 255) {
            s->error = true;
            vmstate_free(&blob);
            return;
        }
        vmstate_put_u8(s, (uint8_t)nlen);
        vmstate_put_bytes(s, d->ops->name, nlen);
        vmstate_put_u32(s, (uint32_t)blob.len);
        vmstate_put_bytes(s, blob.buf, blob.len);
        vmstate_free(&blob);
    }
}

int machine_load_devices(struct machine *m, struct vmstate *s, char *err,
                         size_t errlen)
{
    for (int i = 0; i < m->ndevs; i++) {
        const struct machine_device *d = &m->devs[i];
        char name[256];
        uint8_t nlen = vmstate_get_u8(s);
        vmstate_get_bytes(s, name, nlen);
        name[nlen] = '\0';
        uint32_t len = vmstate_get_u32(s);
        if (!vmstate_ok(s))
            return errbuf_fail(err, errlen, "device state truncated before %s", d->ops->name);
        if (strcmp(name, d->ops->name) != 0)
            return errbuf_fail(err, errlen, "device state has '%s' where %s was expected",
                        name, d->ops->name);
        if (len > s->len - s->pos)
            return errbuf_fail(err, errlen, "%s: device state truncated", d->ops->name);
        struct vmstate blob;
        vmstate_init_reader(&blob, s->buf + s->pos, len);
        s->pos += len;
        if (d->ops->load(d->dev, &blob) < 0 || blob.pos != len) {
            d->ops->reset(d->dev);
            return errbuf_fail(err, errlen, "%s: invalid device state", d->ops->name);
        }
    }
    return 0;
}

void machine_reset_devices(struct machine *m)
{
    for (int i = 0; i < m->ndevs; i++)
        m->devs[i].ops->reset(m->devs[i].dev);
    m->req = (struct sysreq){0};
}

void machine_isa_irq(void *opaque, int n, int level)
{
    struct machine *m = opaque;
    if (n < 0 || n > 15)
        return;
    pic8259_set_irq(&m->pic[n >> 3], n & 7, level);
    ioapic_set_irq(&m->ioapic, n == 0 ? 2 : n, level);
}

/* A device asked to stop the machine: make the vCPU leave cpu_run(). */
static void after_access(struct machine *m, struct cpu *c)
{
    if (m->req.kind != SYSREQ_NONE && c)
        c->exit_request = 1;
}

static bool valid_size(int size, int max)
{
    return (size == 1 || size == 2 || size == 4 || size == 8) && size <= max;
}

uint32_t machine_io_in(struct machine *m, struct cpu *c, uint16_t port,
                       int size)
{
    if (!valid_size(size, 4))
        return 0xffffffffu;
    uint32_t v = (uint32_t)iomap_read(&m->io, port, size);
    after_access(m, c);
    return v;
}

void machine_io_out(struct machine *m, struct cpu *c, uint16_t port,
                    int size, uint32_t val)
{
    if (!valid_size(size, 4))
        return;
    iomap_write(&m->io, port, size, val);
    if (m->apm.smi_request) { /* APM control port: SMI to the writer */
        m->apm.smi_request = false;
        if (c)
            c->smi_pending = true;
    }
    after_access(m, c);
}

/* The vCPU's local APIC page, if pa falls in it (per-vCPU: each sees its
 * own, where its IA32_APIC_BASE puts it, while globally enabled). */
static struct lapic *lapic_at(struct machine *m, struct cpu *c, uint64_t pa,
                              uint64_t *off)
{
    if (!c || c->cpu_index < 0 || c->cpu_index >= m->ncpus ||
        !(c->apic_base & APIC_BASE_ENABLE))
        return NULL;
    uint64_t base = c->apic_base & APIC_BASE_ADDR;
    if (pa - base >= 0x1000)
        return NULL;
    *off = pa - base;
    return &m->lapic[c->cpu_index];
}

uint64_t machine_mmio_read(struct machine *m, struct cpu *c, uint64_t pa,
                           int size)
{
    uint64_t off;
    if (!valid_size(size, 8))
        return ~0ull;
    struct lapic *a = lapic_at(m, c, pa, &off);
    if (a) /* 32-bit registers: an 8-byte read sees the register, zero-extended */
        return lapic_read(a, off, size > 4 ? 4 : size) & size_mask(size);
    uint64_t v = iomap_read(&m->mmio, pa, size);
    after_access(m, c);
    return v;
}

void machine_mmio_write(struct machine *m, struct cpu *c, uint64_t pa,
                        int size, uint64_t val)
{
    uint64_t off;
    if (!valid_size(size, 8))
        return;
    struct lapic *a = lapic_at(m, c, pa, &off);
    if (a) {
        lapic_write(a, off, size > 4 ? 4 : size, val);
        return;
    }
    iomap_write(&m->mmio, pa, size, val);
    after_access(m, c);
}
