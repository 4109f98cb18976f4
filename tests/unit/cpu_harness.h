/* cpu_harness.h: run guest code on a bare struct cpu in unit tests.
 *
 *   struct harness h;
 *   h_init(&h, H_LONG);                    // or H_REAL, H_PROT32
 *   h_load(&h, code, len);                 // code at H_CODE, must end in HLT
 *   h.c.regs[R_RAX] = 5;                   // set up state
 *   h_run(&h);                             // until HLT
 *   CHECK_EQ(h.c.regs[R_RAX], 6);
 *   CHECK_EQ(h_vector(&h), H_NOVEC);       // no exception was taken
 *   h_free(&h);
 *
 * Guest code is easiest written with GUEST_ASM() below (the host assembler
 * in .code16/.code32/.code64), or as byte arrays. Layout of the 4 MiB RAM:
 *
 *   0x00000  real-mode IVT            0x00500  H_VECTOR: last vector taken
 *   0x01000  GDT                      0x02000  IDT (protected / long mode)
 *   0x03000  PML4, 0x4000 PDPT, 0x5000 PD (2 MiB pages, 0-4 MiB, U/S=1)
 *   0x08000  one 16-byte stub per vector: "mov byte [H_VECTOR], v; hlt"
 *   0x07f00  real-mode stack top      0x0f000  stack top (32/64-bit)
 *   0x10000  H_CODE: the code under test
 *   0x100000 H_DATA: free for test data
 *
 * An exception is delivered through the IDT/IVT (core-sys) to its stub,
 * which records the vector and halts: h_vector() then returns it and
 * h_frame() reads the exception frame (the faulting IP is at h_frame(h,
 * has_error_code ? 1 : 0)). */
#ifndef PINVM_CPU_HARNESS_H
#define PINVM_CPU_HARNESS_H

#include <stdlib.h>
#include <string.h>

#include "cpu/cpu.h"
#include "cpu/decode.h"

#define H_RAM_SIZE (4u << 20)
#define H_VECTOR 0x500
#define H_GDT 0x1000
#define H_IDT 0x2000
#define H_PML4 0x3000
#define H_STUBS 0x8000
#define H_STACK16 0x7f00
#define H_STACK 0xf000
#define H_CODE 0x10000
#define H_DATA 0x100000
#define H_NOVEC 0xff

enum { H_REAL, H_PROT32, H_LONG };

/* Guest code assembled by the host assembler into .rodata:
 *   GUEST_ASM(add_test, ".code64", "add %ebx, %eax\n hlt");
 *   h_load(&h, add_test, GUEST_LEN(add_test));  */
#define GUEST_ASM(name, mode, text)                                       \
    extern const uint8_t name[], name##_end[];                            \
    __asm__(".pushsection .rodata\n" #name ":\n" mode "\n" text           \
            "\n.code64\n" #name "_end:\n.popsection\n")
#define GUEST_LEN(name) ((size_t)(name##_end - name))

struct harness {
    struct cpu c;
    uint8_t *ram;
    uint8_t *code_pages;
    struct cpu_bus bus;
    struct pv_log log;
    int mode;
    /* port I/O seen by the stub bus */
    uint16_t last_out_port;
    uint32_t last_out_val;
};

static uint32_t h_io_in(void *o, struct cpu *c, uint16_t port, int size)
{
    (void)o; (void)c; (void)port; (void)size;
    return 0xffffffffu;
}

static void h_io_out(void *o, struct cpu *c, uint16_t port, int size,
                     uint32_t val)
{
    struct harness *h = o;
    (void)c; (void)size;
    h->last_out_port = port;
    h->last_out_val = val;
}

static uint64_t h_mmio_read(void *o, struct cpu *c, uint64_t pa, int size)
{
    (void)o; (void)c; (void)pa; (void)size;
    return ~0ull;
}

static void h_mmio_write(void *o, struct cpu *c, uint64_t pa, int size,
                         uint64_t v)
{
    (void)o; (void)c; (void)pa; (void)size; (void)v;
}

static inline void h_w8(struct harness *h, uint64_t pa, uint8_t v) { h->ram[pa] = v; }
static inline void h_w16(struct harness *h, uint64_t pa, uint16_t v) { memcpy(h->ram + pa, &v, 2); }
static inline void h_w32(struct harness *h, uint64_t pa, uint32_t v) { memcpy(h->ram + pa, &v, 4); }
static inline void h_w64(struct harness *h, uint64_t pa, uint64_t v) { memcpy(h->ram + pa, &v, 8); }
static inline uint8_t h_r8(struct harness *h, uint64_t pa) { return h->ram[pa]; }
static inline uint16_t h_r16(struct harness *h, uint64_t pa) { uint16_t v; memcpy(&v, h->ram + pa, 2); return v; }
static inline uint32_t h_r32(struct harness *h, uint64_t pa) { uint32_t v; memcpy(&v, h->ram + pa, 4); return v; }
static inline uint64_t h_r64(struct harness *h, uint64_t pa) { uint64_t v; memcpy(&v, h->ram + pa, 8); return v; }

static inline void h_seg(struct cpu *c, int s, uint16_t sel, uint64_t base,
                         uint32_t limit, uint16_t attr)
{
    c->seg[s].sel = sel;
    c->seg[s].base = base;
    c->seg[s].limit = limit;
    c->seg[s].attr = attr;
}

/* Exception stubs: mov byte [H_VECTOR], v ; hlt, encoded per mode. */
static inline void h_write_stubs(struct harness *h)
{
    for (int v = 0; v < 256; v++) {
        uint8_t *p = h->ram + H_STUBS + v * 16;
        if (h->mode == H_REAL) {        /* c6 06 disp16 ib */
            const uint8_t s[] = { 0xc6, 0x06, 0x00, 0x05, (uint8_t)v, 0xf4 };
            memcpy(p, s, sizeof(s));
        } else if (h->mode == H_PROT32) { /* c6 05 disp32 ib */
            const uint8_t s[] = { 0xc6, 0x05, 0x00, 0x05, 0, 0, (uint8_t)v, 0xf4 };
            memcpy(p, s, sizeof(s));
        } else {                        /* c6 04 25 disp32 ib */
            const uint8_t s[] = { 0xc6, 0x04, 0x25, 0x00, 0x05, 0, 0, (uint8_t)v, 0xf4 };
            memcpy(p, s, sizeof(s));
        }
    }
}

static inline void h_init(struct harness *h, int mode)
{
    memset(h, 0, sizeof(*h));
    h->ram = calloc(1, H_RAM_SIZE);
    h->code_pages = calloc(H_RAM_SIZE >> 12, 1);
    h->mode = mode;
    h->bus.opaque = h;
    h->bus.io_in = h_io_in;
    h->bus.io_out = h_io_out;
    h->bus.mmio_read = h_mmio_read;
    h->bus.mmio_write = h_mmio_write;
    h->log.mask = 0;
    h->log.out = stderr;
    if (!h->ram || !h->code_pages ||
        cpu_init(&h->c, 0, h->ram, H_RAM_SIZE, h->code_pages, &h->bus, &h->log)) {
        fprintf(stderr, "harness: out of memory\n");
        exit(2);
    }
    struct cpu *c = &h->c;
    cpu_reset(c);
    h->ram[H_VECTOR] = H_NOVEC;
    h_write_stubs(h);

    /* GDT: null, code32, data, code64 */
    h_w64(h, H_GDT + 0x08, 0x00cf9b000000ffffull);
    h_w64(h, H_GDT + 0x10, 0x00cf93000000ffffull);
    h_w64(h, H_GDT + 0x18, 0x00af9b000000ffffull);
    c->gdtr.base = H_GDT;
    c->gdtr.limit = 0x1f;

    if (mode == H_REAL) {
        for (int v = 0; v < 256; v++)
            h_w32(h, (uint64_t)v * 4, H_STUBS + v * 16); /* 0000:stub */
        c->idtr.base = 0;
        c->idtr.limit = 0x3ff;
        c->cr0 = CR0_ET;
        for (int s = 0; s < 6; s++)
            h_seg(c, s, 0, 0, 0xffff, 0x93);
        h_seg(c, S_CS, H_CODE >> 4, H_CODE, 0xffff, 0x9b);
        c->regs[R_RSP] = H_STACK16;
        c->rip = 0;
        c->mode = MODE_REAL;
        c->code_size = c->stack_size = 2;
    } else if (mode == H_PROT32) {
        for (int v = 0; v < 256; v++) {
            uint32_t off = H_STUBS + v * 16;
            h_w64(h, H_IDT + (uint64_t)v * 8,
                  (uint64_t)(off & 0xffff) | 0x08ull << 16 | 0x8e00ull << 32 |
                  (uint64_t)(off >> 16) << 48);
        }
        c->idtr.base = H_IDT;
        c->idtr.limit = 256 * 8 - 1;
        c->cr0 = CR0_PE | CR0_ET;
        for (int s = 0; s < 6; s++)
            h_seg(c, s, 0x10, 0, 0xffffffff, 0xc093);
        h_seg(c, S_CS, 0x08, 0, 0xffffffff, 0xc09b);
        c->regs[R_RSP] = H_STACK;
        c->rip = H_CODE;
        c->mode = MODE_PROT;
        c->code_size = c->stack_size = 4;
    } else {
        for (int v = 0; v < 256; v++) {
            uint64_t off = H_STUBS + (uint64_t)v * 16, g = H_IDT + (uint64_t)v * 16;
            h_w64(h, g, (off & 0xffff) | 0x18ull << 16 | 0x8e00ull << 32 |
                        ((off >> 16) & 0xffff) << 48);
            h_w64(h, g + 8, off >> 32);
        }
        c->idtr.base = H_IDT;
        c->idtr.limit = 256 * 16 - 1;
        h_w64(h, H_PML4, 0x4000 | 7);
        h_w64(h, 0x4000, 0x5000 | 7);
        h_w64(h, 0x5000, 0x000000 | 0x87);
        h_w64(h, 0x5008, 0x200000 | 0x87);
        c->cr3 = H_PML4;
        c->cr4 = CR4_PAE;
        c->efer = EFER_LME | EFER_LMA | EFER_NXE;
        c->cr0 = CR0_PE | CR0_ET | CR0_PG;
        for (int s = 0; s < 6; s++)
            h_seg(c, s, 0x10, 0, 0xffffffff, 0xc093);
        h_seg(c, S_CS, 0x18, 0, 0xffffffff, 0xa09b);
        c->regs[R_RSP] = H_STACK;
        c->rip = H_CODE;
        c->mode = MODE_LONG;
        c->code_size = c->stack_size = 8;
    }
    h_seg(c, S_TR, 0, 0, 0xffff, 0x8b);
    h_seg(c, S_LDTR, 0, 0, 0xffff, 0x82);
    cpu_set_eflags(c, 2);
    c->cpl = 0;
    cpu_state_changed(c);
}

static inline void h_load(struct harness *h, const void *code, size_t len)
{
    memcpy(h->ram + H_CODE, code, len);
    icache_flush(&h->c);
}

/* Address of code offset off as the guest's IP. */
static inline uint64_t h_ip(const struct harness *h, uint64_t off)
{
    return h->mode == H_REAL ? off : H_CODE + off;
}

/* Run until HLT (or shutdown, or budget insns). */
static inline enum cpu_exit h_run_n(struct harness *h, uint64_t budget)
{
    return cpu_run(&h->c, budget);
}

static inline enum cpu_exit h_run(struct harness *h)
{
    return h_run_n(h, 1000000);
}

static inline int h_vector(struct harness *h)
{
    return h->ram[H_VECTOR];
}

/* k-th stack slot of the exception frame (0 = error code or IP). */
static inline uint64_t h_frame(struct harness *h, int k)
{
    uint64_t sp = h->c.regs[R_RSP];
    if (h->mode == H_REAL)
        return h_r16(h, h->c.seg[S_SS].base + (sp & 0xffff) + 2u * k);
    if (h->mode == H_PROT32)
        return h_r32(h, (uint32_t)sp + 4u * k);
    return h_r64(h, sp + 8u * k);
}

static inline uint32_t h_flags(struct harness *h)
{
    return cpu_get_eflags(&h->c);
}

static inline void h_free(struct harness *h)
{
    cpu_destroy(&h->c);
    free(h->ram);
    free(h->code_pages);
}

#endif
