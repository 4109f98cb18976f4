/* qmp_fake.c: the QMP layer (src/ctl) on a fake machine, so the protocol
 * tests run without the emulator and deterministically.
 *
 * usage: qmp_fake -qmp SPEC [-S] [-smp N]
 *
 * The fake "guest" mimics tests/qmp/guest/pin_loop.c on vCPU 0: at boot it
 * pins CR4.SMEP (a guest MSR write), then every tick it tries to clear SMEP;
 * while the pin holds, that is a blocked write reported to the audit trail
 * (a CR_PIN_VIOLATION event, rate-limited); once the host has cleared the
 * pin the write succeeds and the guest exits with status 0x10, i.e. process
 * status (0x10 << 1) | 1 = 33, as pinvm's debug-exit port does.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/ctl.h"
#include "cpu/cpu.h"
#include "pin/audit.h"

#define MAX_CPUS 8

struct fake {
    struct cpu cpu[MAX_CPUS];
    int ncpus;
    struct pin_audit audit;
    bool booted;
    int resets;
};

/* audit.c's pin_audit_report() needs it; the fake submits records itself. */
int cpu_peek_code(struct cpu *c, uint64_t lin, uint8_t *buf, int n)
{
    (void)c;
    (void)lin;
    (void)buf;
    (void)n;
    return 0;
}

static struct cpu *fake_cpu(void *opaque, int i)
{
    return &((struct fake *)opaque)->cpu[i];
}

static struct pin_audit *fake_audit(void *opaque)
{
    return &((struct fake *)opaque)->audit;
}

static int fake_reset(void *opaque)
{
    struct fake *f = opaque;

    /* A real reset: cpu_reset() clears pins; the guest boots again. */
    for (int i = 0; i < f->ncpus; i++) {
        crpin_reset(&f->cpu[i].pin);
        f->cpu[i].cr4 = 0;
        f->cpu[i].smi_pending = false;
    }
    f->booted = false;
    f->resets++;
    return 0;
}

/* One tick of the fake guest. Returns an exit status >= 0 to end. */
static int guest_tick(struct fake *f)
{
    struct cpu *c = &f->cpu[0];
    uint64_t want;

    if (!f->booted) {
        f->booted = true;
        c->cr4 = CR4_SMEP | CR4_PAE;
        crpin_msr_write(&c->pin, MSR_KVM_CR4_PINNED, CRPIN_GUEST,
                        CRPIN_CR4_SMEP);
        return -1;
    }
    for (int i = 0; i < f->ncpus; i++)
        f->cpu[i].smi_pending = false; /* the SMM stub acknowledges it */
    want = c->cr4 & ~CR4_SMEP;
    if (crpin_check_cr_write(&c->pin, 4, c->cr4, want, false) == CRPIN_GP) {
        static const uint8_t mov_cr4[] = {0x0f, 0x22, 0xe0};
        struct pin_audit_record r;
        memset(&r, 0, sizeof r);
        r.cpu_index = 0;
        r.cr = 4;
        r.rip = 0xffffffff81000123ull; /* above INT64_MAX on purpose */
        r.cpl = 0;
        r.code_size = 8;
        r.old_val = c->cr4;
        r.new_val = want;
        r.pinned = crpin_mask(&c->pin, 4);
        memcpy(r.insn, mov_cr4, sizeof mov_cr4);
        r.insn_len = sizeof mov_cr4;
        pin_audit_submit(&f->audit, &r);
        return -1;
    }
    c->cr4 = want;
    return 0x10;
}

int main(int argc, char **argv)
{
    struct fake *f = calloc(1, sizeof *f);
    const char *spec = NULL;
    bool paused = false;
    char err[256];
    struct ctl *ctl;
    struct ctl_backend be;
    int status = -1;

    if (!f)
        return 2;
    f->ncpus = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-qmp") && i + 1 < argc)
            spec = argv[++i];
        else if (!strcmp(argv[i], "-S"))
            paused = true;
        else if (!strcmp(argv[i], "-smp") && i + 1 < argc)
            f->ncpus = atoi(argv[++i]);
        else {
            fprintf(stderr, "qmp_fake: bad argument '%s'\n", argv[i]);
            return 2;
        }
    }
    if (!spec || f->ncpus < 1 || f->ncpus > MAX_CPUS) {
        fprintf(stderr, "usage: qmp_fake -qmp SPEC [-S] [-smp 1..8]\n");
        return 2;
    }
    for (int i = 0; i < f->ncpus; i++)
        f->cpu[i].cpu_index = i;
    pin_audit_init(&f->audit, NULL);
    be = (struct ctl_backend){
        .opaque = f,
        .ncpus = f->ncpus,
        .cpu = fake_cpu,
        .audit = fake_audit,
        .reset = fake_reset,
        .catch_signals = true, /* a VM main program, like pinvm */
    };
    ctl = ctl_open(&be, spec, paused, "0.1.0", err, sizeof err);
    if (!ctl) {
        fprintf(stderr, "qmp_fake: %s\n", err);
        return 1;
    }
    if (ctl_wants_wait(ctl) && ctl_wait_client(ctl) < 0)
        return 1;
    while (!ctl_poll(ctl, ctl_running(ctl) ? 20 : -1)) {
        if (ctl_running(ctl) && (status = guest_tick(f)) >= 0)
            break;
    }
    ctl_close(ctl, status >= 0, status >= 0 ? "guest-shutdown" : NULL);
    pin_audit_destroy(&f->audit);
    free(f);
    return status >= 0 ? (status << 1) | 1 : 0;
}
