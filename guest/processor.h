/* processor.h: register bits and one-instruction helpers (control registers,
 * MSRs, CPUID, port I/O, descriptor tables). All static inline. */
#ifndef GUEST_PROCESSOR_H
#define GUEST_PROCESSOR_H

#include <stdint.h>
#include <stdbool.h>

typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;
typedef int8_t s8;
typedef int16_t s16;
typedef int32_t s32;
typedef int64_t s64;

#define BIT(n) ((u64)1 << (n))   /* u64, so "%lx" prints any mask */

/* CR0 (SDM Vol 3A 2.5) */
#define X86_CR0_PE BIT(0)
#define X86_CR0_MP BIT(1)
#define X86_CR0_EM BIT(2)
#define X86_CR0_TS BIT(3)
#define X86_CR0_ET BIT(4)
#define X86_CR0_NE BIT(5)
#define X86_CR0_WP BIT(16)
#define X86_CR0_AM BIT(18)
#define X86_CR0_NW BIT(29)
#define X86_CR0_CD BIT(30)
#define X86_CR0_PG BIT(31)

/* CR4 */
#define X86_CR4_VME        BIT(0)
#define X86_CR4_PVI        BIT(1)
#define X86_CR4_TSD        BIT(2)
#define X86_CR4_DE         BIT(3)
#define X86_CR4_PSE        BIT(4)
#define X86_CR4_PAE        BIT(5)
#define X86_CR4_MCE        BIT(6)
#define X86_CR4_PGE        BIT(7)
#define X86_CR4_PCE        BIT(8)
#define X86_CR4_OSFXSR     BIT(9)
#define X86_CR4_OSXMMEXCPT BIT(10)
#define X86_CR4_UMIP       BIT(11)
#define X86_CR4_LA57       BIT(12)
#define X86_CR4_VMXE       BIT(13)
#define X86_CR4_SMXE       BIT(14)
#define X86_CR4_FSGSBASE   BIT(16)
#define X86_CR4_PCIDE      BIT(17)
#define X86_CR4_OSXSAVE    BIT(18)
#define X86_CR4_SMEP       BIT(20)
#define X86_CR4_SMAP       BIT(21)
#define X86_CR4_PKE        BIT(22)

/* EFLAGS */
#define X86_EFLAGS_CF   BIT(0)
#define X86_EFLAGS_FIXED BIT(1)
#define X86_EFLAGS_PF   BIT(2)
#define X86_EFLAGS_AF   BIT(4)
#define X86_EFLAGS_ZF   BIT(6)
#define X86_EFLAGS_SF   BIT(7)
#define X86_EFLAGS_TF   BIT(8)
#define X86_EFLAGS_IF   BIT(9)
#define X86_EFLAGS_DF   BIT(10)
#define X86_EFLAGS_OF   BIT(11)
#define X86_EFLAGS_IOPL (3ull << 12)
#define X86_EFLAGS_NT   BIT(14)
#define X86_EFLAGS_RF   BIT(16)
#define X86_EFLAGS_VM   BIT(17)
#define X86_EFLAGS_AC   BIT(18)
#define X86_EFLAGS_ID   BIT(21)
/* The six arithmetic flags. */
#define X86_EFLAGS_ARITH (X86_EFLAGS_CF | X86_EFLAGS_PF | X86_EFLAGS_AF | \
                          X86_EFLAGS_ZF | X86_EFLAGS_SF | X86_EFLAGS_OF)

/* MSRs */
#define MSR_IA32_TSC        0x00000010
#define MSR_IA32_APICBASE   0x0000001b
#define MSR_IA32_SYSENTER_CS 0x00000174
#define MSR_IA32_MISC_ENABLE 0x000001a0
#define MSR_IA32_PAT        0x00000277
#define MSR_EFER            0xc0000080
#define MSR_STAR            0xc0000081
#define MSR_LSTAR           0xc0000082
#define MSR_CSTAR           0xc0000083
#define MSR_SYSCALL_MASK    0xc0000084
#define MSR_FS_BASE         0xc0000100
#define MSR_GS_BASE         0xc0000101
#define MSR_KERNEL_GS_BASE  0xc0000102
#define MSR_TSC_AUX         0xc0000103

#define EFER_SCE BIT(0)
#define EFER_LME BIT(8)
#define EFER_LMA BIT(10)
#define EFER_NXE BIT(11)

/* CPUID feature bits: (leaf, register, bit). */
#define CPUID_1_ECX_HYPERVISOR   31
#define CPUID_7_EBX_SMEP         7
#define CPUID_7_EBX_SMAP         20
#define CPUID_7_ECX_UMIP         2
#define CPUID_80000001_EDX_SYSCALL 11
#define CPUID_80000001_EDX_NX    20
#define CPUID_80000001_EDX_PDPE1GB 26
#define CPUID_80000001_EDX_RDTSCP 27
#define CPUID_80000001_EDX_LM    29

struct cpuid { u32 a, b, c, d; };

static inline struct cpuid cpuid_count(u32 leaf, u32 subleaf)
{
    struct cpuid r;
    asm volatile("cpuid" : "=a"(r.a), "=b"(r.b), "=c"(r.c), "=d"(r.d)
                 : "a"(leaf), "c"(subleaf));
    return r;
}
static inline struct cpuid cpuid(u32 leaf) { return cpuid_count(leaf, 0); }

static inline u64 rdmsr(u32 msr)
{
    u32 lo, hi;
    asm volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr) : "memory");
    return lo | ((u64)hi << 32);
}
static inline void wrmsr(u32 msr, u64 val)
{
    asm volatile("wrmsr" :: "a"((u32)val), "d"((u32)(val >> 32)), "c"(msr)
                 : "memory");
}
/* Safe variants (desc.c): return the exception vector raised (-1 if none),
 * e.g. 13 for #GP. *val is written only on success. */
int rdmsr_safe(u32 msr, u64 *val);
int wrmsr_safe(u32 msr, u64 val);

#define DEFINE_CR(n)                                                     \
    static inline u64 read_cr##n(void)                                   \
    {                                                                    \
        u64 v;                                                           \
        asm volatile("mov %%cr" #n ", %0" : "=r"(v) :: "memory");        \
        return v;                                                        \
    }                                                                    \
    static inline void write_cr##n(u64 v)                                \
    {                                                                    \
        asm volatile("mov %0, %%cr" #n :: "r"(v) : "memory");            \
    }
DEFINE_CR(0)
DEFINE_CR(2)
DEFINE_CR(3)
DEFINE_CR(4)
DEFINE_CR(8)
#undef DEFINE_CR
/* Safe variants: vector raised, -1 if none (13 = #GP). */
int write_cr0_safe(u64 v);
int write_cr4_safe(u64 v);
int write_cr3_safe(u64 v);

static inline u64 read_rflags(void)
{
    u64 f;
    asm volatile("pushfq; popq %0" : "=r"(f) :: "memory");
    return f;
}
static inline void write_rflags(u64 f)
{
    asm volatile("pushq %0; popfq" :: "r"(f) : "memory", "cc");
}

static inline void stac(void) { asm volatile(".byte 0x0f,0x01,0xcb" ::: "memory"); }
static inline void clac(void) { asm volatile(".byte 0x0f,0x01,0xca" ::: "memory"); }

static inline void invlpg(const volatile void *va)
{
    asm volatile("invlpg (%0)" :: "r"(va) : "memory");
}
/* Flush the whole TLB except global entries (CR3 reload). */
static inline void flush_tlb(void) { write_cr3(read_cr3()); }

static inline u64 rdtsc(void)
{
    u32 lo, hi;
    asm volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return lo | ((u64)hi << 32);
}

static inline void outb(u16 port, u8 v) { asm volatile("outb %0, %1" :: "a"(v), "Nd"(port)); }
static inline void outw(u16 port, u16 v) { asm volatile("outw %0, %1" :: "a"(v), "Nd"(port)); }
static inline void outl(u16 port, u32 v) { asm volatile("outl %0, %1" :: "a"(v), "Nd"(port)); }
static inline u8 inb(u16 port) { u8 v; asm volatile("inb %1, %0" : "=a"(v) : "Nd"(port)); return v; }
static inline u16 inw(u16 port) { u16 v; asm volatile("inw %1, %0" : "=a"(v) : "Nd"(port)); return v; }
static inline u32 inl(u16 port) { u32 v; asm volatile("inl %1, %0" : "=a"(v) : "Nd"(port)); return v; }

static inline void cli(void) { asm volatile("cli" ::: "memory"); }
static inline void sti(void) { asm volatile("sti" ::: "memory"); }
static inline void hlt(void) { asm volatile("hlt" ::: "memory"); }

struct __attribute__((packed)) dtr {
    u16 limit;
    u64 base;
};
static inline void sgdt(struct dtr *d) { asm volatile("sgdt %0" : "=m"(*d)); }
static inline void sidt(struct dtr *d) { asm volatile("sidt %0" : "=m"(*d)); }
static inline void lgdt(const struct dtr *d) { asm volatile("lgdt %0" :: "m"(*d)); }
static inline void lidt(const struct dtr *d) { asm volatile("lidt %0" :: "m"(*d)); }
static inline u16 str(void) { u16 s; asm volatile("str %0" : "=rm"(s)); return s; }
static inline void ltr(u16 s) { asm volatile("ltr %0" :: "rm"(s)); }

static inline u16 read_cs(void) { u16 s; asm volatile("mov %%cs, %0" : "=rm"(s)); return s; }
static inline u16 read_ss(void) { u16 s; asm volatile("mov %%ss, %0" : "=rm"(s)); return s; }
static inline u16 read_ds(void) { u16 s; asm volatile("mov %%ds, %0" : "=rm"(s)); return s; }
static inline void write_ds(u16 s) { asm volatile("mov %0, %%ds" :: "rm"(s)); }
static inline void write_es(u16 s) { asm volatile("mov %0, %%es" :: "rm"(s)); }

/* Bit `bit` of a CPUID register. */
static inline bool cpuid_bit(u32 leaf, u32 subleaf, char reg, int bit)
{
    struct cpuid r = cpuid_count(leaf, subleaf);
    u32 v = reg == 'a' ? r.a : reg == 'b' ? r.b : reg == 'c' ? r.c : r.d;
    return (v >> bit) & 1;
}

#endif
