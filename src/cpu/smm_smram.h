/* smm_smram.h: where SMRAM is and what the SMM state-save map looks like.
 * Shared by smm.c (SMI entry, RSM), mmu.c (SMRAM closed outside SMM) and
 * the machine (the built-in SMI handler, src/machine/apm.c). docs/smm.md.
 *
 * SMRAM is a fixed physical range of guest RAM, [SMRAM_BASE, SMRAM_END):
 * 0x30000..0x5FFFF. Only a vCPU in SMM sees it; for every other access
 * reads return all ones and writes are dropped (mmu.c). An SMBASE is valid
 * only if its SMM window [SMBASE + 0x8000, SMBASE + 0x10000) (handler
 * entry and state-save map) lies inside SMRAM: SMBASE in 0x28000..0x50000.
 * RSM refuses (shutdown) a relocation to any other SMBASE, so the saved
 * state can never be placed where the OS can read or edit it. */
#ifndef PINVM_SMM_SMRAM_H
#define PINVM_SMM_SMRAM_H

#include <stdbool.h>
#include <stdint.h>

#define SMRAM_BASE      0x30000u
#define SMRAM_END       0x60000u
#define SMBASE_DEFAULT  0x30000u  /* after RESET (SDM Vol 3C 32.4.1.1) */
#define SMM_ENTRY_OFF   0x8000u   /* handler entry: SMBASE + 0x8000 */
#define SMM_SAVE_OFF    0xfe00u   /* AMD64 state-save map: SMBASE + 0xFE00 */
#define SMM_SAVE_SIZE   0x200u
/* pinvm's "firmware" gives vCPU i the SMBASE 0x30000 + i * 0x400, as
 * SeaBIOS/EDK2 stagger them, so that no two vCPUs share a save area. */
#define SMBASE_STRIDE   0x400u

/* AMD64 state-save map, offsets from SMBASE (AMD APM Vol 2 10.2.3, table
 * 10-2; the layout KVM and QEMU use for 64-bit guests). Segments are
 * {u16 selector, u16 attributes, u32 limit, u64 base}; attributes in
 * struct seg's layout (descriptor bits 40..55 >> 8), as KVM and QEMU
 * store them. */
#define SMS_SEG(s)      (0xfe00u + 16u * (unsigned)(s)) /* ES CS SS DS FS GS */
#define SMS_GDTR        0xfe60u
#define SMS_LDTR        0xfe70u
#define SMS_IDTR        0xfe80u
#define SMS_TR          0xfe90u
#define SMS_IO_RESTART  0xfec8u /* u8 */
#define SMS_HLT_RESTART 0xfec9u /* u8 */
#define SMS_NMI_MASK    0xfecau /* u8: NMIs were blocked at SMI (AMD BKDG) */
#define SMS_EFER        0xfed0u
#define SMS_REVISION    0xfefcu /* u32 */
#define SMS_SMBASE      0xff00u /* u32, read/write: relocation */
#define SMS_CR4         0xff48u
#define SMS_CR3         0xff50u
#define SMS_CR0         0xff58u
#define SMS_DR7         0xff60u
#define SMS_DR6         0xff68u
#define SMS_RFLAGS      0xff70u
#define SMS_RIP         0xff78u
#define SMS_GPR(r)      (0xfff8u - 8u * (unsigned)(r)) /* RAX at 0xFFF8 .. R15 at 0xFF80 */
/* Revision identifier: AMD64 map (0x64), SMBASE relocation (bit 17). */
#define SMM_REVISION    0x00020064u

static inline bool smbase_valid(uint64_t smbase)
{
    return smbase + SMM_ENTRY_OFF >= SMRAM_BASE &&
           smbase + 0x10000u <= SMRAM_END;
}

/* Does [pa, pa + len) touch SMRAM? */
static inline bool smram_overlaps(uint64_t pa, uint64_t len)
{
    return pa < SMRAM_END && pa + len > SMRAM_BASE;
}

#endif
