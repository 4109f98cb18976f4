// @pinvm-args: -smp 2
// @qemu-args: -smp 2 -append qemu
// @qemu-differs: QEMU 7.2's multi-threaded TCG can run a stale translation of code another vCPU rewrote, even after a serializing instruction (SDM Vol 3A 8.1.3 requires the new code): the check fails on QEMU most runs
/* Cross-modifying code (SDM Vol 3A 8.1.3): AP 1 calls a function in a
 * loop; the BSP rewrites that function's immediate while the AP runs it.
 * With the SDM's protocol (the modifying CPU writes, then signals; the
 * executing CPU sees the signal and executes a serializing instruction,
 * CPUID, before running the code) the AP must run the new code. Also the
 * reverse: code the BSP has run is rewritten by the AP, and the BSP sees
 * the new code. */
#include "kit.h"
#include "smp.h"

static u8 code[4096] __aligned(4096);
static volatile u32 phase, ap_saw_one, ap_saw_two;

static int call_code(void)
{
    return ((int (*)(void))(void *)code)();
}

static void set_imm(int v)
{
    /* mov $v, %eax; ret */
    code[0] = 0xb8;
    code[1] = (u8)v;
    code[2] = code[3] = code[4] = 0;
    code[5] = 0xc3;
}

static void serialize(void)
{
    cpuid(0);
}

static void ap_main(int cpu, void *arg)
{
    (void)cpu;
    (void)arg;
    /* Run the old code until the BSP says it changed it. No iteration
     * bound: on QEMU's multi-threaded TCG under load the BSP's thread may
     * not run for a long time, and giving up early made the test flaky.
     * The runner's timeout ends a guest that never gets the signal. */
    while (__atomic_load_n(&phase, __ATOMIC_ACQUIRE) != 1) {
        if (call_code() == 1)
            ap_saw_one = 1;
        cpu_relax();
    }
    serialize();
    ap_saw_two = call_code() == 2;
    /* now modify code the BSP has cached */
    set_imm(3);
    __atomic_store_n(&phase, 2, __ATOMIC_RELEASE);
}

int main(struct mb_info *mbi)
{
    (void)mbi;
    set_imm(1);
    report(call_code() == 1, "BSP runs the code (1)");
    report(smp_start_ap(1, 1, ap_main, NULL) == 0, "AP up");
    report(smp_wait_u32(&ap_saw_one, 1), "AP runs the code (1)");
    set_imm(2);
    __atomic_store_n(&phase, 1, __ATOMIC_RELEASE);
    report(smp_wait_u32(&phase, 2), "AP done");
    report_sdm(ap_saw_two, "AP runs the BSP's new code (2) after serializing");
    serialize();
    report(call_code() == 3, "BSP runs the AP's new code (3) after serializing");
    return report_summary();
}
