/* machine_run.c: the vCPUs' life: creation, (re)boot into the Multiboot
 * kernel, and the run loop that turns CPU exits and device requests into
 * machine events. */
#include "machine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boot/mbentry.h"
#include "ctl/qmp_machine.h"

/* cpu_bus trampolines: the core sees only these. */
static uint32_t bus_io_in(void *opaque, struct cpu *c, uint16_t port, int size)
{
    return machine_io_in(opaque, c, port, size);
}

static void bus_io_out(void *opaque, struct cpu *c, uint16_t port, int size,
                       uint32_t val)
{
    machine_io_out(opaque, c, port, size, val);
}

static uint64_t bus_mmio_read(void *opaque, struct cpu *c, uint64_t pa,
                              int size)
{
    return machine_mmio_read(opaque, c, pa, size);
}

static void bus_mmio_write(void *opaque, struct cpu *c, uint64_t pa,
                           int size, uint64_t val)
{
    machine_mmio_write(opaque, c, pa, size, val);
}

static void bus_pin_violation(void *opaque, struct cpu *c, int cr,
                              uint64_t old_val, uint64_t new_val)
{
    struct machine *m = opaque;
    pin_audit_report(&m->audit, c, cr, old_val, new_val);
}

/* -cpu options live in struct cpu; cpu_reset may clear them. */
static void apply_cpu_config(struct machine *m, struct cpu *c)
{
    c->cr_pin_enabled = m->cfg->cr_pin;
    c->hv_sig_pinvm = m->cfg->pinvm_sig;
}

/* Reset every vCPU (and dump it first with -d cpu_reset, as QEMU logs
 * "CPU Reset (CPU n)" then the state), load the kernel, enter it. */
static int boot(struct machine *m, char *err, size_t errlen)
{
    const struct mb_params p = {m->cfg->kernel, m->cfg->append,
                                m->cfg->initrd};
    for (int i = 0; i < m->ncpus; i++) {
        struct cpu *c = m->cpus[i];
        if (log_on(&m->log, LOG_CPU_RESET)) {
            log_printf(&m->log, "CPU Reset (CPU %d)\n", i);
            cpu_dump_state(c, m->log.out);
        }
        cpu_reset(c);
        apply_cpu_config(m, c);
        c->exit_request = 0;
        apm_smm_firmware(c); /* SMBASE and the SMI handler in SMRAM */
    }
    if (!m->boot_blob) {
        if (multiboot_load_file(m->ram, m->ram_size, &p, &m->boot, err, errlen) < 0)
            return -1;
        /* Keep what was loaded, as QEMU keeps its -kernel ROM blobs: a
         * reset copies them back and never re-reads the files (which may
         * have changed or gone since). */
        size_t n = m->boot.end - m->boot.image_start;
        m->boot_blob = malloc(n ? n : 1);
        if (!m->boot_blob) {
            snprintf(err, errlen, "out of memory keeping the boot image");
            return -1;
        }
        memcpy(m->boot_blob, m->ram + m->boot.image_start, n);
        memcpy(m->boot_low, m->ram + MB_LOW_START, sizeof m->boot_low);
    } else {
        memcpy(m->ram + m->boot.image_start, m->boot_blob,
               m->boot.end - m->boot.image_start);
        memcpy(m->ram + MB_LOW_START, m->boot_low, sizeof m->boot_low);
    }
    /* Loading wrote RAM behind the vCPU's back: drop decoded code. */
    memset(m->code_pages, 0, m->ram_size >> 12);
    mptable_write(m);
    multiboot_enter(m->cpus[0], &m->boot);
    m->icount_at_boot = m->cpus[0]->icount;
    return 0;
}

int machine_start(struct machine *m, char *err, size_t errlen)
{
    m->bus = (struct cpu_bus){
        .opaque = m,
        .io_in = bus_io_in,
        .io_out = bus_io_out,
        .mmio_read = bus_mmio_read,
        .mmio_write = bus_mmio_write,
        .pin_violation = bus_pin_violation,
    };
    for (int i = 0; i < m->ncpus; i++) {
        struct cpu *c = calloc(1, sizeof *c);
        if (!c || cpu_init(c, i, m->ram, m->ram_size, m->code_pages,
                           &m->bus, &m->log) < 0) {
            free(c);
            snprintf(err, errlen, "cannot create vCPU %d: out of memory", i);
            return -1;
        }
        m->cpus[i] = c;
        smp_attach_cpu(m, c);
        apply_cpu_config(m, c);
    }
    return boot(m, err, errlen);
}

int machine_reset(struct machine *m, char *err, size_t errlen)
{
    machine_reset_devices(m); /* the LAPICs are in the device list */
    m->resets++;
    return boot(m, err, errlen);
}

/* A reset request or a triple fault. Returns -1 to keep running, or the
 * exit status. */
static int do_reset(struct machine *m, const char *why, bool triple)
{
    char err[512];
    if (m->cfg->no_reboot) {
        /* QEMU -no-reboot: shutdown instead, exit status 0. */
        if (triple)
            fprintf(stderr, "pinvm: guest triple fault, shutting down (-no-reboot)\n");
        else
            fprintf(stderr, "pinvm: guest requested reset via %s, shutting down (-no-reboot)\n",
                    why);
        return 0;
    }
    /* A triple fault before the first instruction would loop forever. */
    if (triple && m->cpus[0]->icount == m->icount_at_boot) {
        fprintf(stderr, "pinvm: guest triple fault at its entry point; not rebooting into the same fault\n");
        return 1;
    }
    if (machine_reset(m, err, sizeof err) < 0) {
        fprintf(stderr, "pinvm: reset: %s\n", err);
        return 1;
    }
    qmp_machine_guest_reset(m);
    return -1;
}

/* Why nothing runs: every vCPU halted with nothing to wake it, or
 * waiting for a SIPI, and no armed timer. */
static void report_stuck(struct machine *m)
{
    struct cpu *c = m->cpus[0];
    if (m->lapic[0].run_state == LAPIC_RUN && !(cpu_get_eflags(c) & F_IF))
        fprintf(stderr, "pinvm: guest halted with interrupts disabled; nothing can wake it\n");
    else
        fprintf(stderr, "pinvm: guest halted waiting for an interrupt, but no interrupt source is enabled; nothing can wake it\n");
}

/* The earliest timer event that could wake a vCPU: an armed, unmasked
 * LAPIC timer of a running vCPU with IF=1, or the PIT's next IRQ0 if it
 * is routed and some running vCPU has IF=1; 0 if none (a vCPU halted with
 * IF=0 stays halted whatever its timer does). */
static uint64_t next_timer(struct machine *m)
{
    uint64_t next = 0;
    bool any_if = false;
    for (int i = 0; i < m->ncpus; i++) {
        if (m->lapic[i].run_state != LAPIC_RUN ||
            !(m->cpus[i]->eflags & F_IF))
            continue;
        any_if = true;
        uint64_t t = lapic_timer_next(&m->lapic[i]);
        if (t && (!next || t < next))
            next = t;
    }
    uint64_t p = any_if && smp_irq0_routed(m) ? pit8254_next(&m->pit) : 0;
    if (p && (!next || p < next))
        next = p;
    return next;
}

/* One round: each vCPU in turn runs up to a quantum (docs/smp.md).
 * Returns -1 to go on, or the host exit status. *ran tells whether any
 * vCPU could run. */
static int run_round(struct machine *m, uint64_t quantum, bool *ran)
{
    int st;
    *ran = false;
    pit8254_update(&m->pit, m->vclock);
    for (int i = 0; i < m->ncpus; i++) {
        struct cpu *c = m->cpus[i];
        enum cpu_exit why = CPU_EXIT_BUDGET;
        smp_apply_init_sipi(m, i); /* may request a reset (INIT to the BSP) */
        if (m->req.kind == SYSREQ_NONE) {
            lapic_timer_update(&m->lapic[i], m->vclock);
            if (!smp_cpu_runnable(m, i))
                continue;
            *ran = true;
            m->cur_cpu = i;
            m->slice_start = c->icount;
            c->exit_request = 0;
            why = cpu_run(c, quantum);
            m->cur_cpu = -1;
        }

        /* Device requests first: the access that made them happened. */
        if (m->req.kind == SYSREQ_EXIT) {
            if (m->log.out)
                fflush(m->log.out);
            fflush(stdout);
            return m->req.status;
        }
        if (m->req.kind == SYSREQ_RESET) {
            const char *src = m->req.why;
            m->req = (struct sysreq){0};
            if ((st = do_reset(m, src, false)) >= 0)
                return st;
            *ran = true; /* the reboot is progress: no idle check */
            return -1;   /* a new round from vCPU 0 */
        }
        /* A triple fault shuts the processor down; the chipset turns
         * the shutdown cycle into a system reset (as QEMU does). */
        if (why == CPU_EXIT_SHUTDOWN) {
            if ((st = do_reset(m, NULL, true)) >= 0)
                return st;
            return -1;
        }
    }
    return -1;
}

int machine_run(struct machine *m)
{
    const uint64_t quantum = m->ncpus > 1 ? MACHINE_SMP_QUANTUM : MACHINE_SLICE;
    for (;;) {
        bool ran;
        int st;
        /* QMP between rounds; blocks there while paused (-S, stop). */
        if (qmp_machine_poll(m))
            return 0;
        machine_poll_input(m);
        uint64_t round_start = m->vclock;
        if ((st = run_round(m, quantum, &ran)) >= 0)
            return st;
        if (ran) {
            m->vclock = round_start + quantum;
            continue;
        }
        /* Nobody can run: jump the clock to the next timer expiry. */
        uint64_t next = next_timer(m);
        if (next) {
            if (next > m->vclock)
                m->vclock = next;
            continue;
        }
        /* With -qmp the host can still reset, wake (SMI) or quit it:
         * wait there for the next command instead of exiting. */
        if (qmp_machine_wait_halted(m))
            continue;
        /* QEMU would wait forever; with no interrupt source that can
         * fire, say so and stop. */
        report_stuck(m);
        return 1;
    }
}
