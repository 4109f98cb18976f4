/* Unit tests of the SMP interrupt hardware models (src/machine): local
 * APIC priorities, EOI, timer arithmetic on a fake clock, ICR messages,
 * destination matching; the I/O APIC; the 8254; the 8259's delivery side;
 * and guest-controlled garbage thrown at all of them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include "cpu/sys.h"
#include "machine/ioapic.h"
#include "machine/machine.h"
#include "machine/lapic.h"
#include "machine/pic8259.h"
#include "machine/pit8254.h"
#include "unit.h"

struct fake {
    uint64_t now;
    int nipi;
    uint32_t lo, hi;
    int neoi, eoi_vec;
    int nmsg;
    uint8_t dest;
    bool logical;
    unsigned dm;
    int vec;
    int irq_edges;
    int irq_level;
};

static uint64_t f_now(void *o) { return ((struct fake *)o)->now; }
static void f_ipi(void *o, struct lapic *src, uint32_t lo, uint32_t hi)
{
    (void)src;
    struct fake *f = o;
    f->nipi++;
    f->lo = lo;
    f->hi = hi;
}
static void f_eoi(void *o, int vec)
{
    struct fake *f = o;
    f->neoi++;
    f->eoi_vec = vec;
}
static void f_msg(void *o, uint8_t dest, bool logical, unsigned dm, int vec,
                  bool level)
{
    (void)level;
    struct fake *f = o;
    f->nmsg++;
    f->dest = dest;
    f->logical = logical;
    f->dm = dm;
    f->vec = vec;
}
static void f_irq(void *o, int n, int level)
{
    (void)n;
    struct fake *f = o;
    if (level && !f->irq_level)
        f->irq_edges++;
    f->irq_level = level;
}

static struct fake F;
static uint64_t fired_tsc;
static void f_tsc(void *o, struct lapic *a, uint64_t tsc)
{
    (void)o;
    (void)a;
    fired_tsc = tsc;
}
static const struct lapic_host HOST = {&F, f_ipi, f_now, f_eoi, f_tsc};

static void wr(struct lapic *a, unsigned off, uint32_t v) { lapic_write(a, off, 4, v); }
static uint32_t rd(struct lapic *a, unsigned off) { return (uint32_t)lapic_read(a, off, 4); }

TEST(lapic_reset_state_and_init)
{
    struct lapic a;
    memset(&F, 0, sizeof F);
    lapic_init(&a, 3, false, &HOST);
    CHECK_EQ(rd(&a, 0x20), 3u << 24);
    CHECK_EQ(a.run_state, LAPIC_WAIT_SIPI); /* an AP waits for SIPI */
    CHECK_EQ(a.sipi_pending, -1);
    CHECK_EQ(rd(&a, 0xf0), 0xffu);
    CHECK_EQ(rd(&a, 0x320), LVT_MASKED);
    wr(&a, 0x20, 7u << 24); /* ID is writable in xAPIC mode */
    lapic_init_reset(&a);
    CHECK_EQ(rd(&a, 0x20), 7u << 24); /* INIT keeps it (10.4.7.3) */
    lapic_reset(&a);
    CHECK_EQ(rd(&a, 0x20), 3u << 24); /* RESET does not */
    struct lapic b;
    lapic_init(&b, 0, true, &HOST);
    CHECK_EQ(b.run_state, LAPIC_RUN);
}

TEST(lapic_priority_isr_eoi)
{
    struct lapic a;
    memset(&F, 0, sizeof F);
    lapic_init(&a, 0, true, &HOST);
    lapic_accept(&a, 0x45, false);
    CHECK_EQ(lapic_pending(&a), -1); /* software-disabled */
    wr(&a, 0xf0, 0x1ff);
    CHECK_EQ(lapic_pending(&a), 0x45);
    CHECK(rd(&a, 0x200 + 0x10 * 2) & (1u << 5)); /* IRR bit 0x45 */
    lapic_ack(&a, 0x45);
    CHECK(rd(&a, 0x100 + 0x10 * 2) & (1u << 5)); /* ISR */
    CHECK_EQ(rd(&a, 0xa0), 0x40u);               /* PPR = ISR class */
    lapic_accept(&a, 0x41, false);               /* same class: waits */
    CHECK_EQ(lapic_pending(&a), -1);
    lapic_accept(&a, 0x51, false);               /* higher class: nests */
    CHECK_EQ(lapic_pending(&a), 0x51);
    lapic_ack(&a, 0x51);
    wr(&a, 0xb0, 0); /* EOI retires 0x51, the highest */
    CHECK_EQ(rd(&a, 0xa0), 0x40u);
    wr(&a, 0xb0, 0);
    CHECK_EQ(rd(&a, 0xa0), 0u);
    CHECK_EQ(lapic_pending(&a), 0x41);
    wr(&a, 0x80, 0x50); /* TPR above the class */
    CHECK_EQ(lapic_pending(&a), -1);
    CHECK_EQ(rd(&a, 0xa0), 0x50u);
    wr(&a, 0x80, 0);
    CHECK_EQ(lapic_pending(&a), 0x41);
    CHECK_EQ(F.neoi, 0); /* edge: no EOI broadcast */
    lapic_ack(&a, 0x41);
    lapic_accept(&a, 0x60, true); /* level */
    lapic_ack(&a, 0x60);
    wr(&a, 0xb0, 0);
    CHECK_EQ(F.neoi, 1);
    CHECK_EQ(F.eoi_vec, 0x60);
}

TEST(lapic_illegal_vectors_and_esr)
{
    struct lapic a;
    memset(&F, 0, sizeof F);
    lapic_init(&a, 0, true, &HOST);
    wr(&a, 0xf0, 0x1ff);
    lapic_accept(&a, 5, false);
    CHECK_EQ(lapic_pending(&a), -1);
    CHECK_EQ(rd(&a, 0x280), 0u); /* latched until the next ESR write */
    wr(&a, 0x280, 0);
    CHECK_EQ(rd(&a, 0x280), ESR_RECV_ILLEGAL);
    wr(&a, 0x280, 0);
    CHECK_EQ(rd(&a, 0x280), 0u);
}

TEST(lapic_timer_modes_on_fake_clock)
{
    struct lapic a;
    memset(&F, 0, sizeof F);
    F.now = 1000;
    lapic_init(&a, 0, true, &HOST);
    wr(&a, 0xf0, 0x1ff);
    wr(&a, 0x3e0, 0x3); /* divide by 16 */
    wr(&a, 0x320, LVT_TIMER_PERIODIC | 0x70);
    wr(&a, 0x380, 100); /* 1600 ticks */
    CHECK_EQ(rd(&a, 0x390), 100u);
    F.now += 800;
    CHECK_EQ(rd(&a, 0x390), 50u);
    CHECK_EQ(lapic_timer_next(&a), 2600u);
    lapic_timer_update(&a, F.now);
    CHECK_EQ(lapic_pending(&a), -1);
    F.now = 2600;
    lapic_timer_update(&a, F.now);
    CHECK_EQ(lapic_pending(&a), 0x70);
    CHECK_EQ(a.timer_deadline, 4200u);     /* reloaded */
    CHECK_EQ(lapic_timer_next(&a), 0u);    /* but 0x70 waits in IRR: no wake */
    lapic_ack(&a, 0x70);
    wr(&a, 0xb0, 0);
    CHECK_EQ(lapic_timer_next(&a), 4200u);
    F.now = 100000;                         /* many periods late */
    lapic_timer_update(&a, F.now);
    CHECK(a.timer_deadline > F.now && a.timer_deadline <= F.now + 1600);
    wr(&a, 0x380, 0);
    CHECK_EQ(lapic_timer_next(&a), 0u);
    CHECK_EQ(rd(&a, 0x390), 0u);
    /* one-shot, divide by 1 */
    wr(&a, 0x3e0, 0xb);
    wr(&a, 0x320, 0x71);
    wr(&a, 0x380, 10);
    F.now += 10;
    lapic_timer_update(&a, F.now);
    CHECK_EQ(lapic_timer_next(&a), 0u);
    CHECK_EQ(rd(&a, 0x390), 0u);
    /* masked: counts, fires nothing; the idle clock ignores it */
    wr(&a, 0x320, LVT_MASKED | 0x72);
    wr(&a, 0x380, 10);
    CHECK_EQ(lapic_timer_next(&a), 0u);
    /* TSC-deadline mode (advertised): the mode sticks, the count stops */
    wr(&a, 0x320, (2u << 17) | 0x70);
    CHECK_EQ(rd(&a, 0x320) & (3u << 17), 2u << 17);
    CHECK_EQ(a.timer_deadline, 0u);
}

TEST(lapic_icr_goes_to_the_host_and_dest_matching)
{
    struct lapic a;
    memset(&F, 0, sizeof F);
    lapic_init(&a, 2, false, &HOST);
    wr(&a, 0x310, 0xffffffffu);
    CHECK_EQ(rd(&a, 0x310), 0xff000000u);
    wr(&a, 0x300, 0xffffffffu);
    CHECK_EQ(F.nipi, 1);
    CHECK_EQ(F.lo, 0x000ccfffu); /* delivery status and reserved bits 0 */
    CHECK_EQ(rd(&a, 0x300) & (1u << 12), 0u);
    CHECK(lapic_match_dest(&a, 2, false));
    CHECK(lapic_match_dest(&a, 0xff, false));
    CHECK(!lapic_match_dest(&a, 3, false));
    wr(&a, 0xd0, 0x04u << 24); /* flat logical ID bit 2 */
    CHECK(lapic_match_dest(&a, 0x0c, true));
    CHECK(!lapic_match_dest(&a, 0x03, true));
    wr(&a, 0xe0, 0x0fffffffu); /* cluster model */
    wr(&a, 0xd0, 0x32u << 24); /* cluster 3, member bit 1 */
    CHECK(lapic_match_dest(&a, 0x32, true));
    CHECK(lapic_match_dest(&a, 0x33, true));
    CHECK(!lapic_match_dest(&a, 0x22, true));
    CHECK(!lapic_match_dest(&a, 0x31, true));
}

TEST(ioapic_routes_edges_and_levels)
{
    struct ioapic io;
    struct ioapic_host h = {&F, f_msg};
    memset(&F, 0, sizeof F);
    ioapic_init(&io, &h);
    ioapic_write(&io, 0, 4, 0x01);
    CHECK_EQ(ioapic_read(&io, 0x10, 4), (23u << 16) | IOAPIC_VERSION);
    ioapic_set_irq(&io, 2, 1); /* masked */
    ioapic_set_irq(&io, 2, 0);
    CHECK_EQ(F.nmsg, 0);
    ioapic_write(&io, 0, 4, 0x15);
    ioapic_write(&io, 0x10, 4, 0x05000000);
    ioapic_write(&io, 0, 4, 0x14);
    ioapic_write(&io, 0x10, 4, 0x130 | (1u << 11)); /* lowest, logical */
    ioapic_set_irq(&io, 2, 1);
    CHECK_EQ(F.nmsg, 1);
    CHECK_EQ(F.dest, 5);
    CHECK(F.logical);
    CHECK_EQ(F.dm, 1u);
    CHECK_EQ(F.vec, 0x30);
    ioapic_set_irq(&io, 2, 1); /* still high, edge: nothing */
    CHECK_EQ(F.nmsg, 1);
    /* level-triggered input 4: once until EOI, again if still high */
    ioapic_write(&io, 0, 4, 0x18);
    ioapic_write(&io, 0x10, 4, 0x40 | IOAPIC_RTE_LEVEL);
    ioapic_set_irq(&io, 4, 1);
    CHECK_EQ(F.nmsg, 2);
    CHECK(ioapic_read(&io, 0x10, 4) & IOAPIC_RTE_REMOTE_IRR);
    ioapic_set_irq(&io, 4, 1);
    CHECK_EQ(F.nmsg, 2);
    ioapic_eoi(&io, 0x40);
    CHECK_EQ(F.nmsg, 3);
    ioapic_set_irq(&io, 4, 0);
    ioapic_eoi(&io, 0x40);
    CHECK_EQ(F.nmsg, 3);
    CHECK(!(ioapic_read(&io, 0x10, 4) & IOAPIC_RTE_REMOTE_IRR));
}

TEST(pit_counts_and_interrupts_on_fake_clock)
{
    struct pit8254 p;
    memset(&F, 0, sizeof F);
    F.now = 5000;
    pit8254_init(&p, f_now, &F, (struct irq_line){f_irq, &F, 0});
    CHECK_EQ(pit8254_next(&p), 0u); /* nothing armed at reset */
    pit8254_write(&p, 3, 1, 0x34); /* counter 0, lo/hi, mode 2 */
    pit8254_write(&p, 0, 1, 0xa9);
    CHECK_EQ(pit8254_next(&p), 0u);
    pit8254_write(&p, 0, 1, 0x04); /* 1193: ~1 ms */
    uint64_t next = pit8254_next(&p);
    CHECK(next > 5000 + 999000 && next < 5000 + 1001000);
    F.now += 500000;
    pit8254_write(&p, 3, 1, 0x00); /* latch */
    unsigned lo = (unsigned)pit8254_read(&p, 0, 1);
    unsigned hi = (unsigned)pit8254_read(&p, 0, 1);
    unsigned cur = lo | hi << 8;
    CHECK(cur > 590 && cur < 600);
    pit8254_update(&p, F.now);
    CHECK_EQ(F.irq_edges, 0);
    F.now = next;
    pit8254_update(&p, F.now);
    CHECK_EQ(F.irq_edges, 1);
    CHECK(pit8254_next(&p) > next);
    pit8254_write(&p, 3, 1, 0x30); /* mode 0, waiting for a count */
    CHECK_EQ(pit8254_next(&p), 0u);
    CHECK_EQ(pit8254_read(&p, 3, 1), 0xffu);
}

TEST(pic_delivery_side)
{
    struct pic8259 p;
    pic8259_init(&p);
    pic8259_write(&p, 0, 1, 0x11);
    pic8259_write(&p, 1, 1, 0x20);
    pic8259_write(&p, 1, 1, 0x04);
    pic8259_write(&p, 1, 1, 0x01);
    pic8259_write(&p, 1, 1, 0xfa); /* IR0, IR2 unmasked */
    CHECK_EQ(pic8259_pending(&p), -1);
    pic8259_set_irq(&p, 1, 1); /* masked */
    CHECK_EQ(pic8259_pending(&p), -1);
    pic8259_set_irq(&p, 0, 1);
    CHECK_EQ(pic8259_pending(&p), 0);
    CHECK_EQ(pic8259_ack(&p, 0), 0x20);
    CHECK_EQ(pic8259_pending(&p), -1); /* edge consumed, IR0 in service */
    pic8259_set_irq(&p, 0, 0);
    pic8259_set_irq(&p, 0, 1);
    CHECK_EQ(pic8259_pending(&p), -1); /* same level in service */
    pic8259_write(&p, 0, 1, 0x20);     /* EOI */
    CHECK_EQ(pic8259_pending(&p), 0);
}

/* Whatever the guest writes, nothing breaks and the outputs stay in
 * range. */
TEST(garbage_from_the_guest)
{
    struct lapic a;
    struct ioapic io;
    struct ioapic_host h = {&F, f_msg};
    struct pit8254 p;
    memset(&F, 0, sizeof F);
    lapic_init(&a, 1, false, &HOST);
    ioapic_init(&io, &h);
    pit8254_init(&p, f_now, &F, (struct irq_line){f_irq, &F, 0});
    srand(12345);
    for (int k = 0; k < 200000; k++) {
        uint64_t v = (uint64_t)rand() << 33 ^ (uint64_t)rand() << 11 ^ (uint64_t)rand();
        int sizes[] = {1, 2, 4, 8};
        int sz = sizes[rand() & 3];
        F.now += (uint64_t)(rand() & 0xffff);
        lapic_write(&a, (uint64_t)(rand() & 0xfff), sz, v);
        (void)lapic_read(&a, (uint64_t)(rand() & 0xfff), sz);
        lapic_accept(&a, rand(), rand() & 1);
        int pv = lapic_pending(&a);
        CHECK(pv == -1 || (pv >= 16 && pv <= 255));
        if (pv >= 0)
            lapic_ack(&a, pv);
        lapic_timer_update(&a, F.now);
        ioapic_write(&io, (uint64_t)(rand() & 0xff), sz, v);
        (void)ioapic_read(&io, (uint64_t)(rand() & 0xff), sz);
        ioapic_set_irq(&io, rand() % 40 - 8, rand() & 1);
        ioapic_eoi(&io, rand());
        pit8254_write(&p, (uint64_t)(rand() & 7), 1, v);
        (void)pit8254_read(&p, (uint64_t)(rand() & 7), 1);
        pit8254_update(&p, F.now);
        CHECK(p.ch[0].count >= 1 && p.ch[0].count <= 65536);
    }
    CHECK(F.dm <= 7);
}

/* ---- a whole machine: INIT/SIPI through the ICR ---- */

static void put32le(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }

static struct machine M;
static struct pinvm_config CFG;
static char kpath[32];

static int smp_machine_code(int ncpus, const uint8_t *code, size_t n);

static int smp_machine(int ncpus)
{
    static const uint8_t hlt = 0xf4;
    return smp_machine_code(ncpus, &hlt, 1);
}

static int smp_machine_code(int ncpus, const uint8_t *code, size_t n)
{
    char err[256];
    uint8_t k[0x20 + 64] = {0};
    if (n > 64)
        return -1;
    put32le(k, 0x1BADB002);
    put32le(k + 4, 0x10000);
    put32le(k + 8, (uint32_t)-(0x1BADB002u + 0x10000u));
    put32le(k + 12, 0x100000);
    put32le(k + 16, 0x100000);
    put32le(k + 28, 0x100020);
    memcpy(k + 0x20, code, n);
    strcpy(kpath, "/tmp/pinvm-smpk-XXXXXX");
    int fd = mkstemp(kpath);
    if (fd < 0 || write(fd, k, 0x20 + n) != (ssize_t)(0x20 + n))
        return -1;
    close(fd);
    config_defaults(&CFG);
    CFG.kernel = kpath;
    CFG.serial = SERIAL_NONE;
    CFG.smp = ncpus;
    CFG.no_reboot = true;
    if (machine_init(&M, &CFG, err, sizeof err) < 0 ||
        machine_start(&M, err, sizeof err) < 0) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    return 0;
}

static void smp_machine_done(void)
{
    machine_destroy(&M);
    unlink(kpath);
}

/* vCPU `from` writes the ICR through its APIC page. */
static void icr(int from, uint8_t dest, uint32_t lo)
{
    struct cpu *c = M.cpus[from];
    machine_mmio_write(&M, c, LAPIC_DEFAULT_BASE + 0x310, 4, (uint64_t)dest << 24);
    machine_mmio_write(&M, c, LAPIC_DEFAULT_BASE + 0x300, 4, lo);
}

TEST(init_sipi_through_the_machine)
{
    CHECK_EQ(smp_machine(3), 0);
    struct cpu *ap = M.cpus[1], *bsp = M.cpus[0];
    CHECK_EQ(M.lapic[1].run_state, LAPIC_WAIT_SIPI);
    CHECK(!smp_cpu_runnable(&M, 1));
    /* SIPI without INIT first: the AP is in wait-for-SIPI after power-on */
    icr(0, 1, DM_SIPI << 8 | 0x70);
    smp_apply_init_sipi(&M, 1);
    CHECK_EQ(M.lapic[1].run_state, LAPIC_RUN);
    CHECK_EQ(ap->seg[S_CS].sel, 0x7000);
    CHECK_EQ(ap->seg[S_CS].base, 0x70000u);
    CHECK_EQ(ap->rip, 0u);
    CHECK(!(ap->cr0 & CR0_PE));
    CHECK(smp_cpu_runnable(&M, 1));
    /* a second SIPI to a running AP is ignored */
    ap->rip = 0x1234;
    icr(0, 1, DM_SIPI << 8 | 0x80);
    smp_apply_init_sipi(&M, 1);
    CHECK_EQ(ap->rip, 0x1234u);
    /* pins on both; INIT the AP: its pins go, the BSP's stay */
    ap->pin.cr4_pinned = CR4_SMEP;
    bsp->pin.cr4_pinned = CR4_SMAP;
    ap->tsc_offset = 777;
    /* INIT level de-assert does nothing (10.6.1) */
    icr(0, 1, DM_INIT << 8 | ICR_TRIGGER);
    smp_apply_init_sipi(&M, 1);
    CHECK_EQ(M.lapic[1].run_state, LAPIC_RUN);
    CHECK_EQ(ap->pin.cr4_pinned, CR4_SMEP);
    icr(0, 1, DM_INIT << 8 | ICR_LEVEL);
    CHECK_EQ(ap->exit_request, 1);
    smp_apply_init_sipi(&M, 1);
    CHECK_EQ(M.lapic[1].run_state, LAPIC_WAIT_SIPI);
    CHECK_EQ(ap->pin.cr4_pinned, 0u);
    CHECK_EQ(bsp->pin.cr4_pinned, CR4_SMAP);
    CHECK_EQ(ap->tsc_offset, 777u); /* INIT keeps the TSC */
    CHECK(ap->apic_base & APIC_BASE_ENABLE);
    /* INIT and SIPI latched together before the AP's turn: both apply */
    icr(0, 2, DM_INIT << 8 | ICR_LEVEL);
    icr(0, 2, DM_SIPI << 8 | 0x71);
    icr(0, 2, DM_SIPI << 8 | 0x72); /* the protocol's second: ignored */
    smp_apply_init_sipi(&M, 2);
    CHECK_EQ(M.cpus[2]->seg[S_CS].sel, 0x7100);
    /* fixed and NMI to a CPU waiting for SIPI are dropped */
    icr(0, 1, DM_NMI << 8);
    CHECK(!ap->nmi_pending);
    /* broadcast NMI to the others: the running AP 2 gets it, AP 1 not */
    icr(0, 0, DM_NMI << 8 | (uint32_t)SH_OTHERS << ICR_SH_SHIFT);
    CHECK(M.cpus[2]->nmi_pending);
    CHECK(!ap->nmi_pending && !bsp->nmi_pending);
    /* SMI by logical flat destination: LDR bit 2 on AP 2 */
    machine_mmio_write(&M, M.cpus[2], LAPIC_DEFAULT_BASE + 0xd0, 4, 0x04u << 24);
    icr(0, 0x04, DM_SMI << 8 | ICR_DESTMODE);
    CHECK(M.cpus[2]->smi_pending && !bsp->smi_pending);
    /* a fixed IPI lands in the target's IRR and is offered to its CPU once
     * the APIC is software-enabled */
    icr(0, 2, DM_FIXED << 8 | 0x55);
    CHECK_EQ(M.cpus[2]->irq_pending(&M, M.cpus[2]), -1);
    machine_mmio_write(&M, M.cpus[2], LAPIC_DEFAULT_BASE + 0xf0, 4, 0x1ff);
    CHECK_EQ(M.cpus[2]->irq_pending(&M, M.cpus[2]), 0x55);
    M.cpus[2]->irq_ack(&M, M.cpus[2], 0x55);
    CHECK_EQ(M.cpus[2]->irq_pending(&M, M.cpus[2]), -1);
    /* lowest priority to {0, 2}: the lower TPR wins */
    machine_mmio_write(&M, bsp, LAPIC_DEFAULT_BASE + 0xd0, 4, 0x04u << 24);
    machine_mmio_write(&M, bsp, LAPIC_DEFAULT_BASE + 0x80, 4, 0x30);
    machine_mmio_write(&M, M.cpus[2], LAPIC_DEFAULT_BASE + 0x80, 4, 0x10);
    icr(1, 0x04, DM_LOWEST << 8 | ICR_DESTMODE | 0x66);
    CHECK(M.lapic[2].irr[0x66 >> 5] & (1u << (0x66 & 31)));
    CHECK(!(M.lapic[0].irr[0x66 >> 5] & (1u << (0x66 & 31))));
    machine_mmio_write(&M, M.cpus[2], LAPIC_DEFAULT_BASE + 0x80, 4, 0x40);
    icr(1, 0x04, DM_LOWEST << 8 | ICR_DESTMODE | 0x67);
    CHECK(M.lapic[0].irr[0x67 >> 5] & (1u << (0x67 & 31)));
    CHECK(!(M.lapic[2].irr[0x67 >> 5] & (1u << (0x67 & 31))));
    machine_mmio_write(&M, bsp, LAPIC_DEFAULT_BASE + 0x80, 4, 0);
    machine_mmio_write(&M, M.cpus[2], LAPIC_DEFAULT_BASE + 0x80, 4, 0);
    /* fixed with an illegal vector: refused, latched in the sender's ESR */
    icr(0, 2, 0x05);
    machine_mmio_write(&M, bsp, LAPIC_DEFAULT_BASE + 0x280, 4, 0);
    CHECK_EQ(machine_mmio_read(&M, bsp, LAPIC_DEFAULT_BASE + 0x280, 4),
             ESR_SEND_ILLEGAL);
    /* INIT with the self shorthand is invalid: ignored */
    icr(2, 0, DM_INIT << 8 | ICR_LEVEL | (uint32_t)SH_SELF << ICR_SH_SHIFT);
    CHECK(!M.lapic[2].init_pending);
    /* destinations that name no vCPU go nowhere */
    icr(0, 0x40, DM_INIT << 8 | ICR_LEVEL);
    CHECK(!M.lapic[1].init_pending && !M.lapic[2].init_pending);
    /* INIT to the BSP: a machine reset request */
    icr(1, 0, DM_INIT << 8 | ICR_LEVEL);
    smp_apply_init_sipi(&M, 0);
    CHECK_EQ(M.req.kind, SYSREQ_RESET);
    smp_machine_done();
}

/* Random ICR, APIC page, I/O APIC and PIT traffic from every vCPU of a
 * 4-vCPU machine, with INIT/SIPI applied as the scheduler would: no
 * crash, states in range. */
TEST(random_interrupt_traffic_through_the_machine)
{
    CHECK_EQ(smp_machine(4), 0);
    srand(777);
    for (int k = 0; k < 100000; k++) {
        int from = rand() % 4;
        struct cpu *c = M.cpus[from];
        uint32_t v = (uint32_t)rand() ^ (uint32_t)rand() << 16;
        switch (rand() % 5) {
        case 0:
            icr(from, (uint8_t)rand(), v);
            break;
        case 1:
            machine_mmio_write(&M, c, LAPIC_DEFAULT_BASE + (uint64_t)(rand() & 0xff0),
                               4, v);
            break;
        case 2:
            machine_mmio_write(&M, c, IOAPIC_BASE + (uint64_t)(rand() & 0x1f), 4, v);
            machine_isa_irq(&M, rand() % 20 - 2, rand() & 1);
            break;
        case 3:
            machine_io_out(&M, c, (uint16_t)(0x40 + rand() % 4), 1, v);
            machine_io_out(&M, c, (uint16_t)(rand() & 1 ? 0x20 : 0xa1), 1, v);
            break;
        default:
            M.vclock += (uint64_t)(rand() & 0xfff);
            pit8254_update(&M.pit, M.vclock);
            break;
        }
        if (M.req.kind != SYSREQ_NONE)
            M.req = (struct sysreq){0};
        int i = rand() % 4;
        smp_apply_init_sipi(&M, i);
        lapic_timer_update(&M.lapic[i], M.vclock);
        (void)smp_cpu_runnable(&M, i);
        CHECK(M.lapic[i].run_state <= LAPIC_WAIT_SIPI);
        if (M.cpus[i]->irq_pending) {
            int vec = M.cpus[i]->irq_pending(&M, M.cpus[i]);
            CHECK(vec >= -1 && vec <= 255);
            if (vec >= 0)
                M.cpus[i]->irq_ack(&M, M.cpus[i], vec);
        }
    }
    smp_machine_done();
}

/* HLT with IF=0 ends the machine even while a periodic LAPIC timer runs:
 * the timer cannot wake it (the idle clock must not wait for it). */
TEST(hlt_with_if0_and_a_running_timer_still_ends)
{
    static const uint8_t code[] = {
        0xc7, 0x05, 0xf0, 0x00, 0xe0, 0xfe, 0xff, 0x01, 0x00, 0x00, /* SVR 0x1ff */
        0xc7, 0x05, 0x20, 0x03, 0xe0, 0xfe, 0x30, 0x00, 0x02, 0x00, /* LVTT periodic 0x30 */
        0xc7, 0x05, 0x80, 0x03, 0xe0, 0xfe, 0xe8, 0x03, 0x00, 0x00, /* TMICT 1000 */
        0xfa, 0xf4,                                                 /* cli; hlt */
    };
    for (int n = 1; n <= 2; n++) {
        CHECK_EQ(smp_machine_code(n, code, sizeof code), 0);
        CHECK_EQ(machine_run(&M), 1);
        CHECK(M.cpus[0]->halted);
        CHECK(M.lapic[0].timer_deadline != 0); /* the timer was running */
        smp_machine_done();
    }
}

/* HLT with IF=1 but TPR above the timer's class: the first expiry leaves
 * the vector in IRR, later ones change nothing, so the machine ends
 * instead of advancing the clock forever. */
TEST(hlt_with_the_timer_blocked_by_tpr_ends)
{
    static const uint8_t code[] = {
        0xc7, 0x05, 0xf0, 0x00, 0xe0, 0xfe, 0xff, 0x01, 0x00, 0x00, /* SVR 0x1ff */
        0xc7, 0x05, 0x80, 0x00, 0xe0, 0xfe, 0xf0, 0x00, 0x00, 0x00, /* TPR 0xf0 */
        0xc7, 0x05, 0x20, 0x03, 0xe0, 0xfe, 0x30, 0x00, 0x02, 0x00, /* LVTT periodic 0x30 */
        0xc7, 0x05, 0x80, 0x03, 0xe0, 0xfe, 0xe8, 0x03, 0x00, 0x00, /* TMICT 1000 */
        0xfb, 0xf4,                                                 /* sti; hlt */
    };
    CHECK_EQ(smp_machine_code(1, code, sizeof code), 0);
    CHECK_EQ(machine_run(&M), 1);
    CHECK(M.lapic[0].irr[0x30 >> 5] & (1u << (0x30 & 31)));
    smp_machine_done();
}

/* ---- x2APIC (SDM 10.12) and the TSC-deadline timer (10.5.4.1) ---- */

#define XAPIC_BASE_ON  (LAPIC_DEFAULT_BASE | 1ull << 11)
#define X2APIC_BASE_ON (XAPIC_BASE_ON | 1ull << 10)

TEST(lapic_x2apic_msrs)
{
    struct lapic a;
    uint64_t v = 0;
    memset(&F, 0, sizeof F);
    lapic_init(&a, 0x15, false, &HOST);
    CHECK_EQ(lapic_msr_read(&a, 0x802, &v), -1); /* xAPIC mode: #GP */
    CHECK_EQ(lapic_msr_write(&a, 0x80b, 0), -1);
    lapic_set_mode(&a, XAPIC_BASE_ON, X2APIC_BASE_ON);
    CHECK(a.x2apic);
    CHECK_EQ(lapic_msr_read(&a, 0x802, &v), 0);
    CHECK_EQ(v, 0x15u);                       /* 32-bit ID */
    CHECK_EQ(lapic_msr_read(&a, 0x80d, &v), 0);
    CHECK_EQ(v, (1u << 16) | (1u << 5));      /* cluster 1, bit 5 */
    CHECK_EQ(lapic_read(&a, 0x20, 4), ~0ull); /* page not decoded */
    lapic_write(&a, 0xf0, 4, 0x1ff);
    CHECK_EQ(a.svr, 0xffu);
    CHECK_EQ(lapic_msr_write(&a, 0x80f, 0x1ff), 0);
    CHECK_EQ(lapic_msr_read(&a, 0x80f, &v), 0);
    CHECK_EQ(v, 0x1ffu);
    /* ICR: one 64-bit write, destination in 63:32 */
    CHECK_EQ(lapic_msr_write(&a, 0x830, 0x12345678ull << 32 | 0x4041), 0);
    CHECK_EQ(F.nipi, 1);
    CHECK_EQ(F.hi, 0x12345678u);
    CHECK_EQ(F.lo, 0x4041u);
    CHECK_EQ(lapic_msr_read(&a, 0x830, &v), 0);
    CHECK_EQ(v, 0x12345678ull << 32 | 0x4041);
    /* SELF IPI: fixed, self shorthand */
    CHECK_EQ(lapic_msr_write(&a, 0x83f, 0x45), 0);
    CHECK_EQ(F.nipi, 2);
    CHECK_EQ(F.lo, 0x45u | (uint32_t)SH_SELF << ICR_SH_SHIFT);
    /* #GP: write-only / absent registers read, read-only written,
     * non-zero EOI/ESR, bits 63:32, reserved SELF IPI bits */
    static const uint32_t no_read[] = {0x80b, 0x83f, 0x80e, 0x831, 0x809,
                                       0x80c, 0x800, 0x8ff, 0x840};
    for (size_t k = 0; k < sizeof no_read / sizeof no_read[0]; k++)
        CHECK_EQ(lapic_msr_read(&a, no_read[k], &v), -1);
    static const uint32_t no_write[] = {0x802, 0x803, 0x80a, 0x80d, 0x810,
                                        0x818, 0x820, 0x839, 0x80e, 0x831};
    for (size_t k = 0; k < sizeof no_write / sizeof no_write[0]; k++)
        CHECK_EQ(lapic_msr_write(&a, no_write[k], 0), -1);
    CHECK_EQ(lapic_msr_write(&a, 0x80b, 1), -1);
    CHECK_EQ(lapic_msr_write(&a, 0x828, 1), -1);
    CHECK_EQ(lapic_msr_write(&a, 0x808, 1ull << 32), -1);
    CHECK_EQ(lapic_msr_write(&a, 0x83f, 0x145), -1);
    CHECK_EQ(F.nipi, 2);
    CHECK_EQ(lapic_msr_read(&a, 0x7ff, &v), -1);
    CHECK_EQ(lapic_msr_read(&a, 0x900, &v), -1);
    /* EOI through the MSR */
    lapic_accept(&a, 0x50, false);
    lapic_ack(&a, 0x50);
    CHECK_EQ(lapic_msr_read(&a, 0x812, &v), 0);
    CHECK_EQ(v, 1u << 16);
    CHECK_EQ(lapic_msr_write(&a, 0x80b, 0), 0);
    CHECK_EQ(lapic_msr_read(&a, 0x812, &v), 0);
    CHECK_EQ(v, 0u);
    /* destinations */
    CHECK(lapic_match_dest_x2(&a, 0x15, false));
    CHECK(!lapic_match_dest_x2(&a, 0x14, false));
    CHECK(lapic_match_dest_x2(&a, 0xffffffffu, false));
    CHECK(lapic_match_dest_x2(&a, 0x10020, true));
    CHECK(!lapic_match_dest_x2(&a, 0x00020, true));
    CHECK(!lapic_match_dest_x2(&a, 0x1001f, true));
    CHECK(lapic_match_dest(&a, 0x15, false)); /* an I/O APIC message */
    CHECK(lapic_match_dest(&a, 0xff, true));
    /* INIT keeps x2APIC mode, RESET and leaving it restore the xAPIC ID */
    lapic_init_reset(&a);
    CHECK(a.x2apic);
    lapic_set_mode(&a, X2APIC_BASE_ON, LAPIC_DEFAULT_BASE);
    CHECK(!a.x2apic);
    CHECK_EQ(rd(&a, 0x20), 0x15u << 24);
    lapic_set_mode(&a, XAPIC_BASE_ON, X2APIC_BASE_ON);
    lapic_reset(&a);
    CHECK(!a.x2apic);
}

TEST(lapic_tsc_deadline_on_fake_clock)
{
    struct lapic a;
    memset(&F, 0, sizeof F);
    fired_tsc = 0;
    lapic_init(&a, 0, true, &HOST);
    wr(&a, 0xf0, 0x1ff);
    F.now = 1000;
    /* one-shot mode: the MSR ignores writes */
    wr(&a, 0x320, 0x30);
    lapic_tsc_deadline_write(&a, 5000, 2000);
    CHECK_EQ(lapic_tsc_deadline_read(&a), 0u);
    CHECK_EQ(a.timer_deadline, 0u);
    /* TSC-deadline: 3000 TSC ticks ahead = clock tick 4000 */
    wr(&a, 0x320, LVT_TIMER_TSCDL | 0x30);
    CHECK_EQ(rd(&a, 0x320), LVT_TIMER_TSCDL | 0x30);
    lapic_tsc_deadline_write(&a, 5000, 2000);
    CHECK_EQ(lapic_tsc_deadline_read(&a), 5000u);
    CHECK_EQ(a.timer_deadline, 4000u);
    CHECK_EQ(lapic_timer_next(&a), 4000u);
    wr(&a, 0x380, 7); /* initial count ignored */
    CHECK_EQ(rd(&a, 0x380), 0u);
    CHECK_EQ(rd(&a, 0x390), 0u);
    lapic_timer_update(&a, 3999);
    CHECK_EQ(lapic_pending(&a), -1);
    lapic_timer_update(&a, 4000);
    CHECK_EQ(lapic_pending(&a), 0x30);
    CHECK_EQ(fired_tsc, 5000u);
    CHECK_EQ(lapic_tsc_deadline_read(&a), 0u);
    CHECK_EQ(a.timer_deadline, 0u);
    lapic_ack(&a, 0x30);
    wr(&a, 0xb0, 0);
    /* a deadline already passed: due now */
    lapic_tsc_deadline_write(&a, 100, 2000);
    CHECK_EQ(a.timer_deadline, 1000u);
    /* 0 disarms */
    lapic_tsc_deadline_write(&a, 0, 2000);
    CHECK_EQ(a.timer_deadline, 0u);
    CHECK_EQ(lapic_tsc_deadline_read(&a), 0u);
    /* far future: capped at clock tick 2^62, no wrap */
    lapic_tsc_deadline_write(&a, UINT64_MAX, 0);
    CHECK_EQ(a.timer_deadline, 1ull << 62);
    CHECK_EQ(lapic_tsc_deadline_read(&a), UINT64_MAX);
    F.now = (1ull << 62) + 5; /* past the cap: due now */
    lapic_tsc_deadline_write(&a, UINT64_MAX, 0);
    CHECK_EQ(a.timer_deadline, (1ull << 62) + 5);
    F.now = 1000;
    /* a mode change disarms */
    wr(&a, 0x320, 0x30);
    CHECK_EQ(a.timer_deadline, 0u);
    wr(&a, 0x320, LVT_TIMER_TSCDL | 0x30);
    CHECK_EQ(lapic_tsc_deadline_read(&a), 0u);
    /* mode 11b is reserved: taken as periodic */
    wr(&a, 0x320, LVT_TIMER_MODE | 0x30);
    CHECK_EQ(rd(&a, 0x320), LVT_TIMER_PERIODIC | 0x30);
    /* a masked deadline expires without an interrupt */
    wr(&a, 0x320, LVT_MASKED | LVT_TIMER_TSCDL | 0x30);
    lapic_tsc_deadline_write(&a, 2500, 2000);
    lapic_timer_update(&a, 2000);
    CHECK_EQ(lapic_pending(&a), -1);
    CHECK_EQ(lapic_tsc_deadline_read(&a), 0u);
}

TEST(x2apic_and_tsc_deadline_through_the_machine)
{
    CHECK_EQ(smp_machine(2), 0);
    struct cpu *bsp = M.cpus[0];
    uint64_t v = 0, base = bsp->apic_base;
    CHECK_EQ(cpu_rdmsr(bsp, 0x802, &v, false), -1);
    uint32_t r[4];
    cpu_cpuid(bsp, 1, 0, r);
    CHECK(r[2] & (1u << 21));
    CHECK(r[2] & (1u << 24));
    /* IA32_APIC_BASE transitions (figure 10-27) */
    CHECK_EQ(cpu_wrmsr(bsp, 0x1b, (base & ~(1ull << 11)) | 1ull << 10, false), -1);
    CHECK_EQ(cpu_wrmsr(bsp, 0x1b, base | 1ull << 10, false), 0);
    CHECK(M.lapic[0].x2apic);
    CHECK(!M.lapic[1].x2apic);
    CHECK_EQ(cpu_rdmsr(bsp, 0x802, &v, false), 0);
    CHECK_EQ(v, 0u);
    CHECK_EQ(cpu_rdmsr(M.cpus[1], 0x802, &v, false), -1); /* per vCPU */
    CHECK_EQ(machine_mmio_read(&M, bsp, LAPIC_DEFAULT_BASE + 0x20, 4), 0xffffffffu);
    /* INIT to APIC ID 1 through the 64-bit ICR */
    CHECK_EQ(cpu_wrmsr(bsp, 0x830, 1ull << 32 | DM_INIT << 8 | ICR_LEVEL, false), 0);
    CHECK(M.lapic[1].init_pending);
    /* a destination that names no vCPU goes nowhere */
    M.lapic[1].init_pending = false;
    CHECK_EQ(cpu_wrmsr(bsp, 0x830, 0x101ull << 32 | DM_INIT << 8 | ICR_LEVEL, false), 0);
    CHECK(!M.lapic[1].init_pending);
    /* SELF IPI lands in the sender's IRR */
    CHECK_EQ(cpu_wrmsr(bsp, 0x83f, 0x66, false), 0);
    CHECK(M.lapic[0].irr[0x66 >> 5] & (1u << (0x66 & 31)));
    CHECK_EQ(cpu_wrmsr(bsp, 0x83f, 0x05, false), 0); /* illegal vector */
    CHECK_EQ(cpu_wrmsr(bsp, 0x828, 0, false), 0);
    CHECK_EQ(cpu_rdmsr(bsp, 0x828, &v, false), 0);
    CHECK_EQ(v, ESR_SEND_ILLEGAL);
    CHECK_EQ(cpu_wrmsr(bsp, 0x1b, base, false), -1); /* x2APIC -> xAPIC */
    /* TSC-deadline: the interrupt comes when TSC >= deadline, and the
     * vCPU's TSC is moved up to it */
    CHECK_EQ(cpu_wrmsr(bsp, 0x832, LVT_TIMER_TSCDL | 0x40, false), 0);
    uint64_t tsc = bsp->icount + bsp->tsc_offset;
    CHECK_EQ(cpu_wrmsr(bsp, 0x6e0, tsc + 100000, false), 0);
    CHECK_EQ(cpu_rdmsr(bsp, 0x6e0, &v, false), 0);
    CHECK_EQ(v, tsc + 100000);
    CHECK_EQ(M.lapic[0].timer_deadline, smp_now(&M) + 100000);
    lapic_timer_update(&M.lapic[0], M.lapic[0].timer_deadline);
    CHECK(bsp->icount + bsp->tsc_offset >= tsc + 100000);
    CHECK_EQ(cpu_rdmsr(bsp, 0x6e0, &v, false), 0);
    CHECK_EQ(v, 0u);
    /* x2APIC -> disabled -> xAPIC */
    CHECK_EQ(cpu_wrmsr(bsp, 0x1b, base & ~(1ull << 11), false), 0);
    CHECK(!M.lapic[0].x2apic);
    CHECK_EQ(cpu_wrmsr(bsp, 0x1b, base | 1ull << 10, false), -1); /* disabled -> x2APIC */
    CHECK_EQ(cpu_wrmsr(bsp, 0x1b, base, false), 0);
    CHECK_EQ(machine_mmio_read(&M, bsp, LAPIC_DEFAULT_BASE + 0x20, 4), 0u);
    smp_machine_done();
}

/* Random x2APIC, TSC-deadline and APIC_BASE MSR traffic from every vCPU:
 * no crash, the LAPIC's mode always follows IA32_APIC_BASE. */
TEST(random_apic_msr_traffic)
{
    CHECK_EQ(smp_machine(4), 0);
    srand(4242);
    for (int k = 0; k < 100000; k++) {
        int from = rand() % 4;
        struct cpu *c = M.cpus[from];
        uint64_t v = (uint64_t)rand() << 33 ^ (uint64_t)rand() << 11 ^ (uint64_t)rand();
        if (rand() & 1)
            v &= 0xffffffffu;
        uint32_t msr;
        switch (rand() % 4) {
        case 0: msr = 0x1b; v = (v & 0xd00) | LAPIC_DEFAULT_BASE; break;
        case 1: msr = 0x6e0; break;
        default: msr = 0x7f0 + (uint32_t)(rand() % 0x120); break;
        }
        if (rand() & 1)
            (void)cpu_wrmsr(c, msr, v, false);
        else
            (void)cpu_rdmsr(c, msr, &v, false);
        if (M.req.kind != SYSREQ_NONE)
            M.req = (struct sysreq){0};
        M.vclock += (uint64_t)(rand() & 0xff);
        int i = rand() % 4;
        smp_apply_init_sipi(&M, i);
        lapic_timer_update(&M.lapic[i], M.vclock);
        bool x2 = (M.cpus[i]->apic_base & 0xc00) == 0xc00;
        CHECK_EQ(M.lapic[i].x2apic, x2);
        if (M.cpus[i]->irq_pending) {
            int vec = M.cpus[i]->irq_pending(&M, M.cpus[i]);
            CHECK(vec >= -1 && vec <= 255);
            if (vec >= 0)
                M.cpus[i]->irq_ack(&M, M.cpus[i], vec);
        }
    }
    smp_machine_done();
}

static const struct unit_test tests[] = {
    T(lapic_x2apic_msrs),
    T(lapic_tsc_deadline_on_fake_clock),
    T(x2apic_and_tsc_deadline_through_the_machine),
    T(random_apic_msr_traffic),
    T(hlt_with_if0_and_a_running_timer_still_ends),
    T(hlt_with_the_timer_blocked_by_tpr_ends),
    T(init_sipi_through_the_machine),
    T(random_interrupt_traffic_through_the_machine),
    T(lapic_reset_state_and_init),
    T(lapic_priority_isr_eoi),
    T(lapic_illegal_vectors_and_esr),
    T(lapic_timer_modes_on_fake_clock),
    T(lapic_icr_goes_to_the_host_and_dest_matching),
    T(ioapic_routes_edges_and_levels),
    T(pit_counts_and_interrupts_on_fake_clock),
    T(pic_delivery_side),
    T(garbage_from_the_guest),
};
UNIT_MAIN(tests)
