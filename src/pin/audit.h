/* audit: the trail of control-register writes that a pin blocked.
 *
 * One struct pin_audit per machine. cpu_write_cr0/cr4 report each blocked
 * write through cpu_bus.pin_violation, which the machine wires to
 * pin_audit_report(). Every report is counted exactly (per vCPU, per CR);
 * the report is then kept in a small ring of recent records, and "emitted"
 * (one `-d pin` log line plus the optional emit callback, e.g. a QMP
 * CR_PIN_VIOLATION event) subject to a per-vCPU token bucket, so a guest
 * hammering the check cannot flood the host. See docs/cr-pinning.md.
 *
 * Log line format (one line per emitted record, key=value, stable order):
 *   pin: cpu=0 cr=4 rip=0xffffffff81000123 cpl=0 old=0x3006b0 new=0x2006b0
 *        pinned=0x100000 insn="0f 22 e0" asm="mov %rax, %cr4"
 * and, before the next emitted record of a vCPU whose records were dropped:
 *   pin: cpu=0 suppressed 1234 records
 */
#ifndef PINVM_PIN_AUDIT_H
#define PINVM_PIN_AUDIT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cpu;
struct pv_log;

#define PIN_AUDIT_MAX_VCPUS 64
#define PIN_AUDIT_RING      16  /* recent records kept for queries */
#define PIN_AUDIT_INSN_MAX  15  /* longest x86 instruction */
#define PIN_AUDIT_ASM_MAX   96

/* Default token bucket: a burst of 10 records, then 10 per second. */
#define PIN_AUDIT_DEFAULT_RATE  10
#define PIN_AUDIT_DEFAULT_BURST 10

struct pin_audit_record {
    uint64_t seq;       /* 1, 2, ... over the machine's lifetime */
    uint64_t time_ns;   /* host monotonic time (the audit's clock) */
    int cpu_index;
    int cr;             /* 0 or 4 */
    uint64_t rip;       /* the blocked instruction */
    int cpl;
    int code_size;      /* 2, 4 or 8: how insn was disassembled */
    uint64_t old_val;   /* CR value, unchanged by the blocked write */
    uint64_t new_val;   /* the value the guest tried to write */
    uint64_t pinned;    /* crpin_mask() at the time */
    uint8_t insn[PIN_AUDIT_INSN_MAX];
    uint8_t insn_len;   /* 0: bytes unavailable (unmapped) */
    char asm_text[PIN_AUDIT_ASM_MAX]; /* AT&T syntax, or "(bad)"/"?" */
};

/* Host monotonic clock in ns; injectable so tests are deterministic. */
typedef uint64_t (*pin_audit_clock_fn)(void *opaque);
/* Called for each emitted (not rate-limited) record, after the log line. */
typedef void (*pin_audit_emit_fn)(void *opaque,
                                  const struct pin_audit_record *r);

struct pin_audit_vcpu {
    uint64_t count_cr0, count_cr4; /* exact */
    uint64_t credit;     /* token bucket, in ns-of-refill (see audit.c) */
    uint64_t last_ns;    /* time of the last refill */
    uint64_t suppressed; /* dropped since the last emitted record */
    bool started;        /* bucket initialised (full) on first use */
};

struct pin_audit {
    struct pv_log *log;
    pin_audit_clock_fn clock;
    void *clock_opaque;
    pin_audit_emit_fn emit;
    void *emit_opaque;
    unsigned rate;  /* records per second per vCPU (>= 1) */
    unsigned burst; /* bucket size (>= 1) */

    /* vcpu[PIN_AUDIT_MAX_VCPUS] is shared by any higher cpu_index. */
    struct pin_audit_vcpu vcpu[PIN_AUDIT_MAX_VCPUS + 1];
    uint64_t total;
    uint64_t total_suppressed;
    struct pin_audit_record ring[PIN_AUDIT_RING]; /* ring[(seq-1) % N] */

    /* Reports may come from several vCPU threads: serialises the above. */
    pthread_mutex_t lock;
};

/* Initialise with default rate, host monotonic clock, no emit callback.
 * log may be NULL (count and keep records, print nothing). */
void pin_audit_init(struct pin_audit *a, struct pv_log *log);
void pin_audit_destroy(struct pin_audit *a);
/* Test/tuning hooks; call before the first report. */
void pin_audit_set_clock(struct pin_audit *a, pin_audit_clock_fn fn,
                         void *opaque);
void pin_audit_set_rate(struct pin_audit *a, unsigned per_sec, unsigned burst);
void pin_audit_set_emit(struct pin_audit *a, pin_audit_emit_fn fn,
                        void *opaque);

/* The cpu_bus.pin_violation hook: builds the record from the vCPU (index,
 * RIP, CPL, pinned mask, instruction bytes via cpu_peek_insn) and submits
 * it. cr is 0 or 4; old_val is the current value, new_val the refused one. */
void pin_audit_report(struct pin_audit *a, struct cpu *c, int cr,
                      uint64_t old_val, uint64_t new_val);

/* Submit a record built by the caller (fields up to insn_len; seq and
 * time_ns are filled in here; asm_text when the record is printed or
 * emitted, or later by pin_audit_recent(): rate-limited records are kept
 * undisassembled). pin_audit_report() ends here; tests and other front
 * ends may call it directly. */
void pin_audit_submit(struct pin_audit *a, const struct pin_audit_record *r);

/* Write the records still suppressed to the log ("suppressed K records"):
 * call at machine exit so the last burst is not silently lost. */
void pin_audit_flush(struct pin_audit *a);

/* ---- queries (e.g. QMP query-pin-violations) ---- */
/* Exact number of blocked writes to cr (0 or 4) by vCPU cpu_index. */
uint64_t pin_audit_count(struct pin_audit *a, int cpu_index, int cr);
uint64_t pin_audit_total(struct pin_audit *a);
/* Copy up to max of the most recent records, newest first; returns how
 * many were copied. */
size_t pin_audit_recent(struct pin_audit *a, struct pin_audit_record *out,
                        size_t max);

/* The instruction bytes as lowercase hex pairs separated by spaces
 * ("0f 22 e0"); "" when unavailable. n >= 3 * PIN_AUDIT_INSN_MAX always
 * suffices. */
void pin_audit_insn_hex(const struct pin_audit_record *r, char *buf, size_t n);

/* Format r as one log line (with the "pin: " prefix and a newline) into
 * buf; returns what snprintf returns. */
int pin_audit_format(const struct pin_audit_record *r, char *buf, size_t n);

#endif
