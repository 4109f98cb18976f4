/* desc.c: TSS, IDT, exception dispatch, try/fixup machinery, safe MSR and
 * CR accessors. */
#include "kit.h"

struct tss64 tss __aligned(16);
u64 idt[512] __aligned(16);
struct ex_info ex_last = { .vector = -1 };
extern u64 try_sp;
extern char try_resume[];
extern struct dtr gdt_desc;

/* RSP0 stack and one stack per IST slot. */
static u8 rsp0_stack[8192] __aligned(16);
static u8 ist_stacks[7][4096] __aligned(16);

static ex_handler_t handlers[256];

struct ex_entry { u64 insn, fixup; };
extern struct ex_entry __ex_table_start[], __ex_table_end[];

void gdt_set_entry(u16 sel, u32 base, u32 limit, u8 access, u8 flags)
{
    gdt[sel >> 3] = (limit & 0xffffull) | (u64)(base & 0xffffff) << 16 |
                    (u64)access << 40 | (u64)((limit >> 16) & 0xf) << 48 |
                    (u64)(flags & 0xf) << 52 | (u64)(base >> 24) << 56;
}

static void set_gate(int vec, u64 target, u16 sel, int type, int dpl, int ist)
{
    idt[vec * 2] = (target & 0xffff) | (u64)sel << 16 | (u64)(ist & 7) << 32 |
                   (u64)(0x80 | (dpl & 3) << 5 | (type & 0xf)) << 40 |
                   (target >> 16 & 0xffff) << 48;
    idt[vec * 2 + 1] = target >> 32;
}

void idt_set_target(int vec, u64 target, u16 sel, int type)
{
    int dpl = (idt[vec * 2] >> 45) & 3, ist = (idt[vec * 2] >> 32) & 7;
    set_gate(vec, target, sel, type, dpl, ist);
}

void idt_set_dpl(int vec, int dpl)
{
    idt[vec * 2] = (idt[vec * 2] & ~(3ull << 45)) | (u64)(dpl & 3) << 45;
}

void idt_set_ist(int vec, int ist)
{
    idt[vec * 2] = (idt[vec * 2] & ~(7ull << 32)) | (u64)(ist & 7) << 32;
}

ex_handler_t handle_exception(int vec, ex_handler_t fn)
{
    ex_handler_t old = handlers[vec];
    handlers[vec] = fn;
    return old;
}

void desc_init(void)
{
    /* TSS: RSP0 for CPL3 -> CPL0, IST1..7; no I/O bitmap (base = limit). */
    tss.rsp0 = (u64)rsp0_stack + sizeof(rsp0_stack);
    for (int i = 1; i <= 7; i++)
        tss.ist[i] = (u64)ist_stacks[i - 1] + sizeof(ist_stacks[0]);
    tss.iomap_base = sizeof(tss);
    u64 base = (u64)&tss;
    gdt_set_entry(TSS_SEL, (u32)base, sizeof(tss) - 1, 0x89, 0); /* avail TSS */
    gdt[(TSS_SEL >> 3) + 1] = base >> 32;
    /* Reload the GDT with its 64-bit base (entry.S loaded it in 32-bit mode). */
    lgdt(&gdt_desc);
    ltr(TSS_SEL);
    /* Null LDT: the loader leaves LDTR as at reset (base 0, limit 0xffff). */
    asm volatile("lldt %w0" :: "r"(0));

    /* 64-bit interrupt gates (type 14), DPL0; #BP/#OF reachable from CPL3
     * like on Linux; USER_RET_VECTOR DPL3; #DF on its own stack. */
    for (int v = 0; v < 256; v++)
        set_gate(v, isr_stubs[v], KERNEL_CS, 14, 0, 0);
    idt_set_dpl(BP_VECTOR, 3);
    idt_set_dpl(OF_VECTOR, 3);
    idt_set_dpl(USER_RET_VECTOR, 3);
    idt_set_ist(DF_VECTOR, DF_IST);
    struct dtr d = { sizeof(idt) - 1, (u64)idt };
    lidt(&d);
}

static const char *const ex_names[32] = {
    "#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "CSO",
    "#TS", "#NP", "#SS", "#GP", "#PF", "15", "#MF", "#AC", "#MC", "#XM",
    "#VE", "#CP",
};

static void record(struct ex_regs *r, u64 cr2)
{
    ex_last.vector = (int)r->vector;
    ex_last.error_code = r->error_code;
    ex_last.cr2 = cr2;
    ex_last.rip = r->rip;
    ex_last.cs = r->cs;
    ex_last.rsp = r->rsp;
    ex_last.ss = r->ss;
}

/* Return from the exception into try_resume (isr.S) at CPL0 on the try
 * frame, whatever CPL and stack the exception came from. */
static void resume_try(struct ex_regs *r, int vec, u64 retval)
{
    r->rip = (u64)try_resume;
    r->cs = KERNEL_CS;
    r->ss = KERNEL_DS;
    r->rsp = try_sp;
    r->rflags = X86_EFLAGS_FIXED;
    r->rax = (u64)(s64)vec;
    r->rdi = retval;
}

void ex_dispatch(struct ex_regs *r)
{
    u64 cr2 = read_cr2();
    int vec = (int)r->vector;

    for (struct ex_entry *e = __ex_table_start; e < __ex_table_end; e++) {
        if (e->insn == r->rip) {
            record(r, cr2);
            r->rip = e->fixup;
            return;
        }
    }
    if (vec == USER_RET_VECTOR && (r->cs & 3) == 3 && try_sp) {
        ex_last.vector = -1;
        resume_try(r, -1, r->rdi);
        return;
    }
    if (handlers[vec]) {
        handlers[vec](r);
        return;
    }
    if (try_sp) {
        record(r, cr2);
        resume_try(r, vec, 0);
        return;
    }
    printf("Unhandled exception %d %s at rip %lx cs %lx: error code %lx, "
           "cr2 %lx, rsp %lx\n", vec, vec < 32 && ex_names[vec] ? ex_names[vec] : "",
           r->rip, r->cs, r->error_code, cr2, r->rsp);
    exit(EXIT_ABORT);
}

/* ---- safe accessors ----------------------------------------------------- */
int rdmsr_safe(u32 msr, u64 *val)
{
    u32 lo = 0, hi = 0;
    asm volatile(ASM_TRY("1f") "rdmsr\n1:"
                 : "=a"(lo), "=d"(hi) : "c"(msr) : "memory");
    if (exception_vector() < 0)
        *val = lo | (u64)hi << 32;
    return exception_vector();
}

int wrmsr_safe(u32 msr, u64 val)
{
    asm volatile(ASM_TRY("1f") "wrmsr\n1:"
                 :: "a"((u32)val), "d"((u32)(val >> 32)), "c"(msr) : "memory");
    return exception_vector();
}

#define DEFINE_CR_SAFE(n)                                                 \
    int write_cr##n##_safe(u64 v)                                         \
    {                                                                     \
        asm volatile(ASM_TRY("1f") "mov %0, %%cr" #n "\n1:"               \
                     :: "r"(v) : "memory");                               \
        return exception_vector();                                        \
    }
DEFINE_CR_SAFE(0)
DEFINE_CR_SAFE(3)
DEFINE_CR_SAFE(4)
