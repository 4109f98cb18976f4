/* audit.c: records of blocked CR writes, counted exactly and emitted under
 * a per-vCPU token bucket. See audit.h and docs/cr-pinning.md. */
#include "audit.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "../cpu/cpu.h"
#include "../util/disasm.h"
#include "../util/log.h"
#include "crpin.h"

#define NS_PER_SEC 1000000000ull
/* Caps that keep the bucket arithmetic (tokens x 1e9) far from overflow. */
#define RATE_MAX  1000000u
#define BURST_MAX 1000000u

/* The coarse clock (the last timer tick, read from the vDSO without a
 * serialising TSC read) costs ~6 ns here against ~28 for CLOCK_MONOTONIC,
 * a seventh of a blocked write; tick resolution (1-4 ms) is plenty for a
 * bucket that refills a few records per second. */
#ifdef CLOCK_MONOTONIC_COARSE
#define AUDIT_CLOCK CLOCK_MONOTONIC_COARSE
#else
#define AUDIT_CLOCK CLOCK_MONOTONIC
#endif

static uint64_t host_monotonic_ns(void *opaque)
{
    struct timespec ts;
    (void)opaque;
    clock_gettime(AUDIT_CLOCK, &ts);
    return (uint64_t)ts.tv_sec * NS_PER_SEC + (uint64_t)ts.tv_nsec;
}

void pin_audit_init(struct pin_audit *a, struct pv_log *log)
{
    memset(a, 0, sizeof *a);
    a->log = log;
    a->clock = host_monotonic_ns;
    a->rate = PIN_AUDIT_DEFAULT_RATE;
    a->burst = PIN_AUDIT_DEFAULT_BURST;
    pthread_mutex_init(&a->lock, NULL);
}

void pin_audit_destroy(struct pin_audit *a)
{
    pthread_mutex_destroy(&a->lock);
}

void pin_audit_set_clock(struct pin_audit *a, pin_audit_clock_fn fn,
                         void *opaque)
{
    a->clock = fn ? fn : host_monotonic_ns;
    a->clock_opaque = opaque;
}

void pin_audit_set_rate(struct pin_audit *a, unsigned per_sec, unsigned burst)
{
    a->rate = per_sec < 1 ? 1 : per_sec > RATE_MAX ? RATE_MAX : per_sec;
    a->burst = burst < 1 ? 1 : burst > BURST_MAX ? BURST_MAX : burst;
}

void pin_audit_set_emit(struct pin_audit *a, pin_audit_emit_fn fn,
                        void *opaque)
{
    /* Under the lock: a control thread may (un)register while vCPUs run. */
    pthread_mutex_lock(&a->lock);
    a->emit = fn;
    a->emit_opaque = opaque;
    pthread_mutex_unlock(&a->lock);
}

static struct pin_audit_vcpu *slot(struct pin_audit *a, int cpu_index)
{
    if (cpu_index < 0 || cpu_index >= PIN_AUDIT_MAX_VCPUS)
        return &a->vcpu[PIN_AUDIT_MAX_VCPUS];
    return &a->vcpu[cpu_index];
}

/* Token bucket. One token is NS_PER_SEC units of credit; every elapsed ns
 * adds `rate` units, so the bucket refills at `rate` tokens per second and
 * holds at most `burst` tokens. Starts full. */
static bool take_token(struct pin_audit *a, struct pin_audit_vcpu *v,
                       uint64_t now)
{
    uint64_t cap = (uint64_t)a->burst * NS_PER_SEC;

    if (!v->started) {
        v->started = true;
        v->credit = cap;
    } else if (now > v->last_ns) {
        uint64_t dt = now - v->last_ns;
        /* dt * rate may overflow for long gaps: anything past the time to
         * fill the bucket fills it. */
        if (dt >= cap / a->rate)
            v->credit = cap;
        else
            v->credit = v->credit + dt * a->rate > cap ? cap
                                                       : v->credit + dt * a->rate;
    }
    /* A clock that goes backwards (only an injected one can) adds nothing. */
    v->last_ns = now;
    if (v->credit < NS_PER_SEC)
        return false;
    v->credit -= NS_PER_SEC;
    return true;
}

void pin_audit_insn_hex(const struct pin_audit_record *r, char *buf, size_t n)
{
    size_t len = r->insn_len > PIN_AUDIT_INSN_MAX ? PIN_AUDIT_INSN_MAX
                                                  : r->insn_len;
    size_t pos = 0;

    if (n == 0)
        return;
    buf[0] = '\0';
    /* Stop at the first byte that would not fit whole. */
    for (size_t i = 0; i < len && pos + (i ? 3 : 2) < n; i++)
        pos += (size_t)snprintf(buf + pos, n - pos, i ? " %02x" : "%02x",
                                r->insn[i]);
}

int pin_audit_format(const struct pin_audit_record *r, char *buf, size_t n)
{
    char hex[PIN_AUDIT_INSN_MAX * 3];

    pin_audit_insn_hex(r, hex, sizeof hex);
    return snprintf(buf, n,
                    "pin: cpu=%d cr=%d rip=0x%" PRIx64 " cpl=%d old=0x%" PRIx64
                    " new=0x%" PRIx64 " pinned=0x%" PRIx64
                    " insn=\"%s\" asm=\"%s\"\n",
                    r->cpu_index, r->cr, r->rip, r->cpl, r->old_val,
                    r->new_val, r->pinned, hex, r->asm_text);
}

static void log_suppressed(struct pin_audit *a, int cpu_index,
                           struct pin_audit_vcpu *v)
{
    if (v->suppressed && log_on(a->log, LOG_PIN))
        log_printf(a->log, "pin: cpu=%d suppressed %" PRIu64 " records\n",
                   cpu_index, v->suppressed);
    v->suppressed = 0;
}

/* Disassemble r's bytes into asm_text unless done already, and keep just
 * the one instruction's bytes. Pure and the slowest part of a record
 * (~2k host instructions), so it runs only for records that are printed,
 * emitted or queried: a guest hammering a pinned bit costs a counter
 * update and a ring slot per attempt, not a disassembly. */
static void fill_asm(struct pin_audit_record *r)
{
    if (r->asm_text[0])
        return;
    if (r->insn_len > PIN_AUDIT_INSN_MAX)
        r->insn_len = PIN_AUDIT_INSN_MAX;
    if (r->insn_len == 0) {
        snprintf(r->asm_text, sizeof r->asm_text, "?");
        return;
    }
    int len = disasm_one(r->insn, r->insn_len, r->rip, r->code_size,
                         r->asm_text, sizeof r->asm_text);
    if (len > 0 && len < r->insn_len)
        r->insn_len = (uint8_t)len; /* keep just this instruction */
}

/* Under a->lock, for the record r built in its ring slot (the one seq
 * a->total + 1 maps to): number, time, count and rate-limit it, and print
 * it if it is emitted. Returns whether it is emitted. */
static bool record_locked(struct pin_audit *a, struct pin_audit_record *r)
{
    struct pin_audit_vcpu *v = slot(a, r->cpu_index);
    bool emit;

    r->seq = ++a->total;
    r->time_ns = a->clock(a->clock_opaque);
    if (r->cr == 0)
        v->count_cr0++;
    else if (r->cr == 4)
        v->count_cr4++;
    emit = take_token(a, v, r->time_ns);
    if (emit) {
        fill_asm(r); /* rate-limited, so bounded work */
        log_suppressed(a, r->cpu_index, v);
        if (log_on(a->log, LOG_PIN)) {
            char line[512];
            pin_audit_format(r, line, sizeof line);
            log_printf(a->log, "%s", line);
        }
    } else {
        v->suppressed++;
        a->total_suppressed++;
    }
    return emit;
}

/* The ring slot the next record goes to: ring[(seq - 1) % N]. */
static struct pin_audit_record *next_slot(struct pin_audit *a)
{
    return &a->ring[a->total % PIN_AUDIT_RING];
}

/* After record_locked(): unlock, then hand an emitted record to the emit
 * callback, outside the lock so that the callback may query the audit. */
static void unlock_and_emit(struct pin_audit *a, const struct pin_audit_record *r,
                            bool emit)
{
    pin_audit_emit_fn fn = emit ? a->emit : NULL;
    void *opaque = a->emit_opaque;
    struct pin_audit_record copy;

    if (fn)
        copy = *r; /* the slot may be reused once the lock is dropped */
    pthread_mutex_unlock(&a->lock);
    if (fn)
        fn(opaque, &copy);
}

void pin_audit_submit(struct pin_audit *a, const struct pin_audit_record *in)
{
    pthread_mutex_lock(&a->lock);
    struct pin_audit_record *r = next_slot(a);
    *r = *in;
    r->asm_text[0] = '\0';
    if (r->insn_len > PIN_AUDIT_INSN_MAX)
        r->insn_len = PIN_AUDIT_INSN_MAX;
    unlock_and_emit(a, r, record_locked(a, r));
}

/* Every blocked write of a guest lands here, so the record is built in
 * its ring slot (no 200-byte memset and copies per report); only an
 * emitted record (rate-limited) is copied, for the callback. */
void pin_audit_report(struct pin_audit *a, struct cpu *c, int cr,
                      uint64_t old_val, uint64_t new_val)
{
    uint8_t insn[PIN_AUDIT_INSN_MAX] = {0};
    uint64_t lin;
    int n;

    /* 64-bit mode ignores the CS base (SDM Vol 3A 3.4.4); elsewhere the
     * linear address is base + EIP, truncated to 32 bits. Read before
     * taking the lock: it may reach the bus (MMIO code). */
    if (c->mode == MODE_LONG)
        lin = c->rip;
    else
        lin = (c->seg[S_CS].base + c->rip) & 0xffffffffull;
    n = cpu_peek_insn(c, lin, insn, PIN_AUDIT_INSN_MAX);

    pthread_mutex_lock(&a->lock);
    struct pin_audit_record *r = next_slot(a);
    r->cpu_index = c->cpu_index;
    r->cr = cr;
    r->rip = c->rip;
    r->cpl = c->cpl;
    r->code_size = c->code_size;
    r->old_val = old_val;
    r->new_val = new_val;
    r->pinned = crpin_mask(&c->pin, cr);
    memcpy(r->insn, insn, sizeof r->insn);
    r->insn_len = n > 0 ? (uint8_t)n : 0;
    r->asm_text[0] = '\0';
    unlock_and_emit(a, r, record_locked(a, r));
}

void pin_audit_flush(struct pin_audit *a)
{
    pthread_mutex_lock(&a->lock);
    for (int i = 0; i <= PIN_AUDIT_MAX_VCPUS; i++)
        log_suppressed(a, i, &a->vcpu[i]);
    pthread_mutex_unlock(&a->lock);
}

uint64_t pin_audit_count(struct pin_audit *a, int cpu_index, int cr)
{
    uint64_t n = 0;

    if (cpu_index < 0 || cpu_index >= PIN_AUDIT_MAX_VCPUS)
        return 0;
    pthread_mutex_lock(&a->lock);
    if (cr == 0)
        n = a->vcpu[cpu_index].count_cr0;
    else if (cr == 4)
        n = a->vcpu[cpu_index].count_cr4;
    pthread_mutex_unlock(&a->lock);
    return n;
}

uint64_t pin_audit_total(struct pin_audit *a)
{
    uint64_t n;

    pthread_mutex_lock(&a->lock);
    n = a->total;
    pthread_mutex_unlock(&a->lock);
    return n;
}

size_t pin_audit_recent(struct pin_audit *a, struct pin_audit_record *out,
                        size_t max)
{
    size_t n = 0;

    pthread_mutex_lock(&a->lock);
    for (uint64_t seq = a->total; seq > 0 && n < max && n < PIN_AUDIT_RING;
         seq--)
        out[n++] = a->ring[(seq - 1) % PIN_AUDIT_RING];
    pthread_mutex_unlock(&a->lock);
    for (size_t k = 0; k < n; k++)
        fill_asm(&out[k]); /* suppressed records were kept undisassembled */
    return n;
}
