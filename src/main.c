/* main.c: pinvm's entry point: parse the QEMU-style command line, build
 * the machine, run it, exit with the guest's status. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "ctl/qmp_machine.h"
#include "machine/cmdline.h"
#include "machine/machine.h"
#include "snapshot/snapshot.h"
#include "util/log.h"

#ifndef PINVM_VERSION
#define PINVM_VERSION "unknown"
#endif

int main(int argc, char **argv)
{
    struct pinvm_config cfg;
    char err[512];

    if (cmdline_parse(argc, argv, &cfg, err, sizeof err) < 0) {
        fprintf(stderr, "pinvm: %s\n", err);
        return 2;
    }
    switch (cfg.action) {
    case ACTION_HELP:
        fputs(pinvm_usage, stdout);
        return 0;
    case ACTION_VERSION:
        printf("pinvm version %s\n", PINVM_VERSION);
        return 0;
    case ACTION_LOG_HELP: {
        unsigned mask;
        const char *bad;
        size_t badlen;
        log_parse_items("help", &mask, &bad, &badlen);
        return 0;
    }
    case ACTION_RUN:
        break;
    }
    if (cfg.incoming) { /* a bad URI is a usage error, before any work */
        struct snap_uri u;
        if (snap_uri_parse(cfg.incoming, &u, err, sizeof err) < 0) {
            fprintf(stderr, "pinvm: -incoming %s\n", err);
            return 2;
        }
    }

    /* A closed pipe on the serial output must not kill us mid-test. */
    signal(SIGPIPE, SIG_IGN);

    struct machine *m = calloc(1, sizeof *m);
    if (!m) {
        fprintf(stderr, "pinvm: out of memory\n");
        return 1;
    }
    int status = 1;
    if (machine_init(m, &cfg, err, sizeof err) < 0) {
        fprintf(stderr, "pinvm: %s\n", err);
        free(m);
        return 1;
    }
    if (machine_start(m, err, sizeof err) < 0) {
        fprintf(stderr, "pinvm: %s\n", err);
    } else if (cfg.incoming && snapshot_load(m, cfg.incoming, err, sizeof err) < 0) {
        /* Never run a guest from a stream that was refused. */
        fprintf(stderr, "pinvm: -incoming %s\n", err);
    } else if (qmp_machine_open(m, err, sizeof err) < 0) {
        fprintf(stderr, "pinvm: %s\n", err);
        qmp_machine_close(m);
    } else {
        status = machine_run(m);
        qmp_machine_close(m);
    }
    machine_destroy(m);
    free(m);
    return status;
}
