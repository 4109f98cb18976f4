/* Unit tests of the SMP interrupt hardware models (src/machine): local
 * APIC priorities, EOI, timer arithmetic on a fake clock, ICR messages,
 * destination matching; the I/O APIC; the 8254; the 8259's delivery side;
 * and guest-controlled garbage thrown at all of them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "machine/ioapic.h"
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
static const struct lapic_host HOST = {&F, f_ipi, f_now, f_eoi};

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
    CHECK_EQ(lapic_timer_next(&a), 4200u); /* reloaded */
    F.now = 100000;                         /* many periods late */
    lapic_timer_update(&a, F.now);
    CHECK(lapic_timer_next(&a) > F.now && lapic_timer_next(&a) <= F.now + 1600);
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
    /* TSC-deadline mode bit is reserved (not advertised) */
    wr(&a, 0x320, (2u << 17) | 0x70);
    CHECK_EQ(rd(&a, 0x320) & (3u << 17), 0u);
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

static const struct unit_test tests[] = {
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
