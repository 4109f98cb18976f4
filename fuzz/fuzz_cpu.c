/* fuzz_cpu.c: libFuzzer harness for raw guest code.
 *
 * The invariant: whatever the bytes, pinvm never crashes, hangs, or reads
 * or writes host memory outside guest RAM (ASan checks the last part); the
 * worst a guest can do is triple-fault itself.
 *
 * Input layout:
 *   [0]        mode: bits 0-1 real/prot32/long, bit 2 CPL3 (not real mode)
 *   [1..64]    XORed into RAX..RDI (8 bytes each)
 *   [65..96]   16 patches (offset byte, value byte) into the system
 *              structures: GDT, IDT, page tables (so descriptor and paging
 *              checks see hostile entries too)
 *   [97..]     guest code at H_CODE
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cpu_harness.h"

#define HDR 97

/* User segments for CPL3 runs: 0x20 data (DPL3), 0x28 64-bit code, 0x30
 * 32-bit code, and a TSS at 0x38 whose RSP0 points at the kernel stack. */
static void make_user(struct harness *h)
{
    struct cpu *c = &h->c;
    h_w64(h, H_GDT + 0x20, 0x00cff3000000ffffull);
    h_w64(h, H_GDT + 0x28, 0x00affb000000ffffull);
    h_w64(h, H_GDT + 0x30, 0x00cffb000000ffffull);
    c->gdtr.limit = 0x47;
    uint64_t tss = H_DATA;
    h_w64(h, H_GDT + 0x38, 0x0000890000000067ull | (tss & 0xffffff) << 16);
    h_w64(h, tss + 4, H_STACK);  /* RSP0 (64-bit TSS) */
    h_w32(h, tss + 4, H_STACK);  /* ESP0 (32-bit TSS) ... */
    h_w16(h, tss + 8, 0x10);     /* ... and SS0 */
    h_seg(c, S_TR, 0x38, tss, 0x67, 0x8b);
    if (h->mode == H_LONG)
        h_seg(c, S_CS, 0x2b, 0, 0xffffffff, 0xa0fb);
    else
        h_seg(c, S_CS, 0x33, 0, 0xffffffff, 0xc0fb);
    for (int s = 0; s < 6; s++)
        if (s != S_CS)
            h_seg(c, s, 0x23, 0, 0xffffffff, 0xc0f3);
    c->regs[R_RSP] = H_DATA + 0x10000;
    c->cpl = 3;
    cpu_state_changed(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct harness h;
    if (size < HDR + 1)
        return 0;
    int mode = data[0] & 3;
    if (mode > H_LONG)
        mode = H_LONG;
    h_init(&h, mode);
    if ((data[0] & 4) && mode != H_REAL)
        make_user(&h);
    for (int r = 0; r < 8; r++) {
        uint64_t v;
        memcpy(&v, data + 1 + 8 * r, 8);
        if (r != R_RSP)
            h.c.regs[r] ^= v;
    }
    static const uint32_t areas[4] = { H_GDT, H_IDT, H_PML4, 0x5000 };
    for (int k = 0; k < 16; k++) {
        uint8_t off = data[65 + 2 * k], val = data[66 + 2 * k];
        h.ram[areas[k & 3] + off] = val;
    }
    size_t n = size - HDR;
    if (n > 0x10000)
        n = 0x10000;
    h_load(&h, data + HDR, n);
    /* Bounded: a few slices, stop at HLT or shutdown. */
    for (int slice = 0; slice < 4; slice++) {
        enum cpu_exit e = cpu_run(&h.c, 4000);
        if (e == CPU_EXIT_HLT || e == CPU_EXIT_SHUTDOWN)
            break;
    }
    h_free(&h);
    return 0;
}
