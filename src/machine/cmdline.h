/* cmdline.h: the QEMU-compatible command line (a subset of
 * qemu-system-x86_64's flags). Parsing is a pure function: it fills a
 * config struct and never prints, opens files or exits, so every error
 * path is unit tested. */
#ifndef PINVM_CMDLINE_H
#define PINVM_CMDLINE_H

#include <stdbool.h>

#define PINVM_MAX_SMP 64 /* = MACHINE_MAX_CPUS */
#include <stddef.h>
#include <stdint.h>

enum pinvm_action {
    ACTION_RUN = 0,
    ACTION_HELP,     /* --help */
    ACTION_VERSION,  /* --version */
    ACTION_LOG_HELP, /* -d help */
};

enum serial_mode { SERIAL_STDIO = 0, SERIAL_NONE, SERIAL_FILE };

#define RAM_SIZE_DEFAULT (128ull << 20)
#define RAM_SIZE_MIN     (2ull << 20)
/* Below QEMU's pc lowmem limit (0xE0000000), RAM is one block at 0 on
 * both QEMU and pinvm; above it QEMU splits RAM around the PCI hole,
 * which pinvm does not model yet. */
#define RAM_SIZE_MAX     (0xE0000000ull - (1ull << 20))

struct pinvm_config {
    enum pinvm_action action;
    const char *kernel;
    const char *append;
    const char *initrd;
    uint64_t ram_size;
    int smp;            /* -smp: 1..PINVM_MAX_SMP vCPUs */
    enum serial_mode serial;
    const char *serial_path; /* SERIAL_FILE */
    bool serial_set;         /* -serial given (-nographic then changes nothing) */
    bool nographic;
    bool no_reboot;
    uint16_t debugexit_iobase, debugexit_iosize;
    const char *cpu_model;   /* "max", "qemu64" or "host" */
    bool cr_pin;             /* CPUID advertises CR pinning */
    bool pinvm_sig;          /* "PinVMPinVM" hypervisor signature */
    unsigned log_mask;       /* -d */
    const char *logfile;     /* -D, NULL: stderr */
    const char *qmp;         /* -qmp SPEC: QMP control socket (src/ctl) */
    bool start_paused;       /* -S: wait for QMP "cont" before running */
    const char *incoming;    /* -incoming URI: restore a snapshot (src/snapshot) */
};

void config_defaults(struct pinvm_config *cfg);

/* Parse argv[1..argc). Returns 0, or -1 with a one-line message in err
 * (starting with the flag, e.g. "-foo: invalid option"; no "pinvm: "
 * prefix). On success cfg->action says what to do; for ACTION_RUN,
 * cfg->kernel is set. Strings in cfg point into argv. */
int cmdline_parse(int argc, char *const argv[], struct pinvm_config *cfg,
                  char *err, size_t errlen);

/* Helpers, exposed for tests. Return 0 or -1. */
int parse_mem_size(const char *s, uint64_t *out);

extern const char pinvm_usage[];

#endif
