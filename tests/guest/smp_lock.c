// @pinvm-args: -smp 4
// @qemu-args: -smp 4
/* LOCKed read-modify-write across 4 CPUs: every CPU, the BSP included,
 * hammers shared words at the same time with LOCK ADD/INC, LOCK XADD,
 * XCHG (implicitly locked, SDM Vol 3A 8.1.2.1), LOCK CMPXCHG loops, LOCK
 * BTS/BTR and a test-and-set spinlock guarding a plain counter. Each total
 * must be exact. On pinvm the vCPUs interleave on one thread, on QEMU TCG
 * they run in parallel threads: the result must be the same. */
#include "kit.h"
#include "smp.h"

#define ITERS 20000

static volatile u32 go, finished;
static volatile u64 c_add, c_inc, c_xadd, c_cmpxchg, c_plain, c_bits_ok;
static volatile u32 lock_word;
static volatile u64 bitmap;
static u64 xadd_sum[SMP_MAX_CPUS];

static void spin_lock(volatile u32 *l)
{
    u32 v;
    do {
        v = 1;
        asm volatile("xchg %0, %1" : "+r"(v), "+m"(*l) :: "memory");
        if (v)
            cpu_relax();
    } while (v);
}

static void spin_unlock(volatile u32 *l)
{
    asm volatile("movl $0, %0" : "=m"(*l) :: "memory");
}

static void work(int cpu)
{
    u64 mine = 0;
    for (int i = 0; i < ITERS; i++) {
        asm volatile("lock addq $3, %0" : "+m"(c_add) :: "memory");
        asm volatile("lock incq %0" : "+m"(c_inc) :: "memory");
        u64 one = 1;
        asm volatile("lock xaddq %0, %1" : "+r"(one), "+m"(c_xadd) :: "memory");
        mine += one; /* the old values seen by this CPU */
        u64 old = c_cmpxchg, newv;
        do {
            newv = old + 2;
            asm volatile("lock cmpxchgq %2, %1"
                         : "+a"(old), "+m"(c_cmpxchg) : "r"(newv) : "memory");
        } while (old + 2 != newv);
        spin_lock(&lock_word);
        c_plain = c_plain + 1; /* not atomic: the lock makes it so */
        spin_unlock(&lock_word);
        /* Each CPU owns bit cpu: set it, check no one else did, clear. */
        u8 was;
        asm volatile("lock btsq %2, %0; setc %1"
                     : "+m"(bitmap), "=q"(was) : "r"((u64)cpu) : "memory");
        u8 was2;
        asm volatile("lock btrq %2, %0; setc %1"
                     : "+m"(bitmap), "=q"(was2) : "r"((u64)cpu) : "memory");
        if (!was && was2)
            asm volatile("lock incq %0" : "+m"(c_bits_ok) :: "memory");
    }
    xadd_sum[cpu] = mine;
}

static void ap_main(int cpu, void *arg)
{
    (void)arg;
    smp_wait_u32(&go, 1);
    work(cpu);
    __atomic_fetch_add(&finished, 1, __ATOMIC_SEQ_CST);
}

int main(struct mb_info *mbi)
{
    (void)mbi;
    int n = smp_cpu_count();
    report(n == 4, "4 CPUs");
    int up = smp_boot_aps(ap_main, NULL);
    report(up == n - 1, "%d APs up", up);
    __atomic_store_n(&go, 1, __ATOMIC_RELEASE);
    work(0);
    report(smp_wait_u32(&finished, (u32)up), "all APs finished");
    u64 total = (u64)n * ITERS;
    report(c_add == 3 * total, "LOCK ADD: %lu", c_add);
    report(c_inc == total, "LOCK INC: %lu", c_inc);
    report(c_xadd == total, "LOCK XADD: %lu", c_xadd);
    report(c_cmpxchg == 2 * total, "LOCK CMPXCHG loop: %lu", c_cmpxchg);
    report(c_plain == total, "XCHG spinlock around a plain increment: %lu", c_plain);
    report(c_bits_ok == total && bitmap == 0, "LOCK BTS/BTR on a shared word: %lu", c_bits_ok);
    /* Each XADD returned a distinct old value 0..total-1: their sum is
     * fixed whatever the interleaving. */
    u64 s = 0;
    for (int i = 0; i < n; i++)
        s += xadd_sum[i];
    report(s == total * (total - 1) / 2, "LOCK XADD handed out each value once");
    return report_summary();
}
