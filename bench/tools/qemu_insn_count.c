/* qemu_insn_count.c: a QEMU TCG plugin that prints the number of guest
 * instructions executed, "insns: N", to stderr at exit. bench/run.py uses
 * it for exact guest instruction counts (MIPS for workloads whose count is
 * not known statically, host-per-guest ratios in PROFILE.md).
 *
 * Debian's QEMU ships no plugin header, so the few declarations used are
 * written out here against the plugin ABI of QEMU 7.2 (version 1). The
 * count is per translated block, added when the block starts: exact for
 * straight-line code, +a few for blocks left by an exception.
 *
 * Arguments lo=ADDR,hi=ADDR count only blocks starting in [lo, hi): the
 * harness passes the kernel's range, so SeaBIOS, whose run length depends
 * on timer interrupts, stays out and the count is the same on every run. */
#include <inttypes.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef uint64_t qemu_plugin_id_t;
struct qemu_plugin_tb;
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 };

void qemu_plugin_register_vcpu_tb_trans_cb(
    qemu_plugin_id_t id, void (*cb)(qemu_plugin_id_t, struct qemu_plugin_tb *));
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
uint64_t qemu_plugin_tb_vaddr(const struct qemu_plugin_tb *tb);
void qemu_plugin_register_vcpu_tb_exec_inline(struct qemu_plugin_tb *tb,
                                              enum qemu_plugin_op op,
                                              void *ptr, uint64_t imm);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id,
                                    void (*cb)(qemu_plugin_id_t, void *),
                                    void *userdata);

__attribute__((visibility("default"))) int qemu_plugin_version = 1;

/* One vCPU in every benchmark, so a plain counter is enough. */
static uint64_t insns;
static uint64_t lo, hi = UINT64_MAX;

static void tb_trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    (void)id;
    uint64_t va = qemu_plugin_tb_vaddr(tb);
    if (va < lo || va >= hi)
        return;
    qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64,
                                             &insns, qemu_plugin_tb_n_insns(tb));
}

static void at_exit(qemu_plugin_id_t id, void *p)
{
    (void)id;
    (void)p;
    fprintf(stderr, "insns: %" PRIu64 "\n", insns);
}

__attribute__((visibility("default")))
int qemu_plugin_install(qemu_plugin_id_t id, const void *info, int argc,
                        char **argv)
{
    (void)info;
    for (int i = 0; i < argc; i++) {
        if (!strncmp(argv[i], "lo=", 3))
            lo = strtoull(argv[i] + 3, NULL, 0);
        else if (!strncmp(argv[i], "hi=", 3))
            hi = strtoull(argv[i] + 3, NULL, 0);
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, tb_trans);
    qemu_plugin_register_atexit_cb(id, at_exit, NULL);
    return 0;
}
