/* cpu.h: the x86-64 vCPU state and the public API of the emulator core.
 *
 * All guest-visible CPU state lives in struct cpu (one per vCPU); there is
 * no global CPU. The core talks to the machine only through struct cpu_bus.
 *
 * Ownership inside src/cpu (see docs/architecture.md):
 *   decode.c, exec.c, alu*.c, flags.h, ops_*.c  - decoder, run loop, integer ISA
 *   mmu.c/mmu.h, seg.c, except.c, system.c, ...  - paging, segmentation,
 *                                                  exceptions, system insns
 */
#ifndef PINVM_CPU_H
#define PINVM_CPU_H

#include <setjmp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../pin/crpin.h"
#include "../util/log.h"
#include "flags.h"
#include "mmu.h"

struct icache; /* decoded-block cache, private to exec.c */
struct insn;

/* General-purpose register numbers (ModRM/REX encoding order). */
enum {
    R_RAX, R_RCX, R_RDX, R_RBX, R_RSP, R_RBP, R_RSI, R_RDI,
    R_R8, R_R9, R_R10, R_R11, R_R12, R_R13, R_R14, R_R15,
};

/* Segment registers: first six in SDM Sreg encoding order. */
enum { S_ES, S_CS, S_SS, S_DS, S_FS, S_GS, S_LDTR, S_TR, S_NSEG };

/* Hidden part of a segment register. attr uses the VMX "access rights"
 * layout so it is the descriptor's bits 40..55 shifted down by 40:
 *
 *   15 14  13 12  11..8  7  6..5  4  3..0
 *   G  D/B L  AVL  (0)   P  DPL   S  type
 *
 * limit is the expanded byte-granular limit (G already applied). */
struct seg {
    uint16_t sel;
    uint16_t attr;
    uint32_t limit;
    uint64_t base;
};
#define SEG_ATTR_TYPE  0x000f
#define SEG_ATTR_S     0x0010
#define SEG_ATTR_DPL   0x0060
#define SEG_ATTR_P     0x0080
#define SEG_ATTR_AVL   0x1000
#define SEG_ATTR_L     0x2000
#define SEG_ATTR_DB    0x4000
#define SEG_ATTR_G     0x8000

struct dtr {
    uint64_t base;
    uint16_t limit;
};

/* CR0 */
#define CR0_PE (1ull << 0)
#define CR0_MP (1ull << 1)
#define CR0_EM (1ull << 2)
#define CR0_TS (1ull << 3)
#define CR0_ET (1ull << 4)
#define CR0_NE (1ull << 5)
#define CR0_WP (1ull << 16)
#define CR0_AM (1ull << 18)
#define CR0_NW (1ull << 29)
#define CR0_CD (1ull << 30)
#define CR0_PG (1ull << 31)
/* CR4 */
#define CR4_VME        (1ull << 0)
#define CR4_PVI        (1ull << 1)
#define CR4_TSD        (1ull << 2)
#define CR4_DE         (1ull << 3)
#define CR4_PSE        (1ull << 4)
#define CR4_PAE        (1ull << 5)
#define CR4_MCE        (1ull << 6)
#define CR4_PGE        (1ull << 7)
#define CR4_PCE        (1ull << 8)
#define CR4_OSFXSR     (1ull << 9)
#define CR4_OSXMMEXCPT (1ull << 10)
#define CR4_UMIP       (1ull << 11)
#define CR4_FSGSBASE   (1ull << 16)
#define CR4_PCIDE      (1ull << 17)
#define CR4_OSXSAVE    (1ull << 18)
#define CR4_SMEP       (1ull << 20)
#define CR4_SMAP       (1ull << 21)
/* EFER */
#define EFER_SCE (1ull << 0)
#define EFER_LME (1ull << 8)
#define EFER_LMA (1ull << 10)
#define EFER_NXE (1ull << 11)
/* EFLAGS */
#define F_CF   (1u << 0)
#define F_PF   (1u << 2)
#define F_AF   (1u << 4)
#define F_ZF   (1u << 6)
#define F_SF   (1u << 7)
#define F_TF   (1u << 8)
#define F_IF   (1u << 9)
#define F_DF   (1u << 10)
#define F_OF   (1u << 11)
#define F_IOPL (3u << 12)
#define F_NT   (1u << 14)
#define F_RF   (1u << 16)
#define F_VM   (1u << 17)
#define F_AC   (1u << 18)
#define F_VIF  (1u << 19)
#define F_VIP  (1u << 20)
#define F_ID   (1u << 21)
#define F_ARITH (F_CF | F_PF | F_AF | F_ZF | F_SF | F_OF)

/* Exception vectors. */
enum {
    EXC_DE = 0, EXC_DB = 1, EXC_NMI = 2, EXC_BP = 3, EXC_OF = 4, EXC_BR = 5,
    EXC_UD = 6, EXC_NM = 7, EXC_DF = 8, EXC_TS = 10, EXC_NP = 11,
    EXC_SS = 12, EXC_GP = 13, EXC_PF = 14, EXC_MF = 16, EXC_AC = 17,
    EXC_MC = 18, EXC_XM = 19,
};
#define CPU_NOERR (-1) /* cpu_raise(): exception without error code */

/* Page-fault error code bits (SDM Vol 3A 4.7). */
#define PFEC_P    (1u << 0)
#define PFEC_W    (1u << 1)
#define PFEC_U    (1u << 2)
#define PFEC_RSVD (1u << 3)
#define PFEC_I    (1u << 4)

/* Why cpu_run() returned. */
enum cpu_exit {
    CPU_EXIT_BUDGET = 0, /* instruction budget used up */
    CPU_EXIT_HLT,        /* HLT executed; cpu->halted is set */
    CPU_EXIT_SHUTDOWN,   /* triple fault or invalid RSM state: shutdown */
    CPU_EXIT_REQUEST,    /* a device or the host asked (cpu->exit_request) */
};

/* The machine side: port I/O and physical accesses that miss RAM.
 * Every callback gets the opaque pointer and the vCPU that did the access. */
struct cpu_bus {
    void *opaque;
    uint32_t (*io_in)(void *opaque, struct cpu *c, uint16_t port, int size);
    void (*io_out)(void *opaque, struct cpu *c, uint16_t port, int size,
                   uint32_t val);
    uint64_t (*mmio_read)(void *opaque, struct cpu *c, uint64_t pa, int size);
    void (*mmio_write)(void *opaque, struct cpu *c, uint64_t pa, int size,
                       uint64_t val);
    /* Called when a pin blocks a CR write (audit trail); may be NULL. */
    void (*pin_violation)(void *opaque, struct cpu *c, int cr,
                          uint64_t old_val, uint64_t new_val);
    /* SMP: the vCPUs share code_pages. Called when c starts caching code
     * from RAM page pfn (added: the other vCPUs must drop their write-TLB
     * fast paths, mmu_code_page_added()) and when a write hits such a page
     * (!added: they must drop their blocks, icache_drop_page()). May be
     * NULL (one vCPU). */
    void (*code_page)(void *opaque, struct cpu *c, uint64_t pfn, bool added);
    /* The local APIC's MSRs (msr.c): x2APIC registers 0x800-0x8ff,
     * IA32_TSC_DEADLINE (0x6e0), and, after a successful IA32_APIC_BASE
     * write, that write (msr 0x1b, *val the old value; the result is
     * ignored). Returns 0, or -1 for #GP. May be NULL: those MSRs #GP. */
    int (*apic_msr)(void *opaque, struct cpu *c, uint32_t msr, uint64_t *val,
                    bool write);
};

/* Execution-mode summary, recomputed by cpu_update_mode(). */
enum cpu_mode {
    MODE_REAL = 0,   /* CR0.PE = 0 */
    MODE_PROT,       /* protected mode, legacy */
    MODE_V86,        /* EFLAGS.VM = 1 (not supported: #GP on entry) */
    MODE_COMPAT,     /* IA-32e, CS.L = 0 */
    MODE_LONG,       /* IA-32e, CS.L = 1 (64-bit) */
};

/* The fault target of cpu_raise(). Outside the sanitizers it is GCC's
 * (and clang's) __builtin_setjmp/__builtin_longjmp: the buffer holds only
 * the frame and stack pointers and the resume address (the function that
 * sets it treats every register as clobbered at the landing point), so a
 * fault costs a few host insns instead of glibc's longjmp (~60: pointer
 * demangling, cleanup-handler walk). The usual setjmp rules apply: locals
 * changed between CPU_SETJMP and the jump must be volatile. ASan must see
 * the jump (its longjmp interceptor unpoisons the frames left behind), so
 * sanitizer builds keep setjmp/longjmp. CPU_LONGJMP never returns, and
 * must not be called from the function that did the CPU_SETJMP. */
#if defined(__SANITIZE_ADDRESS__)
#define PINVM_LIBC_SETJMP 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PINVM_LIBC_SETJMP 1
#endif
#endif
#ifdef PINVM_LIBC_SETJMP
typedef jmp_buf cpu_jmp_buf;
#define CPU_SETJMP(b) setjmp(b)
#define CPU_LONGJMP(b) longjmp(b, 1)
#else
typedef void *cpu_jmp_buf[5];
#define CPU_SETJMP(b) __builtin_setjmp(b)
#define CPU_LONGJMP(b) __builtin_longjmp(b, 1)
#endif

struct cpu {
    /* ---- architectural state (hot fields first) ---- */
    uint64_t regs[16];
    uint64_t rip;      /* address of the instruction being executed */
    uint64_t next_rip; /* set by the run loop before each handler; branches
                          overwrite it; traps push it as the return address */
    struct lazyflags lf; /* OSZAPC, lazily evaluated: see flags.h */
    uint32_t eflags;     /* all other EFLAGS bits (bit 1 always set) */
    bool block_stop;     /* exec.c: end the running block after this
                            instruction (a store hit its code, a device
                            was accessed) */
    uint8_t loop_left;   /* exec.c: passes a self-loop block may still add */
    uint64_t run_end;    /* exec.c: icount at which this cpu_run() ends */

    struct seg seg[S_NSEG];
    struct dtr gdtr, idtr;
    uint64_t cr0, cr2, cr3, cr4, cr8;
    uint64_t efer;
    uint64_t dr[8];

    /* MSRs */
    uint64_t star, lstar, cstar, fmask, kernel_gs_base, tsc_aux;
    uint64_t sysenter_cs, sysenter_esp, sysenter_eip;
    uint64_t apic_base, pat, misc_enable, mtrr_def_type;
    uint64_t tsc_offset; /* TSC = insn count + tsc_offset */

    /* Pinning (src/pin/crpin.h). The only writer of cr0/cr4 is
     * cpu_write_cr0()/cpu_write_cr4(), which consults this. */
    struct crpin pin;
    bool cr_pin_enabled; /* CPUID advertises the feature (-cpu ...,-cr-pin) */
    /* Hypervisor signature in CPUID 0x40000000: false = "KVMKVMKVM\0\0\0"
     * (the seed ABI, default); true = "PinVMPinVM\0\0" (-cpu ...,+pinvm-sig),
     * the way out for stock Linux guests: see docs/cr-pinning.md. */
    bool hv_sig_pinvm;

    /* SMM */
    bool in_smm;
    uint32_t smbase;
    /* CR0/CR4 when the current SMI was taken: RSM refuses a saved state
     * whose pinned bits differ from these (smm.c). Host-side, not in SMRAM,
     * so the SMM handler cannot edit them. Meaningful while in_smm. */
    uint64_t smm_entry_cr0, smm_entry_cr4;

    /* ---- derived state (cpu_update_mode) ---- */
    uint8_t cpl;
    uint8_t mode;      /* enum cpu_mode */
    uint8_t code_size; /* 2, 4 or 8: default operand/address size of CS */
    uint8_t stack_size;/* 2, 4 or 8: SS.B / long mode */

    /* ---- events and run state ---- */
    bool halted;
    bool intr_shadow;       /* STI / MOV SS blocking for one instruction */
    bool nmi_pending, nmi_blocked, smi_pending;
    volatile int exit_request; /* set by devices/host to leave cpu_run() */
    bool pause_yields;  /* PAUSE sets exit_request (SMP: docs/smp.md) */
    /* opaque is bus->opaque for both */
    int (*irq_pending)(void *opaque, struct cpu *c); /* vector or -1; may be NULL */
    void (*irq_ack)(void *opaque, struct cpu *c, int vec);

    uint64_t icount; /* instructions retired */
    int cpu_index;

    /* ---- fault plumbing (except.c) ---- */
    /* cpu_raise() unwinds to *fault_jmp: cpu_run() points it at its own
     * buffer; deliver_event() and SMM entry point it at theirs for the
     * duration and restore the pointer (no 200-byte copy per event). */
    cpu_jmp_buf *fault_jmp;
    int fault_vec;      /* pending exception vector, -1 if none */
    int32_t fault_err;  /* its error code or CPU_NOERR */
    int delivering;     /* vector being delivered, for #DF/triple fault, -1 */
    bool shutdown;      /* triple fault happened */

    /* ---- memory ---- */
    uint8_t *ram;       /* guest RAM, ram_size bytes at guest physical 0 */
    uint64_t ram_size;
    uint8_t *code_pages;/* one byte per RAM page: decoded code lives here */
    struct tlb tlb;     /* software TLB (mmu.h) */
    struct icache *ic;  /* decoded-block cache (exec.c) */

    const struct cpu_bus *bus;
    struct pv_log *log;

    /* CPUID configuration */
    uint32_t cpuid_features_off; /* reserved for -cpu -feat handling */

    /* MTRRs (stored, no effect on memory types): fixed-range MSRs 0x250,
     * 0x258, 0x259, 0x268..0x26f in that order; variable base/mask pairs
     * 0x200..0x20f. */
    uint64_t mtrr_fixed[11];
    uint64_t mtrr_var[16];
    uint32_t log_int_seq; /* -d int event counter (QEMU's "count") */
    uint64_t fault_icount; /* icount at the last fault delivery (except.c) */
};

/* ---- lifecycle (exec.c / system.c) ---- */
/* Initialise a vCPU: ram must stay valid for the cpu's lifetime. Returns 0
 * or -1 on allocation failure. */
int cpu_init(struct cpu *c, int index, uint8_t *ram, uint64_t ram_size,
             uint8_t *code_pages, const struct cpu_bus *bus,
             struct pv_log *log);
void cpu_destroy(struct cpu *c);
/* Drop c's decoded blocks of RAM page pfn and clear its code_pages flag,
 * without telling other vCPUs (cpu_bus.code_page does that). */
void icache_drop_page(struct cpu *c, uint64_t pfn);
/* Power-on/RESET state (SDM Vol 3A 9.1.1). Clears pins. */
void cpu_reset(struct cpu *c);
/* After the host edits state directly (loader, snapshot restore): recompute
 * cpl/mode/sizes and flush TLB and decoded-code cache. */
void cpu_state_changed(struct cpu *c);
void cpu_update_mode(struct cpu *c);

/* Run until the budget is used or an exit condition. */
enum cpu_exit cpu_run(struct cpu *c, uint64_t max_insns);

/* ---- exceptions (except.c) ---- */
/* Abort the current instruction with an exception. err is CPU_NOERR or an
 * error code. Never returns (longjmp to cpu_run). */
_Noreturn void cpu_raise(struct cpu *c, int vec, int32_t err);
/* Deliver the pending fault recorded by cpu_raise (called by cpu_run). */
void cpu_deliver_pending(struct cpu *c);
/* Deliver an external interrupt / NMI vector (called by cpu_run between
 * instructions when IF=1 and no shadow). */
void cpu_deliver_external(struct cpu *c, int vec);
/* Software interrupt (INT n/INT3/INTO): return address is c->next_rip. */
void cpu_deliver_soft(struct cpu *c, int vec, bool is_int3_or_into);
/* Called by cpu_run at block boundaries (never inside an STI/MOV SS
 * shadow): delivers a pending SMI, NMI or external interrupt if the CPU
 * state allows it, waking a halted CPU. Cheap when nothing is pending. */
void cpu_check_interrupts(struct cpu *c);
/* Non-faulting read of up to n code bytes at linear address lin with the
 * current paging state (for audit records and traces); returns the number
 * of bytes read, 0 if unmapped. Touches no A/D bits and no TLB. */
int cpu_peek_code(struct cpu *c, uint64_t lin, uint8_t *buf, int n);

/* ---- SMM (smm.c) ----
 * smm_enter: take a pending SMI (called by cpu_check_interrupts).
 * smm_rsm: RSM; returns false if the saved state is invalid (shutdown). */
void smm_enter(struct cpu *c);
bool smm_rsm(struct cpu *c);

/* ---- flags (flags.h) ---- */
uint32_t cpu_get_eflags(struct cpu *c);
void cpu_set_eflags(struct cpu *c, uint32_t v); /* raw: no privilege checks */

/* ---- control registers (system.c): THE chokepoint for CR0/CR4 ----
 * Every path that changes CR0 or CR4 (MOV to CR, LMSW, CLTS, task switch,
 * RSM, reset excluded) calls these. They validate reserved bits and mode
 * rules, consult the pin policy, and on a blocked write report the
 * violation and raise #GP(0) (they do not return then). */
void cpu_write_cr0(struct cpu *c, uint64_t val);
void cpu_write_cr4(struct cpu *c, uint64_t val);
void cpu_write_cr3(struct cpu *c, uint64_t val);
/* MSRs. host=true for the control socket/snapshots. Return 0 on success,
 * -1 if the MSR does not exist or the value is refused (#GP for a guest). */
int cpu_rdmsr(struct cpu *c, uint32_t msr, uint64_t *val, bool host);
int cpu_wrmsr(struct cpu *c, uint32_t msr, uint64_t val, bool host);

/* ---- helpers ---- */
static inline bool cpu_long_mode(const struct cpu *c)
{
    return (c->efer & EFER_LMA) != 0;
}

/* Second inclusion of mmu.h: its static inline fast paths (mem_read*,
 * mem_write*, cpu_push/pop) need the complete struct cpu. */
#define PINVM_CPU_COMPLETE
#include "mmu.h"

#endif
