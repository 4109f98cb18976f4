/* fuzz_cpu.c: libFuzzer harness for raw guest code.
 *
 * The invariant: whatever the bytes, pinvm never crashes, hangs, or reads
 * or writes host memory outside guest RAM (ASan checks the last part); the
 * worst a guest can do is triple-fault itself.
 *
 * A second invariant, checked here: with WP/SMEP/SMAP/UMIP pinned (mode
 * bit 3), no instruction stream changes a pinned bit of CR0 or CR4 (outside
 * SMM, and unless the CPU was reset, which clears the pins): a violation
 * aborts, so libFuzzer reports it as a crash.
 *
 * Input layout:
 *   [0]        mode: bits 0-1 real/prot32/long/compat (IA-32e with a 32-bit
 *              CS), bit 2 CPL3 (not real mode), bit 3 pin CR0.WP and
 *              CR4.SMEP/SMAP/UMIP (WP and UMIP set; SMEP/SMAP set at CPL0
 *              with supervisor pages, else pinned clear), bit 4 paging in
 *              prot32 (4 MiB pages), bit 5 with bit 4: PAE paging
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
#include "pin/crpin.h"

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
    if (size < HDR + 1)
        return 0;
    int mode = data[0] & 3;
    if (mode > H_LONG)
        mode = H_LONG;
    /* One harness per mode, built once; each run starts from a copy of its
     * pristine RAM and CPU state (a fresh h_init per run spends nearly all
     * the time zeroing memory). */
    static struct harness hs[3];
    static struct cpu pristine_cpu[3];
    static uint8_t *pristine_ram[3];
    if (!pristine_ram[mode]) {
        h_init(&hs[mode], mode);
        pristine_cpu[mode] = hs[mode].c;
        if (!(pristine_ram[mode] = malloc(H_RAM_SIZE)))
            abort();
        memcpy(pristine_ram[mode], hs[mode].ram, H_RAM_SIZE);
    }
    struct harness *hp = &hs[mode];
#define h (*hp)
    memcpy(h.ram, pristine_ram[mode], H_RAM_SIZE);
    memset(h.code_pages, 0, H_RAM_SIZE >> 12);
    h.c = pristine_cpu[mode];
    cpu_state_changed(&h.c);
    if ((data[0] & 4) && mode != H_REAL)
        make_user(&h);
    for (int r = 0; r < 8; r++) {
        uint64_t v;
        memcpy(&v, data + 1 + 8 * r, 8);
        if (r != R_RSP)
            h.c.regs[r] ^= v;
    }
    uint8_t cfg = data[0];
    if (mode == H_LONG && (cfg & 3) == 3) {  /* compatibility mode */
        if (h.c.cpl == 3)
            h_seg(&h.c, S_CS, 0x33, 0, 0xffffffff, 0xc0fb);
        else
            h_seg(&h.c, S_CS, 0x08, 0, 0xffffffff, 0xc09b);
        cpu_state_changed(&h.c);
    }
    uint32_t pt_area = 0x5000;
    if (mode == H_PROT32 && (cfg & 0x10)) {
        if (cfg & 0x20) {          /* PAE: PDPT at 0x6020 -> PD at 0x5000 (2 MiB pages) */
            h_w64(&h, 0x6020, 0x5000 | 1);
            h_w64(&h, 0x5000, 0x000000 | 0x87);
            h_w64(&h, 0x5008, 0x200000 | 0x87);
            h.c.cr3 = 0x6020;
            h.c.cr4 |= CR4_PAE;
        } else {                   /* 32-bit paging, one 4 MiB page */
            h_w32(&h, 0x6000, 0x000000 | 0x87);
            h.c.cr3 = 0x6000;
            h.c.cr4 |= CR4_PSE;
            pt_area = 0x6000;
        }
        h.c.cr0 |= CR0_PG;
        cpu_state_changed(&h.c);
    }
    bool pinned = (cfg & 8) != 0;
    if (pinned) {
        bool user = (cfg & 4) && mode != H_REAL;
        bool paging = (h.c.cr0 & CR0_PG) != 0;
        uint64_t smx = CR4_SMEP | CR4_SMAP;
        h.c.cr0 |= CR0_WP;
        h.c.cr4 |= CR4_UMIP;
        if (!user && paging) {     /* supervisor pages so CPL0 fetches pass SMEP */
            h.c.cr4 |= smx;
            for (uint32_t a = 0x5000; a < 0x5010; a += 8)
                h.ram[a] &= (uint8_t)~4;
            h.ram[0x6000] &= (uint8_t)~4;
        }
        if (crpin_msr_write(&h.c.pin, MSR_KVM_CR0_PINNED, CRPIN_HOST, CRPIN_CR0_WP) != CRPIN_OK ||
            crpin_msr_write(&h.c.pin, MSR_KVM_CR4_PINNED, CRPIN_HOST, CRPIN_CR4_ALLOWED) != CRPIN_OK)
            abort();
        cpu_state_changed(&h.c);
    }
    uint64_t cr0_start = h.c.cr0, cr4_start = h.c.cr4;
    const uint32_t areas[4] = { H_GDT, H_IDT, H_PML4, pt_area };
    for (int k = 0; k < 16; k++) {
        uint8_t off = data[65 + 2 * k], val = data[66 + 2 * k];
        h.ram[areas[k & 3] + off] = val;
    }
    size_t n = size - HDR;
    if (n > 0x10000)
        n = 0x10000;
    /* HLTs after the code: falling off the end stops instead of running
     * thousands of `add %al,(%rax)` from the zeroed RAM. */
    memset(h.ram + H_CODE + n, 0xf4, 16);
    h_load(&h, data + HDR, n);
    /* Bounded: a few slices, stop at HLT or shutdown. The budget counts
     * instructions, and a REP string op counts once per chunk of 4096
     * iterations (ops_string.c), so 256 is up to ~1M memory accesses: a
     * REP STOS with a huge count runs ~1 s under ASan, well inside the
     * -timeout that catches real hangs. */
    for (int slice = 0; slice < 4; slice++) {
        enum cpu_exit e = cpu_run(&h.c, 64);
        if (e == CPU_EXIT_HLT || e == CPU_EXIT_SHUTDOWN)
            break;
    }
    if (pinned && !h.c.in_smm && h.c.pin.cr0_pinned == CRPIN_CR0_WP &&
        h.c.pin.cr4_pinned == CRPIN_CR4_ALLOWED &&
        (((h.c.cr0 ^ cr0_start) & CRPIN_CR0_WP) || ((h.c.cr4 ^ cr4_start) & CRPIN_CR4_ALLOWED))) {
        fprintf(stderr, "fuzz_cpu: PIN BYPASS: cr0 %llx -> %llx, cr4 %llx -> %llx\n",
                (unsigned long long)cr0_start, (unsigned long long)h.c.cr0,
                (unsigned long long)cr4_start, (unsigned long long)h.c.cr4);
        abort();
    }
#undef h
    return 0;
}
