/* Unit tests of the command-line parser (src/machine/cmdline.c): every
 * accepted form and every error message. */
#include <string.h>

#include "machine/cmdline.h"
#include "util/log.h"
#include "unit.h"

static struct pinvm_config cfg;
static char err[512];

#define PARSE(...)                                                           \
    ({                                                                       \
        char *argv_[] = {"pinvm", __VA_ARGS__};                              \
        memset(err, 0, sizeof err);                                          \
        cmdline_parse((int)(sizeof argv_ / sizeof argv_[0]), argv_, &cfg,    \
                      err, sizeof err);                                      \
    })

#define EXPECT_ERR(text, ...)                                                \
    do {                                                                     \
        CHECK_EQ(PARSE(__VA_ARGS__), -1);                                    \
        if (!strstr(err, text)) {                                            \
            printf("  message was: %s\n", err);                              \
            CHECK(strstr(err, text));                                        \
        }                                                                    \
    } while (0)

TEST(defaults)
{
    CHECK_EQ(PARSE("-kernel", "k.elf"), 0);
    CHECK_EQ(cfg.action, ACTION_RUN);
    CHECK(strcmp(cfg.kernel, "k.elf") == 0);
    CHECK(cfg.append == NULL && cfg.initrd == NULL);
    CHECK_EQ(cfg.ram_size, 128ull << 20);
    CHECK_EQ(cfg.smp, 1);
    CHECK_EQ(cfg.serial, SERIAL_STDIO);
    CHECK_EQ(cfg.debugexit_iobase, 0xf4);
    CHECK_EQ(cfg.debugexit_iosize, 4);
    CHECK(cfg.cr_pin);
    CHECK(!cfg.pinvm_sig);
    CHECK(!cfg.no_reboot);
    CHECK_EQ(cfg.log_mask, 0);
    CHECK(cfg.logfile == NULL);
}

TEST(qemu_style_full_line_and_double_dashes)
{
    CHECK_EQ(PARSE("--kernel", "k", "-append", "a b", "--initrd", "m1 x,m2",
                   "-m", "256", "-smp", "1", "-serial", "file:/tmp/s",
                   "-nographic", "-display", "none", "-monitor", "none",
                   "--no-reboot", "-device",
                   "isa-debug-exit,iobase=0xf4,iosize=0x04", "-cpu",
                   "max,-cr-pin,+pinvm-sig", "-d", "int,cpu_reset", "-D",
                   "/tmp/log"), 0);
    CHECK(strcmp(cfg.append, "a b") == 0);
    CHECK(strcmp(cfg.initrd, "m1 x,m2") == 0);
    CHECK_EQ(cfg.ram_size, 256ull << 20);
    CHECK_EQ(cfg.serial, SERIAL_FILE);
    CHECK(strcmp(cfg.serial_path, "/tmp/s") == 0);
    CHECK(cfg.nographic && cfg.no_reboot);
    CHECK(!cfg.cr_pin && cfg.pinvm_sig);
    CHECK_EQ(cfg.log_mask, LOG_INT | LOG_CPU_RESET);
    CHECK(strcmp(cfg.logfile, "/tmp/log") == 0);
}

TEST(mem_sizes)
{
    uint64_t v;
    CHECK_EQ(parse_mem_size("128", &v), 0); CHECK_EQ(v, 128ull << 20);
    CHECK_EQ(parse_mem_size("128M", &v), 0); CHECK_EQ(v, 128ull << 20);
    CHECK_EQ(parse_mem_size("1G", &v), 0); CHECK_EQ(v, 1ull << 30);
    CHECK_EQ(parse_mem_size("size=64M", &v), 0); CHECK_EQ(v, 64ull << 20);
    CHECK_EQ(parse_mem_size("4096k", &v), 0); CHECK_EQ(v, 4ull << 20);
    CHECK_EQ(parse_mem_size("12X", &v), -1);
    CHECK_EQ(parse_mem_size("M", &v), -1);
    CHECK_EQ(parse_mem_size("-5", &v), -1);
    CHECK_EQ(parse_mem_size("1MM", &v), -1);
    CHECK_EQ(parse_mem_size("99999999999999999999", &v), -1);
    CHECK_EQ(PARSE("-kernel", "k", "-m", "size=1G"), 0);
    CHECK_EQ(cfg.ram_size, 1ull << 30);
    CHECK_EQ(PARSE("-kernel", "k", "-m", "2"), 0);
    EXPECT_ERR("-m 1: RAM size must be between 2M and", "-kernel", "k", "-m", "1");
    EXPECT_ERR("-m 64G: RAM size must be between", "-kernel", "k", "-m", "64G");
    EXPECT_ERR("-m lots: invalid RAM size", "-kernel", "k", "-m", "lots");
    EXPECT_ERR("-m 4097k: RAM size must be a multiple of 4 KiB", "-kernel", "k", "-m", "4097k");
}

TEST(smp)
{
    CHECK_EQ(PARSE("-kernel", "k", "-smp", "cpus=1"), 0);
    CHECK_EQ(PARSE("-kernel", "k", "-smp", "1,sockets=1,cores=1,threads=1,maxcpus=1"), 0);
    CHECK_EQ(cfg.smp, 1);
    CHECK_EQ(PARSE("-kernel", "k", "-smp", "4"), 0);
    CHECK_EQ(cfg.smp, 4);
    CHECK_EQ(PARSE("-kernel", "k", "-smp", "cpus=8"), 0);
    CHECK_EQ(cfg.smp, 8);
    CHECK_EQ(PARSE("-kernel", "k", "-smp", "cores=4"), 0);
    CHECK_EQ(cfg.smp, 4);
    CHECK_EQ(PARSE("-kernel", "k", "-smp", "64"), 0);
    CHECK_EQ(cfg.smp, 64);
    EXPECT_ERR("-smp 65: at most 64 vCPUs", "-kernel", "k", "-smp", "65");
    EXPECT_ERR("at most 64 vCPUs", "-kernel", "k", "-smp", "1,maxcpus=100");
    EXPECT_ERR("maxcpus must be at least cpus", "-kernel", "k", "-smp", "4,maxcpus=2");
    EXPECT_ERR("-smp x: invalid value", "-kernel", "k", "-smp", "x");
    EXPECT_ERR("unknown property 'bogus'", "-kernel", "k", "-smp", "1,bogus=2");
}

TEST(cpu_models_and_features)
{
    CHECK_EQ(PARSE("-kernel", "k", "-cpu", "qemu64"), 0);
    CHECK(strcmp(cfg.cpu_model, "qemu64") == 0 && cfg.cr_pin);
    CHECK_EQ(PARSE("-kernel", "k", "-cpu", "host,cr-pin=off,pinvm-sig=on"), 0);
    CHECK(!cfg.cr_pin && cfg.pinvm_sig);
    CHECK_EQ(PARSE("-kernel", "k", "-cpu", "max,-cr-pin,+cr-pin"), 0);
    CHECK(cfg.cr_pin);
    EXPECT_ERR("-cpu pentium: unknown CPU model 'pentium'", "-kernel", "k", "-cpu", "pentium");
    EXPECT_ERR("unknown CPU feature 'smep'", "-kernel", "k", "-cpu", "max,+smep");
    EXPECT_ERR("invalid value 'maybe' for feature 'cr-pin'", "-kernel", "k", "-cpu", "max,cr-pin=maybe");
    EXPECT_ERR("malformed feature", "-kernel", "k", "-cpu", "max,cr-pin");
    EXPECT_ERR("malformed feature list", "-kernel", "k", "-cpu", "max,,+cr-pin");
}

TEST(serial_backends)
{
    CHECK_EQ(PARSE("-kernel", "k", "-serial", "none"), 0);
    CHECK_EQ(cfg.serial, SERIAL_NONE);
    CHECK_EQ(PARSE("-kernel", "k", "-nographic"), 0);
    CHECK_EQ(cfg.serial, SERIAL_STDIO);
    CHECK_EQ(PARSE("-kernel", "k", "-serial", "none", "-nographic"), 0);
    CHECK_EQ(cfg.serial, SERIAL_NONE); /* -serial wins over -nographic */
    EXPECT_ERR("-serial pty: unsupported backend", "-kernel", "k", "-serial", "pty");
    EXPECT_ERR("-serial file:: unsupported backend", "-kernel", "k", "-serial", "file:");
    EXPECT_ERR("only one serial port", "-kernel", "k", "-serial", "stdio", "-serial", "none");
    EXPECT_ERR("-display gtk: only 'none' is supported", "-kernel", "k", "-display", "gtk");
    EXPECT_ERR("-monitor stdio: only 'none' is supported", "-kernel", "k", "-monitor", "stdio");
}

TEST(debug_exit_device)
{
    CHECK_EQ(PARSE("-kernel", "k", "-device", "isa-debug-exit"), 0);
    CHECK_EQ(cfg.debugexit_iobase, 0x501); /* QEMU's property defaults */
    CHECK_EQ(cfg.debugexit_iosize, 2);
    CHECK_EQ(PARSE("-kernel", "k", "-device", "isa-debug-exit,iobase=0x600,iosize=1"), 0);
    CHECK_EQ(cfg.debugexit_iobase, 0x600);
    CHECK_EQ(cfg.debugexit_iosize, 1);
    EXPECT_ERR("-device e1000: unsupported device 'e1000'", "-kernel", "k", "-device", "e1000");
    EXPECT_ERR("unknown property 'foo'", "-kernel", "k", "-device", "isa-debug-exit,foo=1");
    EXPECT_ERR("invalid value 'zz' for 'iobase'", "-kernel", "k", "-device", "isa-debug-exit,iobase=zz");
    EXPECT_ERR("outside 0-0xffff", "-kernel", "k", "-device", "isa-debug-exit,iobase=0xffff,iosize=4");
    EXPECT_ERR("outside 0-0xffff", "-kernel", "k", "-device", "isa-debug-exit,iosize=0");
    EXPECT_ERR("needs a value", "-kernel", "k", "-device", "isa-debug-exit,iobase");
    EXPECT_ERR("only one isa-debug-exit", "-kernel", "k", "-device", "isa-debug-exit",
               "-device", "isa-debug-exit");
}

TEST(log_items)
{
    EXPECT_ERR("-d bogus: unknown log item 'bogus'", "-kernel", "k", "-d", "bogus");
    EXPECT_ERR("unknown log item 'nope'", "-kernel", "k", "-d", "int,nope");
    CHECK_EQ(PARSE("-d", "help"), 0);
    CHECK_EQ(cfg.action, ACTION_LOG_HELP);
    EXPECT_ERR("-D: empty file name", "-kernel", "k", "-D", "");
}

TEST(help_and_version)
{
    CHECK_EQ(PARSE("--help"), 0);
    CHECK_EQ(cfg.action, ACTION_HELP);
    CHECK_EQ(PARSE("-h"), 0);
    CHECK_EQ(cfg.action, ACTION_HELP);
    CHECK_EQ(PARSE("--version"), 0);
    CHECK_EQ(cfg.action, ACTION_VERSION);
    CHECK_EQ(PARSE("-version"), 0);
    CHECK_EQ(cfg.action, ACTION_VERSION);
}

TEST(bad_flags)
{
    EXPECT_ERR("-foo: invalid option", "-kernel", "k", "-foo");
    EXPECT_ERR("--bar: invalid option", "--bar");
    EXPECT_ERR("stray: unexpected argument", "-kernel", "k", "stray");
    EXPECT_ERR("-: unexpected argument", "-");
    EXPECT_ERR("-kernel: requires an argument", "-kernel");
    EXPECT_ERR("-m: requires an argument", "-kernel", "k", "-m");
    EXPECT_ERR("no -kernel given", "-m", "64");
    EXPECT_ERR("-kernel: empty file name", "-kernel", "");
}

TEST(reserved_flags)
{
    EXPECT_ERR("-incoming: empty URI", "-kernel", "k", "-incoming", "");
    EXPECT_ERR("-incoming: requires an argument", "-kernel", "k", "-incoming");
}

static const struct unit_test tests[] = {
    T(defaults), T(qemu_style_full_line_and_double_dashes), T(mem_sizes),
    T(smp), T(cpu_models_and_features), T(serial_backends),
    T(debug_exit_device), T(log_items), T(help_and_version), T(bad_flags),
    T(reserved_flags),
};
UNIT_MAIN(tests)
