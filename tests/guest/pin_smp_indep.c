// @pinvm-args: -smp 4
/* Pins are per vCPU (docs/cr-pinning.md): the BSP pins WP, SMEP and UMIP;
 * AP 1 pins the same on its own bring-up path (crpin_pin_this_cpu() on
 * the AP); AP 2 pins nothing and flips SMEP, UMIP and WP freely; AP 3
 * pins only CR0.WP (its CR4 stays free). Afterwards each CPU's pins are
 * still exactly its own. APs print nothing themselves except
 * crpin_pin_this_cpu()'s line, while the BSP waits. */
#include "kit.h"
#include "crpin.h"
#include "smp.h"

#define PIN4 (X86_CR4_SMEP | X86_CR4_UMIP)

struct result {
    int clr_smep, set_smep, clr_umip, set_umip, clr_wp, set_wp;
    u64 cr4_after, cr0_after;
};
static struct result res[SMP_MAX_CPUS];
static volatile u32 pinned1, go2;

static void try_all(struct result *r)
{
    u64 cr4 = read_cr4(), cr0 = read_cr0();
    r->clr_smep = write_cr4_safe(cr4 & ~X86_CR4_SMEP);
    r->set_smep = write_cr4_safe(read_cr4() | X86_CR4_SMEP);
    r->clr_umip = write_cr4_safe(read_cr4() & ~X86_CR4_UMIP);
    r->set_umip = write_cr4_safe(read_cr4() | X86_CR4_UMIP);
    r->clr_wp = write_cr0_safe(cr0 & ~X86_CR0_WP);
    r->set_wp = write_cr0_safe(read_cr0() | X86_CR0_WP);
    r->cr4_after = read_cr4();
    r->cr0_after = read_cr0();
}

static void ap1(int cpu, void *arg)
{
    (void)arg;
    write_cr4(read_cr4() | PIN4);
    crpin_pin_this_cpu(NULL, NULL);
    __atomic_store_n(&pinned1, 1, __ATOMIC_RELEASE);
    /* Check only after APs 2 and 3 have done their worst. */
    smp_wait_u32(&go2, 1);
    try_all(&res[cpu]);
}

static void ap2(int cpu, void *arg)
{
    (void)arg;
    write_cr4(read_cr4() | PIN4);
    try_all(&res[cpu]);
}

static void ap3(int cpu, void *arg)
{
    (void)arg;
    write_cr4(read_cr4() | PIN4);
    wrmsr(MSR_KVM_CR0_PINNED, X86_CR0_WP);
    try_all(&res[cpu]);
}

static bool blocked(const struct result *r)
{
    return r->clr_smep == GP_VECTOR && r->clr_umip == GP_VECTOR &&
           r->clr_wp == GP_VECTOR && (r->cr4_after & PIN4) == PIN4 &&
           (r->cr0_after & X86_CR0_WP);
}

static bool free_all(const struct result *r)
{
    return r->clr_smep < 0 && r->set_smep < 0 && r->clr_umip < 0 &&
           r->set_umip < 0 && r->clr_wp < 0 && r->set_wp < 0;
}

int main(struct mb_info *mbi)
{
    (void)mbi;
    report(smp_cpu_count() == 4, "4 CPUs");
    write_cr4(read_cr4() | PIN4);
    report(crpin_pin_this_cpu(NULL, NULL) == 0, "BSP pinned");

    /* Print only once AP 1 has printed its crpin line. */
    int up1 = smp_start_ap(1, 1, ap1, NULL);
    bool p1 = smp_wait_u32(&pinned1, 1);
    report(up1 == 0, "AP 1 up");
    report(p1, "AP 1 pinned itself");
    report(smp_start_ap(2, 2, ap2, NULL) == 0 && smp_wait_done(2), "AP 2 ran");
    report(free_all(&res[2]), "AP 2 (no pins): SMEP, UMIP and WP flip freely");
    report(smp_start_ap(3, 3, ap3, NULL) == 0 && smp_wait_done(3), "AP 3 ran");
    struct result *r3 = &res[3];
    report(r3->clr_wp == GP_VECTOR && (r3->cr0_after & X86_CR0_WP),
           "AP 3 (WP pinned): clearing WP is #GP");
    report(r3->clr_smep < 0 && r3->set_smep < 0 && r3->clr_umip < 0 &&
           r3->set_umip < 0, "AP 3: its CR4 is not pinned");

    __atomic_store_n(&go2, 1, __ATOMIC_RELEASE);
    report(smp_wait_done(1), "AP 1 ran its checks");
    report(blocked(&res[1]), "AP 1: its own pins hold (SMEP, UMIP, WP: #GP)");

    struct result r0;
    try_all(&r0);
    report(blocked(&r0), "BSP: its pins hold after the APs ran");
    return report_summary();
}
