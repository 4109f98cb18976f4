/* snapshot.c: the stream format (docs/snapshot-format.md): the writer,
 * the reader (snap_parse), and save/load of a struct machine. */
#include "snapshot.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

#include "cpu/smm_smram.h"
#include "crc32c.h"
#include "machine/machine.h"
#include "machine/vmstate.h"
#include "snap_io.h"
#include "util/errbuf.h"

#define SNAP_LEVEL 1 /* zstd: speed first; zero pages are skipped anyway */
#define CHUNK_BYTES (SNAP_CHUNK_PAGES * SNAP_PAGE)
#define RAM_HDR 48  /* first page u64, pages u32, raw length u32, bitmap */
#define CPU_REC_VERSION 1u

static const char *sec_name(uint32_t id)
{
    switch (id) {
    case SNAP_SEC_CONFIG:  return "CONFIG";
    case SNAP_SEC_MACHINE: return "MACHINE";
    case SNAP_SEC_CPU:     return "CPU";
    case SNAP_SEC_PINS:    return "PINS";
    case SNAP_SEC_DEVICES: return "DEVICES";
    case SNAP_SEC_RAM:     return "RAM";
    case SNAP_SEC_END:     return "END";
    default:               return "unknown";
    }
}

static void le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t rd32(const uint8_t *p)
{
    return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t rd64(const uint8_t *p)
{
    return rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

/* ---- writer ---- */

static void put_section(struct snap_out *o, uint32_t id, const void *payload,
                        size_t len)
{
    uint8_t hdr[16], tail[4];
    le32(hdr, id);
    le32(hdr + 4, 1); /* every section is at version 1 */
    le64(hdr + 8, len);
    le32(tail, crc32c(crc32c(0, hdr, sizeof hdr), payload, len));
    snap_out_write(o, hdr, sizeof hdr);
    snap_out_write(o, payload, len);
    snap_out_write(o, tail, sizeof tail);
}

static void put_vm_section(struct snap_out *o, uint32_t id, struct vmstate *s,
                           int *nsec)
{
    if (!vmstate_ok(s) || s->len > SNAP_SECTION_MAX) {
        if (!o->error)
            o->error = 12; /* ENOMEM: reported as a write failure */
    } else {
        put_section(o, id, s->buf, s->len);
    }
    vmstate_free(s);
    (*nsec)++;
}

static void put_seg(struct vmstate *s, const struct seg *g)
{
    vmstate_put_u16(s, g->sel);
    vmstate_put_u16(s, g->attr);
    vmstate_put_u32(s, g->limit);
    vmstate_put_u64(s, g->base);
}

/* Every architectural field of struct cpu except the pins (their own
 * section) and derived state (mode, TLB, decoded blocks). */
static void put_cpu(struct vmstate *s, struct cpu *c)
{
    vmstate_put_u32(s, (uint32_t)c->cpu_index);
    for (int i = 0; i < 16; i++)
        vmstate_put_u64(s, c->regs[i]);
    vmstate_put_u64(s, c->rip);
    vmstate_put_u64(s, c->next_rip);
    vmstate_put_u32(s, cpu_get_eflags(c));
    for (int i = 0; i < S_NSEG; i++)
        put_seg(s, &c->seg[i]);
    vmstate_put_u64(s, c->gdtr.base);
    vmstate_put_u16(s, c->gdtr.limit);
    vmstate_put_u64(s, c->idtr.base);
    vmstate_put_u16(s, c->idtr.limit);
    const uint64_t crs[] = {c->cr0, c->cr2, c->cr3, c->cr4, c->cr8, c->efer};
    for (size_t i = 0; i < sizeof crs / sizeof crs[0]; i++)
        vmstate_put_u64(s, crs[i]);
    for (int i = 0; i < 8; i++)
        vmstate_put_u64(s, c->dr[i]);
    const uint64_t msrs[] = {c->star, c->lstar, c->cstar, c->fmask,
                             c->kernel_gs_base, c->tsc_aux, c->sysenter_cs,
                             c->sysenter_esp, c->sysenter_eip, c->apic_base,
                             c->pat, c->misc_enable, c->mtrr_def_type,
                             c->tsc_offset};
    for (size_t i = 0; i < sizeof msrs / sizeof msrs[0]; i++)
        vmstate_put_u64(s, msrs[i]);
    for (int i = 0; i < 11; i++)
        vmstate_put_u64(s, c->mtrr_fixed[i]);
    for (int i = 0; i < 16; i++)
        vmstate_put_u64(s, c->mtrr_var[i]);
    vmstate_put_u8(s, c->cr_pin_enabled);
    vmstate_put_u8(s, c->hv_sig_pinvm);
    vmstate_put_u8(s, c->in_smm);
    vmstate_put_u32(s, c->smbase);
    vmstate_put_u8(s, c->halted);
    vmstate_put_u8(s, c->intr_shadow);
    vmstate_put_u8(s, c->nmi_pending);
    vmstate_put_u8(s, c->nmi_blocked);
    vmstate_put_u8(s, c->smi_pending);
    vmstate_put_u8(s, c->shutdown);
    vmstate_put_u32(s, (uint32_t)c->fault_vec);
    vmstate_put_u32(s, (uint32_t)c->fault_err);
    vmstate_put_u32(s, (uint32_t)c->delivering);
    vmstate_put_u64(s, c->icount);
    vmstate_put_u32(s, c->cpuid_features_off);
    vmstate_put_u32(s, c->log_int_seq);
    vmstate_put_u64(s, c->fault_icount);
    vmstate_put_u64(s, c->smm_entry_cr0);
    vmstate_put_u64(s, c->smm_entry_cr4);
}

static bool page_zero(const uint8_t *p)
{
    const uint64_t *w = (const uint64_t *)p;
    /* 64-byte groups: a data page usually stops at the first group. */
    for (unsigned i = 0; i < SNAP_PAGE / 8; i += 8) {
        uint64_t acc = w[i] | w[i + 1] | w[i + 2] | w[i + 3] | w[i + 4] |
                       w[i + 5] | w[i + 6] | w[i + 7];
        if (acc)
            return false;
    }
    return true;
}

/* Is [ram, ram + size) one private anonymous mapping (/proc/self/maps:
 * "rw-p", inode 0, no path)? Only then does a page that was never
 * touched read as zero, and MADV_DONTNEED zero a page: the two shortcuts
 * below depend on it (machine.c maps RAM that way today). */
static bool ram_private_anon(const uint8_t *ram, uint64_t size)
{
    FILE *f = fopen("/proc/self/maps", "re");
    char line[512];
    bool ok = false;
    if (!f)
        return false;
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi, ino;
        char perms[8];
        int path = 0;
        if (sscanf(line, "%lx-%lx %7s %*s %*s %lu %n", &lo, &hi, perms, &ino, &path) < 4)
            continue;
        if ((uintptr_t)ram >= lo && (uintptr_t)ram < hi) {
            ok = (uintptr_t)ram + size <= hi && perms[3] == 'p' && ino == 0 &&
                 (!path || line[path] == '\0' || line[path] == '\n');
            break;
        }
    }
    fclose(f);
    return ok;
}

/* Which pages of the chunk at ram were never written: guest RAM is a
 * private anonymous mapping, so a page that is neither present nor
 * swapped (/proc/self/pagemap bits 63, 62) reads as zero and need not be
 * read at all: a mostly-zero 1 GiB guest is then skipped without a page
 * fault per page. Returns false (check every page) if pagemap is
 * unavailable. */
static bool untouched_pages(int pagemap, const uint8_t *ram, uint32_t n,
                            bool *untouched)
{
    uint64_t ent[SNAP_CHUNK_PAGES];
    off_t off = (off_t)((uintptr_t)ram / SNAP_PAGE * sizeof ent[0]);
    if (pagemap < 0 ||
        pread(pagemap, ent, n * sizeof ent[0], off) != (ssize_t)(n * sizeof ent[0]))
        return false;
    for (uint32_t i = 0; i < n; i++)
        untouched[i] = !(ent[i] >> 62);
    return true;
}

/* RAM in chunks of up to SNAP_CHUNK_PAGES pages; all-zero chunks are not
 * written at all, zero pages inside a chunk are a 0 in its bitmap. */
static int put_ram(struct snap_out *o, const struct machine *m,
                   struct snap_stats *st, int *nsec, uint64_t *nonzero,
                   char *err, size_t errlen)
{
    uint64_t pages = m->ram_size / SNAP_PAGE;
    size_t cap = RAM_HDR + ZSTD_compressBound(CHUNK_BYTES);
    uint8_t *raw = malloc(CHUNK_BYTES), *out = malloc(cap);
    ZSTD_CCtx *cctx = ZSTD_createCCtx();
    int pagemap = ram_private_anon(m->ram, m->ram_size)
                      ? open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC) : -1;
    bool untouched[SNAP_CHUNK_PAGES];
    int rc = 0;

    if (!raw || !out || !cctx) {
        rc = errbuf_fail(err, errlen, "out of memory");
        goto done;
    }
    for (uint64_t first = 0; first < pages && !o->error; first += SNAP_CHUNK_PAGES) {
        uint32_t n = pages - first < SNAP_CHUNK_PAGES ? (uint32_t)(pages - first)
                                                      : SNAP_CHUNK_PAGES;
        uint8_t *bitmap = out + 16;
        size_t rawlen = 0;
        memset(bitmap, 0, 32);
        if (!untouched_pages(pagemap, m->ram + first * SNAP_PAGE, n, untouched))
            memset(untouched, 0, sizeof untouched);
        for (uint32_t i = 0; i < n; i++) {
            if (untouched[i] || page_zero(m->ram + (first + i) * SNAP_PAGE)) {
                st->ram_duplicate++;
                continue;
            }
            bitmap[i / 8] |= (uint8_t)(1u << (i % 8));
            rawlen += SNAP_PAGE;
        }
        if (!rawlen)
            continue;
        /* A full chunk is compressed in place; else gather its pages. */
        const uint8_t *src = m->ram + first * SNAP_PAGE;
        if (rawlen != (size_t)n * SNAP_PAGE) {
            size_t k = 0;
            for (uint32_t i = 0; i < n; i++)
                if (bitmap[i / 8] >> (i % 8) & 1)
                    memcpy(raw + SNAP_PAGE * k++, src + (size_t)i * SNAP_PAGE, SNAP_PAGE);
            src = raw;
        }
        size_t clen = ZSTD_compressCCtx(cctx, out + RAM_HDR, cap - RAM_HDR,
                                        src, rawlen, SNAP_LEVEL);
        if (ZSTD_isError(clen)) {
            rc = errbuf_fail(err, errlen, "zstd: %s", ZSTD_getErrorName(clen));
            goto done;
        }
        le64(out, first);
        le32(out + 8, n);
        le32(out + 12, (uint32_t)rawlen);
        put_section(o, SNAP_SEC_RAM, out, RAM_HDR + clen);
        (*nsec)++;
        st->ram_normal += rawlen / SNAP_PAGE;
        *nonzero += rawlen / SNAP_PAGE;
    }
done:
    if (pagemap >= 0)
        close(pagemap);
    ZSTD_freeCCtx(cctx);
    free(raw);
    free(out);
    return rc;
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int snapshot_save(struct machine *m, const char *uri, struct snap_stats *st,
                  char *err, size_t errlen)
{
    struct snap_out o;
    struct vmstate s;
    uint8_t hdr[16];
    int nsec = 0;
    uint64_t nonzero = 0, t0 = now_ms();

    memset(st, 0, sizeof *st);
    st->ram_total = m->ram_size;
    if (m->cur_cpu >= 0)
        return errbuf_fail(err, errlen, "a vCPU is running: snapshots are taken between slices");
    if (snap_out_open(&o, uri, err, errlen) < 0)
        return -1;

    memcpy(hdr, SNAP_MAGIC, 8);
    le32(hdr + 8, SNAP_FORMAT_VERSION);
    le32(hdr + 12, crc32c(0, hdr, 12));
    snap_out_write(&o, hdr, sizeof hdr);

    vmstate_init(&s);
    vmstate_put_u64(&s, m->ram_size);
    vmstate_put_u32(&s, (uint32_t)m->ncpus);
    vmstate_put_u8(&s, m->cfg->cr_pin);
    vmstate_put_u8(&s, m->cfg->pinvm_sig);
    put_vm_section(&o, SNAP_SEC_CONFIG, &s, &nsec);

    vmstate_init(&s);
    vmstate_put_u64(&s, m->vclock);
    vmstate_put_u64(&s, m->resets);
    vmstate_put_u64(&s, m->icount_at_boot);
    vmstate_put_u8(&s, m->pic_offered);
    put_vm_section(&o, SNAP_SEC_MACHINE, &s, &nsec);

    vmstate_init(&s);
    vmstate_put_u32(&s, (uint32_t)m->ncpus);
    for (int i = 0; i < m->ncpus; i++)
        put_cpu(&s, m->cpus[i]);
    put_vm_section(&o, SNAP_SEC_CPU, &s, &nsec);

    vmstate_init(&s);
    vmstate_put_u32(&s, (uint32_t)m->ncpus);
    for (int i = 0; i < m->ncpus; i++) {
        vmstate_put_u32(&s, (uint32_t)i);
        vmstate_put_u64(&s, crpin_mask(&m->cpus[i]->pin, 0));
        vmstate_put_u64(&s, crpin_mask(&m->cpus[i]->pin, 4));
    }
    put_vm_section(&o, SNAP_SEC_PINS, &s, &nsec);

    vmstate_init(&s);
    machine_save_devices(m, &s);
    put_vm_section(&o, SNAP_SEC_DEVICES, &s, &nsec);

    if (put_ram(&o, m, st, &nsec, &nonzero, err, errlen) < 0) {
        snap_out_abort(&o);
        return -1;
    }

    uint8_t end[12];
    le32(end, (uint32_t)nsec);
    le64(end + 4, nonzero);
    put_section(&o, SNAP_SEC_END, end, sizeof end);

    st->transferred = o.written;
    if (snap_out_finish(&o, err, errlen) < 0)
        return -1;
    st->total_time_ms = now_ms() - t0;
    return 0;
}

/* ---- reader ---- */

static void get_seg(struct vmstate *s, struct seg *g)
{
    g->sel = vmstate_get_u16(s);
    g->attr = vmstate_get_u16(s);
    g->limit = vmstate_get_u32(s);
    g->base = vmstate_get_u64(s);
}

static int get_cpu(struct vmstate *s, struct cpu *c, int index, char *err,
                   size_t errlen)
{
    uint32_t idx = vmstate_get_u32(s);
    if (vmstate_ok(s) && idx != (uint32_t)index)
        return errbuf_fail(err, errlen, "CPU section: record %d is for vCPU %u", index, idx);
    for (int i = 0; i < 16; i++)
        c->regs[i] = vmstate_get_u64(s);
    c->rip = vmstate_get_u64(s);
    c->next_rip = vmstate_get_u64(s);
    cpu_set_eflags(c, vmstate_get_u32(s));
    for (int i = 0; i < S_NSEG; i++)
        get_seg(s, &c->seg[i]);
    c->gdtr.base = vmstate_get_u64(s);
    c->gdtr.limit = vmstate_get_u16(s);
    c->idtr.base = vmstate_get_u64(s);
    c->idtr.limit = vmstate_get_u16(s);
    uint64_t *crs[] = {&c->cr0, &c->cr2, &c->cr3, &c->cr4, &c->cr8, &c->efer};
    for (size_t i = 0; i < sizeof crs / sizeof crs[0]; i++)
        *crs[i] = vmstate_get_u64(s);
    for (int i = 0; i < 8; i++)
        c->dr[i] = vmstate_get_u64(s);
    uint64_t *msrs[] = {&c->star, &c->lstar, &c->cstar, &c->fmask,
                        &c->kernel_gs_base, &c->tsc_aux, &c->sysenter_cs,
                        &c->sysenter_esp, &c->sysenter_eip, &c->apic_base,
                        &c->pat, &c->misc_enable, &c->mtrr_def_type,
                        &c->tsc_offset};
    for (size_t i = 0; i < sizeof msrs / sizeof msrs[0]; i++)
        *msrs[i] = vmstate_get_u64(s);
    for (int i = 0; i < 11; i++)
        c->mtrr_fixed[i] = vmstate_get_u64(s);
    for (int i = 0; i < 16; i++)
        c->mtrr_var[i] = vmstate_get_u64(s);
    uint8_t pin_en = vmstate_get_u8(s), sig = vmstate_get_u8(s);
    uint8_t in_smm = vmstate_get_u8(s);
    c->smbase = vmstate_get_u32(s);
    uint8_t b[6];
    for (int i = 0; i < 6; i++)
        b[i] = vmstate_get_u8(s);
    int32_t fvec = (int32_t)vmstate_get_u32(s);
    int32_t ferr = (int32_t)vmstate_get_u32(s);
    int32_t deliv = (int32_t)vmstate_get_u32(s);
    c->icount = vmstate_get_u64(s);
    c->cpuid_features_off = vmstate_get_u32(s);
    c->log_int_seq = vmstate_get_u32(s);
    c->fault_icount = vmstate_get_u64(s);
    /* RSM checks the pinned bits it restores against these. */
    c->smm_entry_cr0 = vmstate_get_u64(s);
    c->smm_entry_cr4 = vmstate_get_u64(s);
    if (!vmstate_ok(s))
        return errbuf_fail(err, errlen, "CPU section: record of vCPU %d truncated", index);
    for (int i = 0; i < 6; i++)
        if (b[i] > 1)
            return errbuf_fail(err, errlen, "CPU section: vCPU %d: invalid flag byte", index);
    if (pin_en > 1 || sig > 1 || in_smm > 1)
        return errbuf_fail(err, errlen, "CPU section: vCPU %d: invalid flag byte", index);
    /* RSM never lets SMBASE leave SMRAM; neither may a snapshot. */
    if (c->smbase < SMRAM_BASE - SMM_ENTRY_OFF ||
        c->smbase > SMRAM_END - 2 * SMM_ENTRY_OFF)
        return errbuf_fail(err, errlen, "CPU section: vCPU %d: SMBASE 0x%x outside SMRAM", index,
                    c->smbase);
    if (fvec < -1 || fvec > 31 || deliv < -1 || deliv > 255 ||
        (ferr < 0 && ferr != CPU_NOERR))
        return errbuf_fail(err, errlen, "CPU section: vCPU %d: invalid pending exception", index);
    /* States no CPU can be in (the MOV-to-CR checks would have refused
     * them): a forged snapshot must not hand the interpreter one. */
    if ((c->cr0 | c->cr4) >> 32 || ((c->cr0 & CR0_PG) && !(c->cr0 & CR0_PE)) ||
        ((c->cr0 & CR0_NW) && !(c->cr0 & CR0_CD)) || c->cr8 > 15 ||
        ((c->efer & EFER_LMA) &&
         (!(c->efer & EFER_LME) || !(c->cr0 & CR0_PG) || !(c->cr4 & CR4_PAE))) ||
        (cpu_get_eflags(c) & F_VM))
        return errbuf_fail(err, errlen, "CPU section: vCPU %d: impossible control state (cr0=0x%llx cr4=0x%llx efer=0x%llx)",
                    index, (unsigned long long)c->cr0, (unsigned long long)c->cr4,
                    (unsigned long long)c->efer);
    c->cr_pin_enabled = pin_en;
    c->hv_sig_pinvm = sig;
    c->in_smm = in_smm;
    c->halted = b[0];
    c->intr_shadow = b[1];
    c->nmi_pending = b[2];
    c->nmi_blocked = b[3];
    c->smi_pending = b[4];
    c->shutdown = b[5];
    c->fault_vec = fvec;
    c->fault_err = ferr;
    c->delivering = deliv;
    return 0;
}

/* A section's payload has been read and its checksum verified. */
static int load_section(struct snap_target *t, uint32_t id, const uint8_t *p,
                        size_t len, uint8_t *scratch, ZSTD_DCtx *dctx,
                        uint64_t *next_page, char *err, size_t errlen)
{
    struct vmstate s;
    vmstate_init_reader(&s, p, len);
    switch (id) {
    case SNAP_SEC_CONFIG: {
        uint64_t ram = vmstate_get_u64(&s);
        uint32_t ncpus = vmstate_get_u32(&s);
        uint8_t pin = vmstate_get_u8(&s), sig = vmstate_get_u8(&s);
        if (!vmstate_ok(&s) || s.pos != len)
            return errbuf_fail(err, errlen, "CONFIG section: length %zu, expected 14", len);
        if (ram != t->ram_size)
            return errbuf_fail(err, errlen, "machine mismatch: the snapshot has %llu MiB of RAM (-m %lluM), this machine %llu MiB",
                        (unsigned long long)(ram >> 20), (unsigned long long)(ram >> 20),
                        (unsigned long long)(t->ram_size >> 20));
        if (ncpus != (uint32_t)t->ncpus)
            return errbuf_fail(err, errlen, "machine mismatch: the snapshot has %u vCPUs (-smp %u), this machine %d",
                        ncpus, ncpus, t->ncpus);
        if (pin != t->cr_pin || sig != t->pinvm_sig)
            return errbuf_fail(err, errlen, "machine mismatch: the snapshot's -cpu options (cr-pin=%s, pinvm-sig=%s) differ from this machine's",
                        pin ? "on" : "off", sig ? "on" : "off");
        return 0;
    }
    case SNAP_SEC_MACHINE:
        t->vclock = vmstate_get_u64(&s);
        t->resets = vmstate_get_u64(&s);
        t->icount_at_boot = vmstate_get_u64(&s);
        t->pic_offered = vmstate_get_u8(&s);
        if (!vmstate_ok(&s) || s.pos != len)
            return errbuf_fail(err, errlen, "MACHINE section: bad length %zu", len);
        return 0;
    case SNAP_SEC_CPU: {
        uint32_t n = vmstate_get_u32(&s);
        if (!vmstate_ok(&s) || n != (uint32_t)t->ncpus)
            return errbuf_fail(err, errlen, "CPU section: %u vCPU records for %d vCPUs", n, t->ncpus);
        for (int i = 0; i < t->ncpus; i++)
            if (get_cpu(&s, t->cpus[i], i, err, errlen) < 0)
                return -1;
        if (s.pos != len)
            return errbuf_fail(err, errlen, "CPU section: %zu bytes of trailing data", len - s.pos);
        return 0;
    }
    case SNAP_SEC_PINS: {
        uint32_t n = vmstate_get_u32(&s);
        if (!vmstate_ok(&s) || n != (uint32_t)t->ncpus || len != 4 + 20ull * n)
            return errbuf_fail(err, errlen, "PINS section: malformed (%zu bytes for %d vCPUs)", len, t->ncpus);
        for (int i = 0; i < t->ncpus; i++) {
            uint32_t idx = vmstate_get_u32(&s);
            uint64_t cr0 = vmstate_get_u64(&s), cr4 = vmstate_get_u64(&s);
            struct crpin *pin = &t->cpus[i]->pin;
            if (idx != (uint32_t)i)
                return errbuf_fail(err, errlen, "PINS section: record %d is for vCPU %u", i, idx);
            if ((cr0 || cr4) && !t->cr_pin)
                return errbuf_fail(err, errlen, "PINS section: vCPU %d has pins but this machine has -cpu ...,-cr-pin", i);
            if (crpin_msr_write(pin, MSR_KVM_CR0_PINNED, CRPIN_HOST, cr0) != CRPIN_OK ||
                crpin_msr_write(pin, MSR_KVM_CR4_PINNED, CRPIN_HOST, cr4) != CRPIN_OK)
                return errbuf_fail(err, errlen, "PINS section: vCPU %d: pinned bits cr0=0x%llx cr4=0x%llx outside the pinnable set",
                            i, (unsigned long long)cr0, (unsigned long long)cr4);
        }
        return 0;
    }
    case SNAP_SEC_DEVICES:
        t->devices = malloc(len ? len : 1);
        if (!t->devices)
            return errbuf_fail(err, errlen, "out of memory");
        memcpy(t->devices, p, len);
        t->devices_len = len;
        return 0;
    case SNAP_SEC_RAM: {
        uint64_t pages = t->ram_size / SNAP_PAGE;
        if (len < RAM_HDR)
            return errbuf_fail(err, errlen, "RAM section: %zu bytes, shorter than its header", len);
        uint64_t first = rd64(p);
        uint32_t n = rd32(p + 8), rawlen = rd32(p + 12);
        const uint8_t *bitmap = p + 16;
        if (n == 0 || n > SNAP_CHUNK_PAGES || first > pages || n > pages - first)
            return errbuf_fail(err, errlen, "RAM section: pages %llu+%u outside RAM (%llu pages)",
                        (unsigned long long)first, n, (unsigned long long)pages);
        if (first < *next_page)
            return errbuf_fail(err, errlen, "RAM section: page %llu out of order", (unsigned long long)first);
        uint32_t present = 0;
        for (uint32_t i = 0; i < SNAP_CHUNK_PAGES; i++) {
            bool bit = bitmap[i / 8] >> (i % 8) & 1;
            if (bit && i >= n)
                return errbuf_fail(err, errlen, "RAM section: bitmap bit %u beyond its %u pages", i, n);
            present += bit;
        }
        if (!present || rawlen != present * SNAP_PAGE)
            return errbuf_fail(err, errlen, "RAM section: %u bytes for %u pages", rawlen, present);
        /* A full chunk is decompressed in place: dst capacity is rawlen,
         * exactly the chunk's n pages inside RAM (checked above). */
        bool full = present == n;
        uint8_t *dst = full ? t->ram + first * SNAP_PAGE : scratch;
        size_t got = ZSTD_decompressDCtx(dctx, dst, rawlen, p + RAM_HDR, len - RAM_HDR);
        if (ZSTD_isError(got) || got != rawlen)
            return errbuf_fail(err, errlen, "RAM section at page %llu: bad compressed data (%s)",
                        (unsigned long long)first,
                        ZSTD_isError(got) ? ZSTD_getErrorName(got) : "wrong size");
        const uint8_t *src = scratch;
        for (uint32_t i = 0; !full && i < n; i++) {
            if (bitmap[i / 8] >> (i % 8) & 1) {
                memcpy(t->ram + (first + i) * SNAP_PAGE, src, SNAP_PAGE);
                src += SNAP_PAGE;
            }
        }
        t->ram_pages += present;
        *next_page = first + n;
        return 0;
    }
    default:
        return errbuf_fail(err, errlen, "unknown section id 0x%x", id);
    }
}

static int truncated(struct snap_in *in, int e, const char *what, char *err,
                     size_t errlen)
{
    return errbuf_fail(err, errlen, "truncated: the stream ends (%s) at byte %llu, in %s",
                e ? strerror(e) : "EOF", (unsigned long long)in->consumed, what);
}

int snap_parse(struct snap_in *in, struct snap_target *t, char *err,
               size_t errlen)
{
    uint8_t hdr[16];
    uint8_t *buf = NULL, *scratch = NULL;
    size_t bufcap = 0;
    uint32_t seen = 0; /* bit per section id (1..6) */
    uint32_t nsec = 0;
    uint64_t next_page = 0;
    int e, rc = -1;
    ZSTD_DCtx *dctx = NULL;

    t->devices = NULL;
    t->devices_len = 0;
    t->ram_pages = 0;
    for (int i = 0; i < t->ncpus; i++)
        crpin_reset(&t->cpus[i]->pin); /* never keep pins from elsewhere */

    int r = snap_in_read(in, hdr, 16, &e);
    if (r != 0)
        return r == 1 ? errbuf_fail(err, errlen, "empty: not a pinvm snapshot")
                      : truncated(in, e, "the header", err, errlen);
    if (memcmp(hdr, SNAP_MAGIC, 8))
        return errbuf_fail(err, errlen, "not a pinvm snapshot (bad magic)");
    if (rd32(hdr + 8) != SNAP_FORMAT_VERSION)
        return errbuf_fail(err, errlen, "snapshot format version %u is not supported (this pinvm reads version %u)",
                    rd32(hdr + 8), SNAP_FORMAT_VERSION);
    if (rd32(hdr + 12) != crc32c(0, hdr, 12))
        return errbuf_fail(err, errlen, "header checksum mismatch: the file is corrupt");

    for (;;) {
        uint64_t off = in->consumed;
        r = snap_in_read(in, hdr, 16, &e);
        if (r != 0) {
            truncated(in, e, "a section header (no END section)", err, errlen);
            goto out;
        }
        uint32_t id = rd32(hdr), ver = rd32(hdr + 4);
        uint64_t len = rd64(hdr + 8);
        if (len > SNAP_SECTION_MAX) {
            errbuf_fail(err, errlen, "section %s (id 0x%x) at byte %llu: length %llu is over the limit (corrupt?)",
                 sec_name(id), id, (unsigned long long)off, (unsigned long long)len);
            goto out;
        }
        /* A memory source says now whether the bytes exist (the fuzzer
         * must not make us allocate for data that is not there). */
        if (in->fd < 0 && len + 4 > in->memlen - in->mempos) {
            in->consumed += in->memlen - in->mempos;
            truncated(in, 0, sec_name(id), err, errlen);
            goto out;
        }
        if (len + 4 > bufcap) {
            uint8_t *nb = realloc(buf, len + 4);
            if (!nb) {
                errbuf_fail(err, errlen, "out of memory");
                goto out;
            }
            buf = nb;
            bufcap = len + 4;
        }
        if (snap_in_read(in, buf, len + 4, &e) != 0) {
            truncated(in, e, sec_name(id), err, errlen);
            goto out;
        }
        if (rd32(buf + len) != crc32c(crc32c(0, hdr, 16), buf, len)) {
            errbuf_fail(err, errlen, "section %s at byte %llu: checksum mismatch: the snapshot is corrupt",
                 sec_name(id), (unsigned long long)off);
            goto out;
        }
        if (!strcmp(sec_name(id), "unknown")) {
            errbuf_fail(err, errlen, "section id 0x%x at byte %llu is unknown to this pinvm",
                 id, (unsigned long long)off);
            goto out;
        }
        if (ver != 1) {
            errbuf_fail(err, errlen, "section %s: version %u is not supported (this pinvm reads version 1)",
                 sec_name(id), ver);
            goto out;
        }
        if (nsec == 0 && id != SNAP_SEC_CONFIG) {
            errbuf_fail(err, errlen, "the first section is %s, expected CONFIG", sec_name(id));
            goto out;
        }
        if (id == SNAP_SEC_END)
            break;
        nsec++;
        if (id != SNAP_SEC_RAM) {
            if (seen & (1u << id)) {
                errbuf_fail(err, errlen, "section %s appears twice", sec_name(id));
                goto out;
            }
            seen |= 1u << id;
        }
        if (id == SNAP_SEC_RAM && !dctx) { /* on first use: most streams the
                                              fuzzer makes have no RAM */
            scratch = malloc(CHUNK_BYTES);
            dctx = ZSTD_createDCtx();
            if (!scratch || !dctx) {
                errbuf_fail(err, errlen, "out of memory");
                goto out;
            }
        }
        if (load_section(t, id, buf, len, scratch, dctx, &next_page, err, errlen) < 0)
            goto out;
    }
    /* The END section: the pins first, the reason this format exists. */
    if (!(seen & (1u << SNAP_SEC_PINS))) {
        errbuf_fail(err, errlen, "the snapshot has no PINS section: refusing to run a guest that would lose its CR pins");
        goto out;
    }
    for (uint32_t id = SNAP_SEC_CONFIG; id <= SNAP_SEC_DEVICES; id++) {
        if (!(seen & (1u << id))) {
            errbuf_fail(err, errlen, "the snapshot has no %s section", sec_name(id));
            goto out;
        }
    }
    if (rd64(hdr + 8) != 12 || rd32(buf) != nsec || rd64(buf + 4) != t->ram_pages) {
        errbuf_fail(err, errlen, "END section: %u sections and %llu RAM pages announced, %u and %llu read",
             rd64(hdr + 8) == 12 ? rd32(buf) : 0,
             (unsigned long long)(rd64(hdr + 8) == 12 ? rd64(buf + 4) : 0), nsec,
             (unsigned long long)t->ram_pages);
        goto out;
    }
    uint8_t extra;
    r = snap_in_read(in, &extra, 1, &e);
    if (r == 0) {
        errbuf_fail(err, errlen, "data after the END section (at byte %llu)",
             (unsigned long long)(in->consumed - 1));
        goto out;
    }
    if (r < 0) {
        errbuf_fail(err, errlen, "read error after the END section: %s", strerror(e));
        goto out;
    }
    rc = 0;
out:
    if (rc < 0) {
        free(t->devices);
        t->devices = NULL;
    }
    ZSTD_freeDCtx(dctx);
    free(scratch);
    free(buf);
    return rc;
}

int snapshot_load(struct machine *m, const char *uri, char *err, size_t errlen)
{
    struct snap_in in;
    char msg[400];
    struct snap_target t = {
        .ram_size = m->ram_size,
        .ncpus = m->ncpus,
        .cr_pin = m->cfg->cr_pin,
        .pinvm_sig = m->cfg->pinvm_sig,
        .ram = m->ram,
        .cpus = m->cpus,
    };

    if (snap_in_open(&in, uri, err, errlen) < 0)
        return -1;
    /* Zero pages are not in the stream: the boot image must go. RAM is
     * a private anonymous mapping, so dropping it reads back as zeros. */
    if (!ram_private_anon(m->ram, m->ram_size) ||
        madvise(m->ram, m->ram_size, MADV_DONTNEED) < 0)
        memset(m->ram, 0, m->ram_size);
    int rc = snap_parse(&in, &t, msg, sizeof msg);
    if (rc < 0) {
        snap_in_close(&in);
        return errbuf_fail(err, errlen, "%s: %s", uri, msg);
    }

    struct vmstate s;
    vmstate_init_reader(&s, t.devices, t.devices_len);
    rc = machine_load_devices(m, &s, msg, sizeof msg);
    if (rc == 0 && s.pos != s.len) {
        snprintf(msg, sizeof msg, "%zu bytes of device state left over", s.len - s.pos);
        rc = -1;
    }
    free(t.devices);
    if (rc < 0) {
        snap_in_close(&in);
        return errbuf_fail(err, errlen, "%s: DEVICES section: %s", uri, msg);
    }
    snap_in_ack(&in); /* the sender may now report "completed" */
    snap_in_close(&in);

    m->vclock = t.vclock;
    m->resets = t.resets;
    m->icount_at_boot = t.icount_at_boot;
    m->pic_offered = t.pic_offered;
    m->req = (struct sysreq){0};
    m->cur_cpu = -1;
    memset(m->code_pages, 0, m->ram_size / SNAP_PAGE);
    for (int i = 0; i < m->ncpus; i++) {
        m->cpus[i]->exit_request = 0;
        cpu_state_changed(m->cpus[i]);
    }
    return 0;
}
