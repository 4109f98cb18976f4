/* Unit tests of the pin audit trail (src/pin/audit.c) and the disassembler
 * it uses (src/util/disasm.c): formatting, exact counting, rate limiting
 * on an injected clock, and records built from a vCPU. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/cpu.h"
#include "pin/audit.h"
#include "pin/crpin.h"
#include "unit.h"
#include "util/disasm.h"
#include "util/log.h"

/* ---- fixtures ---- */

struct fake_clock {
    uint64_t now;
};

static uint64_t fake_now(void *opaque)
{
    return ((struct fake_clock *)opaque)->now;
}

/* A log that writes into memory, so tests can read what -d pin prints. */
struct memlog {
    struct pv_log log;
    char *buf;
    size_t len;
};

static void memlog_open(struct memlog *m, unsigned mask)
{
    m->buf = NULL;
    m->len = 0;
    m->log.mask = mask;
    m->log.out = open_memstream(&m->buf, &m->len);
}

static const char *memlog_text(struct memlog *m)
{
    fflush(m->log.out);
    return m->buf ? m->buf : "";
}

static void memlog_close(struct memlog *m)
{
    fclose(m->log.out);
    free(m->buf);
}

static int count_lines(const char *s, const char *needle)
{
    int n = 0;
    for (const char *p = s; (p = strstr(p, needle)) != NULL; p++)
        n++;
    return n;
}

/* mov %rax,%cr4 clearing SMEP, as a ROP gadget would. */
static struct pin_audit_record smep_clear(int cpu, uint64_t rip)
{
    struct pin_audit_record r;
    memset(&r, 0, sizeof r);
    r.cpu_index = cpu;
    r.cr = 4;
    r.rip = rip;
    r.cpl = 0;
    r.code_size = 8;
    r.old_val = 0x3006a0;
    r.new_val = 0x2006a0;
    r.pinned = CRPIN_CR4_SMEP;
    memcpy(r.insn, "\x0f\x22\xe0\xc3", 4); /* mov %rax,%cr4; ret */
    r.insn_len = 4;
    return r;
}

struct emit_log {
    struct pin_audit *a;
    int calls;
    uint64_t last_seq;
    uint64_t total_seen; /* pin_audit_total() from inside the callback */
    char last_asm[PIN_AUDIT_ASM_MAX];
};

static void on_emit(void *opaque, const struct pin_audit_record *r)
{
    struct emit_log *e = opaque;
    e->calls++;
    e->last_seq = r->seq;
    snprintf(e->last_asm, sizeof e->last_asm, "%s", r->asm_text);
    e->total_seen = pin_audit_total(e->a); /* must not deadlock */
}

/* ---- disassembler ---- */

TEST(disasm_mov_to_cr4_64bit_att)
{
    char out[96];
    CHECK_EQ(disasm_one((const uint8_t *)"\x0f\x22\xe0", 3, 0x1000, 8, out, sizeof out), 3);
    CHECK(strcmp(out, "mov %rax, %cr4") == 0);
    /* REX.B selects r8: the form a ROP gadget in a big kernel may use */
    CHECK_EQ(disasm_one((const uint8_t *)"\x41\x0f\x22\xe0", 4, 0, 8, out, sizeof out), 4);
    CHECK(strcmp(out, "mov %r8, %cr4") == 0);
    CHECK_EQ(disasm_one((const uint8_t *)"\x0f\x22\xc0", 3, 0, 8, out, sizeof out), 3);
    CHECK(strcmp(out, "mov %rax, %cr0") == 0);
}

TEST(disasm_follows_code_size)
{
    char out[96];
    CHECK_EQ(disasm_one((const uint8_t *)"\x0f\x22\xe0", 3, 0, 4, out, sizeof out), 3);
    CHECK(strcmp(out, "mov %eax, %cr4") == 0);
    CHECK_EQ(disasm_one((const uint8_t *)"\x0f\x01\xf0", 3, 0, 2, out, sizeof out), 3);
    CHECK(strcmp(out, "lmsw %ax") == 0);
    CHECK_EQ(disasm_one((const uint8_t *)"\x0f\x06", 2, 0, 4, out, sizeof out), 2);
    CHECK(strcmp(out, "clts") == 0);
    /* a relative branch is shown at its absolute target */
    CHECK_EQ(disasm_one((const uint8_t *)"\xeb\xfe", 2, 0x7c00, 2, out, sizeof out), 2);
    CHECK(strstr(out, "0x7c00") != NULL);
}

TEST(disasm_bad_input)
{
    char out[96];
    CHECK_EQ(disasm_one((const uint8_t *)"\x0f\xff", 2, 0, 8, out, sizeof out), 0);
    CHECK(strcmp(out, "(bad)") == 0);
    CHECK_EQ(disasm_one((const uint8_t *)"\x0f\x22", 2, 0, 8, out, sizeof out), 0); /* truncated */
    CHECK_EQ(disasm_one((const uint8_t *)"\x90", 1, 0, 3, out, sizeof out), 0); /* bad code_size */
    CHECK(strcmp(out, "(bad)") == 0);
    /* text that does not fit in out: 0 and "(bad)" */
    CHECK_EQ(disasm_one((const uint8_t *)"\x0f\x22\xe0", 3, 0, 8, out, 6), 0);
    CHECK(strcmp(out, "(bad)") == 0);
}

/* ---- formatting ---- */

TEST(format_is_one_parsable_line)
{
    struct pin_audit_record r = smep_clear(2, 0xffffffff81000123ull);
    char line[512];
    r.insn_len = 3;
    snprintf(r.asm_text, sizeof r.asm_text, "mov %%rax, %%cr4");
    pin_audit_format(&r, line, sizeof line);
    CHECK(strcmp(line, "pin: cpu=2 cr=4 rip=0xffffffff81000123 cpl=0 "
                       "old=0x3006a0 new=0x2006a0 pinned=0x100000 "
                       "insn=\"0f 22 e0\" asm=\"mov %rax, %cr4\"\n") == 0);
}

TEST(format_without_bytes)
{
    struct pin_audit_record r = smep_clear(0, 0x10);
    char line[512];
    r.insn_len = 0;
    snprintf(r.asm_text, sizeof r.asm_text, "?");
    pin_audit_format(&r, line, sizeof line);
    CHECK(strstr(line, " insn=\"\" asm=\"?\"\n") != NULL);
}

TEST(insn_hex_fits_15_bytes_and_truncates_whole_bytes)
{
    struct pin_audit_record r = smep_clear(0, 0);
    char buf[3 * PIN_AUDIT_INSN_MAX], small[8];
    memset(r.insn, 0xab, sizeof r.insn);
    r.insn_len = PIN_AUDIT_INSN_MAX;
    pin_audit_insn_hex(&r, buf, sizeof buf);
    CHECK_EQ(strlen(buf), 3 * PIN_AUDIT_INSN_MAX - 1);
    CHECK(strncmp(buf, "ab ab ", 6) == 0);
    pin_audit_insn_hex(&r, small, sizeof small);
    CHECK(strcmp(small, "ab ab") == 0); /* never half a byte */
    r.insn_len = 0;
    pin_audit_insn_hex(&r, buf, sizeof buf);
    CHECK(strcmp(buf, "") == 0);
}

/* ---- submit: disassembly, counting, ring ---- */

TEST(submit_disassembles_and_trims_to_one_insn)
{
    struct pin_audit a;
    struct memlog m;
    struct pin_audit_record r = smep_clear(0, 0x401000), got;
    memlog_open(&m, LOG_PIN);
    pin_audit_init(&a, &m.log);
    pin_audit_submit(&a, &r);
    CHECK_EQ(pin_audit_recent(&a, &got, 1), 1);
    CHECK_EQ(got.insn_len, 3); /* the trailing ret is not part of it */
    CHECK(strcmp(got.asm_text, "mov %rax, %cr4") == 0);
    CHECK_EQ(got.seq, 1);
    CHECK(strcmp(memlog_text(&m),
                 "pin: cpu=0 cr=4 rip=0x401000 cpl=0 old=0x3006a0 "
                 "new=0x2006a0 pinned=0x100000 insn=\"0f 22 e0\" "
                 "asm=\"mov %rax, %cr4\"\n") == 0);
    pin_audit_destroy(&a);
    memlog_close(&m);
}

TEST(no_log_line_without_d_pin)
{
    struct pin_audit a;
    struct memlog m;
    struct pin_audit_record r = smep_clear(0, 0x401000);
    memlog_open(&m, LOG_INT); /* -d int only */
    pin_audit_init(&a, &m.log);
    pin_audit_submit(&a, &r);
    CHECK_EQ(pin_audit_total(&a), 1);
    CHECK(strcmp(memlog_text(&m), "") == 0);
    pin_audit_destroy(&a);
    memlog_close(&m);
    /* and a NULL log is fine */
    pin_audit_init(&a, NULL);
    pin_audit_submit(&a, &r);
    CHECK_EQ(pin_audit_count(&a, 0, 4), 1);
    pin_audit_destroy(&a);
}

TEST(counters_are_per_vcpu_per_cr)
{
    struct pin_audit a;
    struct pin_audit_record r4 = smep_clear(1, 0x1000), r0 = r4;
    pin_audit_init(&a, NULL);
    r0.cr = 0;
    r0.cpu_index = 3;
    for (int i = 0; i < 5; i++)
        pin_audit_submit(&a, &r4);
    for (int i = 0; i < 2; i++)
        pin_audit_submit(&a, &r0);
    CHECK_EQ(pin_audit_count(&a, 1, 4), 5);
    CHECK_EQ(pin_audit_count(&a, 1, 0), 0);
    CHECK_EQ(pin_audit_count(&a, 3, 0), 2);
    CHECK_EQ(pin_audit_count(&a, 3, 4), 0);
    CHECK_EQ(pin_audit_count(&a, 0, 4), 0);
    CHECK_EQ(pin_audit_count(&a, 1, 3), 0); /* no such CR */
    CHECK_EQ(pin_audit_total(&a), 7);
    /* vCPUs past the per-vCPU table still count in the total */
    r4.cpu_index = 200;
    pin_audit_submit(&a, &r4);
    CHECK_EQ(pin_audit_total(&a), 8);
    CHECK_EQ(pin_audit_count(&a, 200, 4), 0);
    CHECK_EQ(pin_audit_count(&a, -1, 4), 0);
    pin_audit_destroy(&a);
}

TEST(recent_is_newest_first_and_wraps)
{
    struct pin_audit a;
    struct pin_audit_record r = smep_clear(0, 0), got[PIN_AUDIT_RING + 4];
    pin_audit_init(&a, NULL);
    CHECK_EQ(pin_audit_recent(&a, got, 4), 0);
    for (int i = 1; i <= PIN_AUDIT_RING + 5; i++) {
        r.rip = (uint64_t)i;
        pin_audit_submit(&a, &r);
    }
    CHECK_EQ(pin_audit_recent(&a, got, 3), 3);
    CHECK_EQ(got[0].rip, PIN_AUDIT_RING + 5);
    CHECK_EQ(got[2].rip, PIN_AUDIT_RING + 3);
    CHECK_EQ(got[0].seq, PIN_AUDIT_RING + 5);
    CHECK_EQ(pin_audit_recent(&a, got, PIN_AUDIT_RING + 4), PIN_AUDIT_RING);
    CHECK_EQ(got[PIN_AUDIT_RING - 1].rip, 6);
    pin_audit_destroy(&a);
}

/* ---- rate limiting ---- */

TEST(rate_limit_burst_then_refill_then_summary)
{
    struct pin_audit a;
    struct memlog m;
    struct fake_clock clk = {1000};
    struct emit_log e = {0};
    struct pin_audit_record r = smep_clear(0, 0x401000);
    memlog_open(&m, LOG_PIN);
    pin_audit_init(&a, &m.log);
    e.a = &a;
    pin_audit_set_clock(&a, fake_now, &clk);
    pin_audit_set_rate(&a, 2, 3); /* burst 3, then 2/s */
    pin_audit_set_emit(&a, on_emit, &e);

    for (int i = 0; i < 10; i++)
        pin_audit_submit(&a, &r);
    CHECK_EQ(e.calls, 3);
    CHECK_EQ(count_lines(memlog_text(&m), "pin: cpu=0 cr=4"), 3);
    CHECK_EQ(pin_audit_count(&a, 0, 4), 10); /* counting is exact */
    CHECK_EQ(a.total_suppressed, 7);
    CHECK_EQ(count_lines(memlog_text(&m), "suppressed"), 0);

    clk.now += 400000000; /* 0.4 s: 0.8 token, still nothing */
    pin_audit_submit(&a, &r);
    CHECK_EQ(e.calls, 3);
    clk.now += 100000000; /* 0.5 s in all: one token */
    pin_audit_submit(&a, &r);
    CHECK_EQ(e.calls, 4);
    CHECK_EQ(e.last_seq, 12);
    CHECK_EQ(e.total_seen, 12);
    CHECK(strstr(memlog_text(&m), "pin: cpu=0 suppressed 8 records\n"
                                  "pin: cpu=0 cr=4 ") != NULL);

    clk.now += 3600 * 1000000000ull; /* an hour: bucket full, not more */
    for (int i = 0; i < 5; i++)
        pin_audit_submit(&a, &r);
    CHECK_EQ(e.calls, 7);
    CHECK_EQ(count_lines(memlog_text(&m), "suppressed"), 1);
    pin_audit_flush(&a);
    CHECK_EQ(count_lines(memlog_text(&m), "pin: cpu=0 suppressed 2 records\n"), 1);
    pin_audit_flush(&a); /* nothing more to say */
    CHECK_EQ(count_lines(memlog_text(&m), "suppressed"), 2);
    CHECK(strcmp(e.last_asm, "mov %rax, %cr4") == 0);
    pin_audit_destroy(&a);
    memlog_close(&m);
}

TEST(suppressed_records_are_disassembled_when_queried)
{
    /* Hammering records skip the disassembler; a query still shows it. */
    struct pin_audit a;
    struct fake_clock clk = {0};
    struct pin_audit_record r = smep_clear(0, 0x401000), out[2];
    pin_audit_init(&a, NULL);
    pin_audit_set_clock(&a, fake_now, &clk);
    pin_audit_set_rate(&a, 1, 1);
    pin_audit_submit(&a, &r);
    pin_audit_submit(&a, &r); /* suppressed */
    CHECK_EQ(a.total_suppressed, 1);
    CHECK_EQ(a.ring[1].asm_text[0], 0); /* stored undisassembled */
    CHECK_EQ(pin_audit_recent(&a, out, 2), 2);
    CHECK(strcmp(out[0].asm_text, "mov %rax, %cr4") == 0);
    CHECK_EQ(out[0].insn_len, 3);
    CHECK_EQ(out[0].seq, 2);
    pin_audit_destroy(&a);
}

TEST(rate_limit_is_per_vcpu)
{
    struct pin_audit a;
    struct fake_clock clk = {0};
    struct emit_log e = {0};
    struct pin_audit_record r0 = smep_clear(0, 1), r1 = smep_clear(1, 2);
    pin_audit_init(&a, NULL);
    e.a = &a;
    pin_audit_set_clock(&a, fake_now, &clk);
    pin_audit_set_rate(&a, 1, 2);
    pin_audit_set_emit(&a, on_emit, &e);
    for (int i = 0; i < 50; i++)
        pin_audit_submit(&a, &r0); /* vCPU 0 hammers */
    pin_audit_submit(&a, &r1);     /* vCPU 1 is still heard */
    CHECK_EQ(e.calls, 3);
    CHECK_EQ(e.last_seq, 51);
    pin_audit_destroy(&a);
}

TEST(clock_going_backwards_adds_no_credit)
{
    struct pin_audit a;
    struct fake_clock clk = {5000000000ull};
    struct emit_log e = {0};
    struct pin_audit_record r = smep_clear(0, 1);
    pin_audit_init(&a, NULL);
    e.a = &a;
    pin_audit_set_clock(&a, fake_now, &clk);
    pin_audit_set_rate(&a, 1, 1);
    pin_audit_set_emit(&a, on_emit, &e);
    pin_audit_submit(&a, &r);
    clk.now = 0;
    pin_audit_submit(&a, &r);
    clk.now = 900000000; /* 0.9 s after the reset point */
    pin_audit_submit(&a, &r);
    CHECK_EQ(e.calls, 1);
    clk.now = 1000000000;
    pin_audit_submit(&a, &r);
    CHECK_EQ(e.calls, 2);
    pin_audit_destroy(&a);
}

TEST(rate_arguments_are_clamped)
{
    struct pin_audit a;
    pin_audit_init(&a, NULL);
    pin_audit_set_rate(&a, 0, 0);
    CHECK_EQ(a.rate, 1);
    CHECK_EQ(a.burst, 1);
    pin_audit_set_rate(&a, ~0u, ~0u);
    CHECK(a.rate <= 1000000 && a.burst <= 1000000);
    pin_audit_destroy(&a);
}

/* ---- records built from a vCPU ---- */

static struct cpu *fake_cpu(uint8_t *ram, size_t ram_size, int mode, int code_size)
{
    struct cpu *c = calloc(1, sizeof *c);
    c->ram = ram;
    c->ram_size = ram_size;
    c->mode = (uint8_t)mode;
    c->code_size = (uint8_t)code_size;
    c->cr0 = mode == MODE_REAL ? 0 : CR0_PE; /* paging off */
    c->fault_vec = -1;
    c->delivering = -1;
    return c;
}

TEST(report_reads_bytes_at_cs_ip)
{
    size_t ram_size = 1 << 20;
    uint8_t *ram = calloc(1, ram_size);
    struct pin_audit a;
    struct pin_audit_record got;
    struct cpu *c;

    /* 32-bit protected mode, CS base 0x10000: bytes at linear base+EIP */
    memcpy(ram + 0x10000 + 0x234, "\x0f\x22\xe0\x90", 4);
    c = fake_cpu(ram, ram_size, MODE_PROT, 4);
    c->cpu_index = 5;
    c->cpl = 0;
    c->seg[S_CS].base = 0x10000;
    c->rip = 0x234;
    c->pin.cr4_pinned = CRPIN_CR4_SMEP | CRPIN_CR4_SMAP;
    pin_audit_init(&a, NULL);
    pin_audit_report(&a, c, 4, 0x300020, 0x20);
    CHECK_EQ(pin_audit_recent(&a, &got, 1), 1);
    CHECK_EQ(got.cpu_index, 5);
    CHECK_EQ(got.cr, 4);
    CHECK_EQ(got.rip, 0x234);
    CHECK_EQ(got.old_val, 0x300020);
    CHECK_EQ(got.new_val, 0x20);
    CHECK_EQ(got.pinned, CRPIN_CR4_SMEP | CRPIN_CR4_SMAP);
    CHECK_EQ(got.insn_len, 3);
    CHECK(strcmp(got.asm_text, "mov %eax, %cr4") == 0);
    CHECK_EQ(pin_audit_count(&a, 5, 4), 1);

    /* 64-bit mode ignores the CS base; CR0 uses the CR0 mask; CPL shown */
    memcpy(ram + 0x5000, "\x0f\x22\xc0", 3);
    c->mode = MODE_LONG;
    c->code_size = 8;
    c->efer = EFER_LME | EFER_LMA;
    c->seg[S_CS].base = 0x10000; /* stale base from before: must be ignored */
    c->rip = 0x5000;
    c->cpl = 3;
    c->pin.cr0_pinned = CRPIN_CR0_WP;
    pin_audit_report(&a, c, 0, CR0_PE | CR0_WP, CR0_PE);
    CHECK_EQ(pin_audit_recent(&a, &got, 1), 1);
    CHECK_EQ(got.cpl, 3);
    CHECK_EQ(got.pinned, CRPIN_CR0_WP);
    CHECK(strcmp(got.asm_text, "mov %rax, %cr0") == 0);
    CHECK_EQ(got.insn[0], 0x0f);
    pin_audit_destroy(&a);
    free(c);
    free(ram);
}

static void put64(uint8_t *ram, uint64_t pa, uint64_t v)
{
    memcpy(ram + pa, &v, 8);
}

TEST(report_through_4level_paging_partial_and_unmapped)
{
    size_t ram_size = 1 << 20;
    uint8_t *ram = calloc(1, ram_size);
    const uint64_t va = 0x400000000ull; /* PML4 0, PDPT 16, PD 0, PT 0 */
    struct pin_audit a;
    struct pin_audit_record got;
    struct cpu *c = fake_cpu(ram, ram_size, MODE_LONG, 8);
    char line[512];

    /* 4-level tables: only the page at va is present (-> PA 0x10000);
     * the page after it is not. */
    put64(ram, 0x1000, 0x2000 | 7);
    put64(ram, 0x2000 + 16 * 8, 0x3000 | 7);
    put64(ram, 0x3000, 0x4000 | 7);
    put64(ram, 0x4000, 0x10000 | 7);
    memcpy(ram + 0x10020, "\x0f\x22\xe0", 3);
    memcpy(ram + 0x10ffe, "\x41\x0f", 2); /* mov %r8,%cr4 cut by the page end */
    c->cr0 = CR0_PE | CR0_PG | CR0_WP;
    c->cr4 = CR4_PAE | CR4_SMEP;
    c->efer = EFER_LME | EFER_LMA;
    c->cr3 = 0x1000;
    c->pin.cr4_pinned = CRPIN_CR4_SMEP;
    pin_audit_init(&a, NULL);

    c->rip = va + 0x20;
    pin_audit_report(&a, c, 4, c->cr4, CR4_PAE);
    CHECK_EQ(pin_audit_recent(&a, &got, 1), 1);
    CHECK_EQ(got.insn_len, 3);
    CHECK(strcmp(got.asm_text, "mov %rax, %cr4") == 0);

    /* Only the bytes on the mapped page: shown, but not decodable. */
    c->rip = va + 0xffe;
    pin_audit_report(&a, c, 4, c->cr4, CR4_PAE);
    CHECK_EQ(pin_audit_recent(&a, &got, 1), 1);
    CHECK_EQ(got.insn_len, 2);
    CHECK(strcmp(got.asm_text, "(bad)") == 0);
    pin_audit_format(&got, line, sizeof line);
    CHECK(strstr(line, " insn=\"41 0f\" asm=\"(bad)\"\n") != NULL);

    /* Unmapped, and non-canonical: no bytes, still counted. */
    c->rip = va + 0x1000;
    pin_audit_report(&a, c, 4, c->cr4, CR4_PAE);
    CHECK_EQ(pin_audit_recent(&a, &got, 1), 1);
    CHECK_EQ(got.insn_len, 0);
    CHECK(strcmp(got.asm_text, "?") == 0);
    c->rip = 0x8000000000000000ull;
    pin_audit_report(&a, c, 4, c->cr4, CR4_PAE);
    CHECK_EQ(pin_audit_recent(&a, &got, 1), 1);
    CHECK_EQ(got.insn_len, 0);
    CHECK_EQ(pin_audit_count(&a, 0, 4), 4);
    pin_audit_destroy(&a);
    free(c);
    free(ram);
}

static const struct unit_test tests[] = {
    T(disasm_mov_to_cr4_64bit_att),
    T(disasm_follows_code_size),
    T(disasm_bad_input),
    T(format_is_one_parsable_line),
    T(format_without_bytes),
    T(insn_hex_fits_15_bytes_and_truncates_whole_bytes),
    T(submit_disassembles_and_trims_to_one_insn),
    T(no_log_line_without_d_pin),
    T(counters_are_per_vcpu_per_cr),
    T(recent_is_newest_first_and_wraps),
    T(rate_limit_burst_then_refill_then_summary),
    T(suppressed_records_are_disassembled_when_queried),
    T(rate_limit_is_per_vcpu),
    T(clock_going_backwards_adds_no_credit),
    T(rate_arguments_are_clamped),
    T(report_reads_bytes_at_cs_ip),
    T(report_through_4level_paging_partial_and_unmapped),
};
UNIT_MAIN(tests)
