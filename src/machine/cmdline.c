/* cmdline.c: see cmdline.h. Flags take one dash or two, as QEMU's do. */
#include "cmdline.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/qmp.h"
#include "util/log.h"
#include "util/errbuf.h"

const char pinvm_usage[] =
    "usage: pinvm -kernel FILE [options]\n"
    "\n"
    "A full-system x86-64 VM with paravirtualized control-register pinning.\n"
    "Runs Multiboot kernels the way qemu-system-x86_64 -kernel does.\n"
    "\n"
    "  -kernel FILE        Multiboot kernel (ELF32, ELF64 or a.out kludge)\n"
    "  -append STR         kernel command line\n"
    "  -initrd \"F[ ARGS][,F[ ARGS]...]\"  Multiboot modules (\",,\" is a comma)\n"
    "  -m SIZE             RAM: 128, 128M, 1G or size=128M (default 128M)\n"
    "  -smp [cpus=]N       number of vCPUs (1 to 64)\n"
    "  -cpu MODEL[,+F][,-F][,F=on|off]\n"
    "                      models: max, qemu64, host; features: cr-pin (on),\n"
    "                      pinvm-sig (off)\n"
    "  -serial stdio|none|file:PATH   COM1 (default stdio)\n"
    "  -nographic          no display; serial on stdio unless -serial given\n"
    "  -display none       accepted (there is no display)\n"
    "  -monitor none       accepted (there is no monitor)\n"
    "  -no-reboot          exit instead of rebooting on reset or triple fault\n"
    "  -device isa-debug-exit[,iobase=PORT][,iosize=N]\n"
    "                      move the debug-exit port (present at 0xf4 by default;\n"
    "                      QEMU's defaults iobase=0x501,iosize=2 when given)\n"
    "  -d ITEMS            log items (-d help lists them)\n"
    "  -D FILE             write the log to FILE (default stderr)\n"
    "  -qmp unix:PATH,server=on,wait=off\n"
    "                      QMP control socket (docs/qmp.md)\n"
    "  -S                  start paused (QMP \"cont\" runs the guest)\n"
    "  -incoming URI       start from a snapshot or migration stream: file:PATH,\n"
    "                      unix:PATH, tcp:HOST:PORT (docs/snapshot-format.md)\n"
    "  -h, --help          this text\n"
    "  --version           version\n"
    "\n"
    "Writing V to the debug-exit port ends pinvm with status (V << 1) | 1.\n";

void config_defaults(struct pinvm_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->ram_size = RAM_SIZE_DEFAULT;
    cfg->smp = 1;
    cfg->serial = SERIAL_STDIO;
    cfg->debugexit_iobase = 0xf4;
    cfg->debugexit_iosize = 4;
    cfg->cpu_model = "max";
    cfg->cr_pin = true;
}

/* Unsigned integer with C prefixes (0x..), the whole string. */
static int parse_uint(const char *s, uint64_t *out)
{
    char *end;
    if (!*s || *s == '-' || *s == '+')
        return -1;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

int parse_mem_size(const char *s, uint64_t *out)
{
    char *end;
    if (strncmp(s, "size=", 5) == 0)
        s += 5;
    if (*s < '0' || *s > '9')
        return -1;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno)
        return -1;
    unsigned shift = 20; /* QEMU: a bare number is MiB */
    if (*end) {
        switch (*end) {
        case 'b': case 'B': shift = 0; break;
        case 'k': case 'K': shift = 10; break;
        case 'm': case 'M': shift = 20; break;
        case 'g': case 'G': shift = 30; break;
        case 't': case 'T': shift = 40; break;
        default: return -1;
        }
        if (end[1])
            return -1;
    }
    if (v > (UINT64_MAX >> shift))
        return -1;
    *out = v << shift;
    return 0;
}

/* -smp [cpus=]N[,sockets=S][,cores=C][,threads=T][,maxcpus=M] */
static int parse_smp(const char *arg, int *ncpus, char *err, size_t errlen)
{
    char buf[256];
    uint64_t cpus = 0, prod = 1, maxcpus = 0, v;
    bool have_topo = false;
    if (strlen(arg) >= sizeof buf)
        return errbuf_fail(err, errlen, "-smp %s: invalid value", arg);
    strcpy(buf, arg);
    char *save = NULL;
    int first = 1;
    for (char *it = strtok_r(buf, ",", &save); it; it = strtok_r(NULL, ",", &save), first = 0) {
        char *eq = strchr(it, '=');
        if (!eq) {
            if (!first || parse_uint(it, &cpus) < 0)
                return errbuf_fail(err, errlen, "-smp %s: invalid value '%s'", arg, it);
            continue;
        }
        *eq = '\0';
        if (parse_uint(eq + 1, &v) < 0 || v > 4096)
            return errbuf_fail(err, errlen, "-smp %s: invalid value for '%s'", arg, it);
        if (strcmp(it, "cpus") == 0) {
            cpus = v;
        } else if (strcmp(it, "maxcpus") == 0) {
            maxcpus = v;
        } else if (!strcmp(it, "sockets") || !strcmp(it, "cores") ||
                   !strcmp(it, "threads") || !strcmp(it, "dies") ||
                   !strcmp(it, "clusters")) {
            prod *= v ? v : 1;
            have_topo = true;
        } else {
            return errbuf_fail(err, errlen, "-smp %s: unknown property '%s'", arg, it);
        }
    }
    if (cpus == 0)
        cpus = have_topo ? prod : 1;
    if (maxcpus == 0)
        maxcpus = cpus;
    if (maxcpus < cpus)
        return errbuf_fail(err, errlen, "-smp %s: maxcpus must be at least cpus", arg);
    if (cpus > PINVM_MAX_SMP || maxcpus > PINVM_MAX_SMP)
        return errbuf_fail(err, errlen, "-smp %s: at most %d vCPUs", arg, PINVM_MAX_SMP);
    *ncpus = (int)cpus;
    return 0;
}

/* on/off/true/false/yes/no */
static int parse_bool(const char *s, bool *b)
{
    if (!strcmp(s, "on") || !strcmp(s, "true") || !strcmp(s, "yes")) {
        *b = true;
        return 0;
    }
    if (!strcmp(s, "off") || !strcmp(s, "false") || !strcmp(s, "no")) {
        *b = false;
        return 0;
    }
    return -1;
}

/* -cpu MODEL[,+feat][,-feat][,feat=on|off] */
static int parse_cpu(const char *arg, struct pinvm_config *cfg, char *err,
                     size_t errlen)
{
    static const char *const models[] = {"max", "qemu64", "host"};
    const char *comma = strchr(arg, ',');
    size_t mlen = comma ? (size_t)(comma - arg) : strlen(arg);
    size_t i;
    for (i = 0; i < sizeof models / sizeof models[0]; i++)
        if (strlen(models[i]) == mlen && !strncmp(models[i], arg, mlen))
            break;
    if (i == sizeof models / sizeof models[0])
        return errbuf_fail(err, errlen, "-cpu %s: unknown CPU model '%.*s' (try max, qemu64 or host)",
                    arg, (int)mlen, arg);
    cfg->cpu_model = models[i];
    while (comma) {
        const char *f = comma + 1;
        comma = strchr(f, ',');
        size_t flen = comma ? (size_t)(comma - f) : strlen(f);
        char feat[64];
        bool on = true;
        if (flen == 0 || flen >= sizeof feat)
            return errbuf_fail(err, errlen, "-cpu %s: malformed feature list", arg);
        memcpy(feat, f, flen);
        feat[flen] = '\0';
        char *name = feat, *eq = strchr(feat, '=');
        if (feat[0] == '+' || feat[0] == '-') {
            on = feat[0] == '+';
            name++;
            if (eq)
                return errbuf_fail(err, errlen, "-cpu %s: malformed feature '%s'", arg, feat);
        } else if (eq) {
            *eq = '\0';
            if (parse_bool(eq + 1, &on) < 0)
                return errbuf_fail(err, errlen, "-cpu %s: invalid value '%s' for feature '%s'",
                            arg, eq + 1, name);
        } else {
            return errbuf_fail(err, errlen, "-cpu %s: malformed feature '%s' (use +%s, -%s or %s=on|off)",
                        arg, feat, feat, feat, feat);
        }
        if (!strcmp(name, "cr-pin"))
            cfg->cr_pin = on;
        else if (!strcmp(name, "pinvm-sig"))
            cfg->pinvm_sig = on;
        else
            return errbuf_fail(err, errlen, "-cpu %s: unknown CPU feature '%s'", arg, name);
    }
    return 0;
}

/* -device isa-debug-exit[,iobase=X][,iosize=Y] */
static int parse_device(const char *arg, struct pinvm_config *cfg,
                        bool *seen, char *err, size_t errlen)
{
    const char *comma = strchr(arg, ',');
    size_t nlen = comma ? (size_t)(comma - arg) : strlen(arg);
    if (nlen != strlen("isa-debug-exit") || strncmp(arg, "isa-debug-exit", nlen))
        return errbuf_fail(err, errlen, "-device %s: unsupported device '%.*s' (only isa-debug-exit)",
                    arg, (int)nlen, arg);
    if (*seen)
        return errbuf_fail(err, errlen, "-device %s: only one isa-debug-exit is supported", arg);
    *seen = true;
    /* QEMU's property defaults when the device is given explicitly. */
    uint64_t iobase = 0x501, iosize = 2;
    while (comma) {
        const char *p = comma + 1;
        comma = strchr(p, ',');
        size_t plen = comma ? (size_t)(comma - p) : strlen(p);
        char prop[64];
        if (plen == 0 || plen >= sizeof prop)
            return errbuf_fail(err, errlen, "-device %s: malformed property list", arg);
        memcpy(prop, p, plen);
        prop[plen] = '\0';
        char *eq = strchr(prop, '=');
        if (!eq)
            return errbuf_fail(err, errlen, "-device %s: property '%s' needs a value", arg, prop);
        *eq = '\0';
        uint64_t v;
        if (parse_uint(eq + 1, &v) < 0)
            return errbuf_fail(err, errlen, "-device %s: invalid value '%s' for '%s'", arg, eq + 1, prop);
        if (!strcmp(prop, "iobase"))
            iobase = v;
        else if (!strcmp(prop, "iosize"))
            iosize = v;
        else
            return errbuf_fail(err, errlen, "-device %s: unknown property '%s' of isa-debug-exit", arg, prop);
    }
    if (iosize == 0 || iobase > 0xffff || iosize > 0x10000 - iobase)
        return errbuf_fail(err, errlen, "-device %s: port range iobase=0x%llx iosize=0x%llx is outside 0-0xffff",
                    arg, (unsigned long long)iobase, (unsigned long long)iosize);
    cfg->debugexit_iobase = (uint16_t)iobase;
    cfg->debugexit_iosize = (uint16_t)iosize;
    return 0;
}

enum opt_id {
    O_KERNEL, O_APPEND, O_INITRD, O_M, O_SMP, O_SERIAL, O_NOGRAPHIC,
    O_DISPLAY, O_MONITOR, O_NO_REBOOT, O_DEVICE, O_CPU, O_D, O_DLOG,
    O_HELP, O_VERSION, O_RESERVED, O_QMP, O_S, O_INCOMING,
};

static const struct opt {
    const char *name;
    enum opt_id id;
    bool has_arg;
} opts[] = {
    {"kernel", O_KERNEL, true},   {"append", O_APPEND, true},
    {"initrd", O_INITRD, true},   {"m", O_M, true},
    {"smp", O_SMP, true},         {"serial", O_SERIAL, true},
    {"nographic", O_NOGRAPHIC, false}, {"display", O_DISPLAY, true},
    {"monitor", O_MONITOR, true}, {"no-reboot", O_NO_REBOOT, false},
    {"device", O_DEVICE, true},   {"cpu", O_CPU, true},
    {"d", O_D, true},             {"D", O_DLOG, true},
    {"h", O_HELP, false},         {"help", O_HELP, false},
    {"version", O_VERSION, false},
    /* Taken by later work (control socket, snapshots); refused for now. */
    {"qmp", O_QMP, true},         {"S", O_S, false},
    {"incoming", O_INCOMING, true},
};

int cmdline_parse(int argc, char *const argv[], struct pinvm_config *cfg,
                  char *err, size_t errlen)
{
    bool dev_seen = false;
    config_defaults(cfg);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] != '-' || a[1] == '\0')
            return errbuf_fail(err, errlen, "%s: unexpected argument (options start with '-')", a);
        const char *name = a + 1 + (a[1] == '-');
        const struct opt *o = NULL;
        for (size_t k = 0; k < sizeof opts / sizeof opts[0]; k++)
            if (!strcmp(opts[k].name, name))
                o = &opts[k];
        if (!o)
            return errbuf_fail(err, errlen, "%s: invalid option", a);
        const char *v = NULL;
        if (o->has_arg) {
            if (i + 1 >= argc)
                return errbuf_fail(err, errlen, "%s: requires an argument", a);
            v = argv[++i];
        }
        switch (o->id) {
        case O_KERNEL: cfg->kernel = v; break;
        case O_APPEND: cfg->append = v; break;
        case O_INITRD: cfg->initrd = v; break;
        case O_M: {
            uint64_t sz;
            if (parse_mem_size(v, &sz) < 0)
                return errbuf_fail(err, errlen, "-m %s: invalid RAM size (use e.g. 128, 128M, 1G)", v);
            if (sz < RAM_SIZE_MIN || sz > RAM_SIZE_MAX)
                return errbuf_fail(err, errlen, "-m %s: RAM size must be between 2M and %lluM",
                            v, (unsigned long long)(RAM_SIZE_MAX >> 20));
            if (sz & 0xfff)
                return errbuf_fail(err, errlen, "-m %s: RAM size must be a multiple of 4 KiB", v);
            cfg->ram_size = sz;
            break;
        }
        case O_SMP:
            if (parse_smp(v, &cfg->smp, err, errlen) < 0)
                return -1;
            break;
        case O_SERIAL:
            if (cfg->serial_set)
                return errbuf_fail(err, errlen, "-serial %s: only one serial port (COM1) is supported", v);
            if (!strcmp(v, "stdio") || !strcmp(v, "mon:stdio")) {
                cfg->serial = SERIAL_STDIO;
            } else if (!strcmp(v, "none") || !strcmp(v, "null")) {
                cfg->serial = SERIAL_NONE;
            } else if (!strncmp(v, "file:", 5) && v[5]) {
                cfg->serial = SERIAL_FILE;
                cfg->serial_path = v + 5;
            } else {
                return errbuf_fail(err, errlen, "-serial %s: unsupported backend (use stdio, none or file:PATH)", v);
            }
            cfg->serial_set = true;
            break;
        case O_NOGRAPHIC: cfg->nographic = true; break;
        case O_DISPLAY:
            if (strcmp(v, "none"))
                return errbuf_fail(err, errlen, "-display %s: only 'none' is supported", v);
            break;
        case O_MONITOR:
            if (strcmp(v, "none"))
                return errbuf_fail(err, errlen, "-monitor %s: only 'none' is supported", v);
            break;
        case O_NO_REBOOT: cfg->no_reboot = true; break;
        case O_DEVICE:
            if (parse_device(v, cfg, &dev_seen, err, errlen) < 0)
                return -1;
            break;
        case O_CPU:
            if (parse_cpu(v, cfg, err, errlen) < 0)
                return -1;
            break;
        case O_D: {
            const char *bad = NULL;
            size_t badlen = 0;
            if (!strcmp(v, "help")) {
                cfg->action = ACTION_LOG_HELP;
                return 0;
            }
            if (log_parse_items(v, &cfg->log_mask, &bad, &badlen) != 0)
                return errbuf_fail(err, errlen, "-d %s: unknown log item '%.*s' (try -d help)",
                            v, (int)badlen, bad);
            break;
        }
        case O_DLOG:
            if (!*v)
                return errbuf_fail(err, errlen, "-D: empty file name");
            cfg->logfile = v;
            break;
        case O_HELP: cfg->action = ACTION_HELP; return 0;
        case O_VERSION: cfg->action = ACTION_VERSION; return 0;
        case O_RESERVED:
            return errbuf_fail(err, errlen, "%s: not supported yet", a);
        case O_QMP: {
            struct qmp_spec spec; /* checked now; src/ctl opens it */
            if (cfg->qmp)
                return errbuf_fail(err, errlen, "-qmp %s: only one QMP socket is supported", v);
            if (qmp_parse_spec(v, &spec, err, errlen) < 0)
                return -1;
            cfg->qmp = v;
            break;
        }
        case O_S: cfg->start_paused = true; break;
        case O_INCOMING: /* the URI is checked when it is opened */
            if (!*v)
                return errbuf_fail(err, errlen, "-incoming: empty URI");
            cfg->incoming = v;
            break;
        }
    }
    if (!cfg->kernel)
        return errbuf_fail(err, errlen, "no -kernel given (try --help)");
    if (!*cfg->kernel)
        return errbuf_fail(err, errlen, "-kernel: empty file name");
    if (cfg->start_paused && !cfg->qmp)
        return errbuf_fail(err, errlen, "-S: needs -qmp (only QMP \"cont\" can start the guest)");
    return 0;
}
