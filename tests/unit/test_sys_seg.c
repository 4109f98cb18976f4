/* Segmentation and control transfers (seg.c, task.c, io.c): call gates
 * with a stack switch and parameter copy, far RET to an outer level,
 * SYSCALL/SYSRET, IRETQ to compatibility mode, the hardware task switch
 * (JMP, CALL + IRET with NT), and the TSS I/O permission bitmap. */
#include "cpu/sys.h"
#include "cpu_harness.h"
#include "unit.h"

static struct harness h;

#define TSS_A 0x120000u
#define TSS_B 0x121000u

static uint64_t tss_desc(uint32_t base, uint32_t limit)
{
    return (uint64_t)(limit & 0xffff) | (uint64_t)(base & 0xffffff) << 16 |
           0x89ull << 40 | (uint64_t)((limit >> 16) & 0xf) << 48 |
           (uint64_t)(base >> 24) << 56;
}

/* 32-bit call gate: selector, offset, DPL, parameter count */
static uint64_t call_gate(uint16_t sel, uint32_t off, unsigned dpl, unsigned params)
{
    return (uint64_t)(off & 0xffff) | (uint64_t)sel << 16 |
           (uint64_t)(params & 0x1f) << 32 | (uint64_t)(0x8c | dpl << 5) << 40 |
           (uint64_t)(off >> 16) << 48;
}

static void ring3_gdt32(void)
{
    h_w64(&h, H_GDT + 0x20, 0x00cffb000000ffffull); /* code32 DPL3 */
    h_w64(&h, H_GDT + 0x28, 0x00cff3000000ffffull); /* data DPL3 */
    h_w64(&h, H_GDT + 0x30, tss_desc(TSS_A, 0x67));
    h.c.gdtr.limit = 0x4f;
    h_w32(&h, TSS_A + 4, 0x9000); /* ESP0 */
    h_w32(&h, TSS_A + 8, 0x10);   /* SS0 */
}

/* ---- call gate to ring 0 with 2 parameters, RETF back to ring 3 ---- */

GUEST_ASM(cg, ".code32",
          "mov $0x30, %ax\n ltr %ax\n"
          "push $0x2b\n push $0x8f00\n pushf\n push $0x23\n"
          "push $(0x10000 + cg_user - cg)\n iret\n"
          "cg_user: mov $0x2b, %ax\n mov %ax, %ds\n"
          "push $0x11\n push $0x22\n"
          "cg_call: lcall $0x43, $0\n"
          "mov $0x55, %ecx\n int $0x80\n"
          "cg_kernel: hlt\n lret $8\n");
extern const uint8_t cg_user[], cg_call[], cg_kernel[];

TEST(call_gate_switches_stack_copies_params_and_retf_returns_to_ring3)
{
    h_init(&h, H_PROT32);
    ring3_gdt32();
    h_w64(&h, H_GDT + 0x40, call_gate(0x08, H_CODE + (uint32_t)(cg_kernel - cg), 3, 2));
    h_w8(&h, H_IDT + 0x80 * 8 + 5, 0xee);
    h_load(&h, cg, GUEST_LEN(cg));
    CHECK_EQ(h_run(&h), CPU_EXIT_HLT);
    CHECK_EQ(h.c.cpl, 0);
    CHECK_EQ(h.c.seg[S_SS].sel, 0x10);
    CHECK_EQ(h.c.regs[R_RSP], 0x9000 - 24);
    CHECK_EQ(h_frame(&h, 0), H_CODE + (uint64_t)(cg_call - cg) + 7);
    CHECK_EQ(h_frame(&h, 1), 0x23);
    CHECK_EQ(h_frame(&h, 2), 0x22);
    CHECK_EQ(h_frame(&h, 3), 0x11);
    CHECK_EQ(h_frame(&h, 4), 0x8f00 - 8);
    CHECK_EQ(h_frame(&h, 5), 0x2b);
    /* continue: LRET 8 to ring 3, then INT 0x80 */
    h.c.halted = false;
    h_run(&h);
    CHECK_EQ(h_vector(&h), 0x80);
    CHECK_EQ(h.c.regs[R_RCX], 0x55);
    CHECK_EQ(h_frame(&h, 1), 0x23);
    CHECK_EQ(h_frame(&h, 3), 0x8f00); /* parameters popped */
    h_free(&h);
}

/* ---- SYSCALL / SYSRET ---- */

GUEST_ASM(sc, ".code64",
          "mov $(0x10000 + sc_user - sc), %rcx\n mov $0x202, %r11\n sysretq\n"
          "sc_user: mov $7, %eax\n sc_at: syscall\n hlt\n"
          "sc_kernel: hlt\n");
extern const uint8_t sc_user[], sc_at[], sc_kernel[];

TEST(sysret_to_ring3_and_syscall_back)
{
    h_init(&h, H_LONG);
    h_w64(&h, H_GDT + 0x20, 0x00cff3000000ffffull);
    h_w64(&h, H_GDT + 0x28, 0x00affb000000ffffull);
    h.c.gdtr.limit = 0x2f;
    h.c.efer |= EFER_SCE;
    h.c.star = 0x0018ull << 48 | 0x0018ull << 32;
    h.c.lstar = H_CODE + (uint64_t)(sc_kernel - sc);
    h.c.fmask = F_IF;
    h_load(&h, sc, GUEST_LEN(sc));
    h_run(&h);
    CHECK_EQ(h_vector(&h), H_NOVEC);
    CHECK_EQ(h.c.regs[R_RCX], H_CODE + (uint64_t)(sc_at - sc) + 2);
    CHECK_EQ(h.c.regs[R_R11] & (F_IF | 2), F_IF | 2);
    CHECK_EQ(h.c.seg[S_CS].sel, 0x18);
    CHECK_EQ(h.c.seg[S_SS].sel, 0x20);
    CHECK_EQ(h.c.cpl, 0);
    CHECK_EQ(h_flags(&h) & F_IF, 0); /* FMASK */
    CHECK_EQ(h.c.rip, H_CODE + (uint64_t)(sc_kernel - sc) + 1);
    h_free(&h);
}

GUEST_ASM(sc_off, ".code64", "syscall\n hlt");

TEST(syscall_without_efer_sce_is_ud)
{
    h_init(&h, H_LONG);
    h_load(&h, sc_off, GUEST_LEN(sc_off));
    h_run(&h);
    CHECK_EQ(h_vector(&h), EXC_UD);
    h_free(&h);
}

/* ---- IRETQ to compatibility mode ---- */

GUEST_ASM(compat, ".code64",
          "mov %rsp, %rax\n push $0x10\n push %rax\n pushf\n push $0x08\n"
          "push $(0x10000 + compat_code - compat)\n iretq\n"
          "compat_code: .code32\n mov $0x1234, %eax\n push %eax\n hlt\n .code64\n");

TEST(iretq_to_compatibility_mode)
{
    h_init(&h, H_LONG);
    h_load(&h, compat, GUEST_LEN(compat));
    h_run(&h);
    CHECK_EQ(h_vector(&h), H_NOVEC);
    CHECK_EQ(h.c.mode, MODE_COMPAT);
    CHECK_EQ(h.c.code_size, 4);
    CHECK_EQ(h.c.regs[R_RAX], 0x1234);
    CHECK_EQ(h.c.regs[R_RSP], H_STACK - 4);
    CHECK_EQ(h_r32(&h, H_STACK - 4), 0x1234);
    h_free(&h);
}

/* ---- hardware task switch ---- */

GUEST_ASM(tsk, ".code32",
          "mov $0x30, %ax\n ltr %ax\n"
          "tsk_call: lcall $0x38, $0\n"
          "mov $2, %ecx\n hlt\n"
          "tsk_b: mov $1, %ebx\n iret\n");
extern const uint8_t tsk_call[], tsk_b[];

static void two_tasks(void)
{
    h_w64(&h, H_GDT + 0x30, tss_desc(TSS_A, 0x67));
    h_w64(&h, H_GDT + 0x38, tss_desc(TSS_B, 0x67));
    h.c.gdtr.limit = 0x3f;
    h_w32(&h, TSS_B + 0x20, H_CODE + (uint32_t)(tsk_b - tsk)); /* EIP */
    h_w32(&h, TSS_B + 0x24, 2);                                 /* EFLAGS */
    h_w32(&h, TSS_B + 0x38, 0x7000);                            /* ESP */
    h_w32(&h, TSS_B + 0x4c, 0x08);                              /* CS */
    h_w32(&h, TSS_B + 0x48, 0x10);
    h_w32(&h, TSS_B + 0x50, 0x10);
    h_w32(&h, TSS_B + 0x54, 0x10);
}

TEST(task_call_nests_and_iret_returns)
{
    h_init(&h, H_PROT32);
    two_tasks();
    h.c.regs[R_RDX] = 0x77;
    h_load(&h, tsk, GUEST_LEN(tsk));
    h_run(&h);
    CHECK_EQ(h_vector(&h), H_NOVEC);
    CHECK_EQ(h_r32(&h, TSS_B + 0x34), 1); /* task B ran: its EBX saved */
    CHECK_EQ(h.c.regs[R_RBX], 0);    /* A's EBX is back */
    CHECK_EQ(h.c.regs[R_RCX], 2);    /* back in task A */
    CHECK_EQ(h.c.regs[R_RDX], 0x77); /* A's registers restored */
    CHECK_EQ(h.c.seg[S_TR].sel, 0x30);
    CHECK(h.c.cr0 & CR0_TS);         /* set through cpu_write_cr0 */
    CHECK_EQ(h_flags(&h) & F_NT, 0);
    CHECK_EQ(h_r16(&h, TSS_B), 0x30);         /* back link */
    CHECK_EQ(h_r8(&h, H_GDT + 0x38 + 5), 0x89); /* B not busy any more */
    CHECK_EQ(h_r8(&h, H_GDT + 0x30 + 5), 0x8b); /* A busy */
    CHECK_EQ(h_r32(&h, TSS_A + 0x20), H_CODE + (uint64_t)(tsk_call - tsk) + 7);
    h_free(&h);
}

GUEST_ASM(tskj, ".code32", "mov $0x30, %ax\n ltr %ax\n ljmp $0x38, $0\n hlt\n"
                           "tskj_b: mov $1, %ebx\n hlt\n");
extern const uint8_t tskj_b[];

TEST(task_jmp_switches_busy_bits_and_sets_ts)
{
    h_init(&h, H_PROT32);
    two_tasks();
    h_w32(&h, TSS_B + 0x20, H_CODE + (uint32_t)(tskj_b - tskj));
    h_load(&h, tskj, GUEST_LEN(tskj));
    h_run(&h);
    CHECK_EQ(h.c.regs[R_RBX], 1);
    CHECK_EQ(h.c.seg[S_TR].sel, 0x38);
    CHECK(h.c.cr0 & CR0_TS);
    CHECK_EQ(h_flags(&h) & F_NT, 0);
    CHECK_EQ(h_r8(&h, H_GDT + 0x30 + 5), 0x89);
    CHECK_EQ(h_r8(&h, H_GDT + 0x38 + 5), 0x8b);
    CHECK_EQ(h.c.regs[R_RSP], 0x7000);
    h_free(&h);
}

/* ---- I/O permission bitmap ---- */

GUEST_ASM(iob, ".code32",
          "mov $0x30, %ax\n ltr %ax\n"
          "push $0x2b\n push $0x8f00\n pushf\n push $0x23\n"
          "push $(0x10000 + iob_user - iob)\n iret\n"
          "iob_user: mov $0x2b, %ax\n mov %ax, %ds\n mov $0x5a, %al\n"
          "out %al, $0x80\n iob_deny: out %al, $0x81\n hlt\n");
extern const uint8_t iob_deny[];

TEST(io_bitmap_allows_and_denies_ports_at_cpl3)
{
    h_init(&h, H_PROT32);
    ring3_gdt32();
    h_w64(&h, H_GDT + 0x30, tss_desc(TSS_A, 0x68 + 0x20));
    h_w16(&h, TSS_A + 0x66, 0x68);
    h_w8(&h, TSS_A + 0x68 + 0x10, 0x02); /* port 0x81 denied */
    h_load(&h, iob, GUEST_LEN(iob));
    h_run(&h);
    CHECK_EQ(h.last_out_port, 0x80);
    CHECK_EQ(h.last_out_val & 0xff, 0x5a);
    CHECK_EQ(h_vector(&h), EXC_GP);
    CHECK_EQ(h_frame(&h, 0), 0);
    CHECK_EQ(h_frame(&h, 1), H_CODE + (uint64_t)(iob_deny - iob));
    h_free(&h);
}

TEST(io_bitmap_beyond_tss_limit_is_gp)
{
    h_init(&h, H_PROT32);
    ring3_gdt32();
    h_w16(&h, TSS_A + 0x66, 0x68); /* limit 0x67: no bitmap bytes at all */
    h_load(&h, iob, GUEST_LEN(iob));
    h_run(&h);
    CHECK_EQ(h.last_out_port, 0);
    CHECK_EQ(h_vector(&h), EXC_GP);
    h_free(&h);
}


/* ---- IRET to ring 3 nulls data segments the new CPL may not use ---- */

GUEST_ASM(nul, ".code32",
          "mov $0x2b, %ax\n mov %ax, %fs\n"
          "push $0x2b\n push $0x8f00\n pushf\n push $0x23\n"
          "push $(0x10000 + nul_user - nul)\n iret\n"
          "nul_user: int $0x80\n");
extern const uint8_t nul_user[];

TEST(iret_to_ring3_nulls_dpl0_data_segments)
{
    h_init(&h, H_PROT32);
    ring3_gdt32();
    h_w8(&h, H_IDT + 0x80 * 8 + 5, 0xee);
    h_load(&h, nul, GUEST_LEN(nul));
    h_run(&h);
    /* the stub's store through DS=0 faults: #GP at CPL 0 in the stub */
    CHECK_EQ(h.c.seg[S_DS].sel, 0);
    CHECK_EQ(h.c.seg[S_ES].sel, 0);
    CHECK_EQ(h.c.seg[S_GS].sel, 0);
    CHECK_EQ(h.c.seg[S_FS].sel, 0x2b); /* DPL 3: kept */
    CHECK_EQ(h.c.seg[S_DS].attr & SEG_ATTR_P, 0);
    h_free(&h);
}

/* ---- an exception through a task gate ---- */

GUEST_ASM(tg, ".code32", "mov $0x30, %ax\n ltr %ax\n tg_ud: ud2\n hlt\n"
                         "tg_handler: pop %eax\n mov $9, %ebx\n hlt\n");
extern const uint8_t tg_ud[], tg_handler[];

TEST(exception_through_task_gate_runs_handler_task)
{
    h_init(&h, H_PROT32);
    two_tasks();
    h_w32(&h, TSS_B + 0x20, H_CODE + (uint32_t)(tg_handler - tg));
    /* IDT vector 6: task gate (type 5, P) to TSS 0x38 */
    h_w64(&h, H_IDT + 6 * 8, 0x38ull << 16 | 0x85ull << 40);
    h_load(&h, tg, GUEST_LEN(tg));
    h_run(&h);
    CHECK_EQ(h.c.regs[R_RBX], 9);
    CHECK_EQ(h.c.seg[S_TR].sel, 0x38);
    CHECK(h_flags(&h) & F_NT);
    CHECK_EQ(h_r16(&h, TSS_B), 0x30);
    /* the old task's EIP is the faulting UD2 */
    CHECK_EQ(h_r32(&h, TSS_A + 0x20), H_CODE + (uint64_t)(tg_ud - tg));
    h_free(&h);
}


/* ---- string I/O ---- */

GUEST_ASM(sio, ".code64",
          "mov $0x80, %dx\n mov $0x100000, %rsi\n mov $3, %ecx\n cld\n rep outsb\n"
          "mov %rsi, %r8\n mov %rcx, %r9\n"
          "mov $0x100100, %rdi\n mov $5000, %ecx\n rep insw\n"
          "mov %rdi, %r10\n mov %rcx, %r11\n"
          "std\n mov $0x100010, %rdi\n insl\n cld\n mov %rdi, %r12\n hlt");

TEST(rep_outs_and_ins_update_index_and_count)
{
    h_init(&h, H_LONG);
    h_w8(&h, H_DATA, 0x11);
    h_w8(&h, H_DATA + 1, 0x22);
    h_w8(&h, H_DATA + 2, 0x33);
    h_load(&h, sio, GUEST_LEN(sio));
    h_run(&h);
    CHECK_EQ(h_vector(&h), H_NOVEC);
    CHECK_EQ(h.last_out_port, 0x80);
    CHECK_EQ(h.last_out_val, 0x33);
    CHECK_EQ(h.c.regs[R_R8], H_DATA + 3);
    CHECK_EQ(h.c.regs[R_R9], 0);
    /* 5000 iterations: more than one chunk, restarted transparently */
    CHECK_EQ(h.c.regs[R_R10], H_DATA + 0x100 + 10000);
    CHECK_EQ(h.c.regs[R_R11], 0);
    CHECK_EQ(h_r16(&h, H_DATA + 0x100), 0xffff);
    CHECK_EQ(h_r16(&h, H_DATA + 0x100 + 9998), 0xffff);
    CHECK_EQ(h_r16(&h, H_DATA + 0x100 + 10000), 0);
    CHECK_EQ(h.c.regs[R_R12], H_DATA + 0x10 - 4); /* DF=1 */
    CHECK_EQ(h_r32(&h, H_DATA + 0x10), 0xffffffff);
    h_free(&h);
}

/* ---- segment-register loads: error codes ---- */

GUEST_ASM(sl, ".code32",
          "mov $0x23, %ax\n sl_ss: mov %ax, %ss\n hlt\n"
          "mov $0x38, %ax\n sl_np: mov %ax, %ds\n hlt\n"
          "mov $0x40, %ax\n sl_ssnp: mov %ax, %ss\n hlt\n"
          "mov $0x08, %ax\n sl_code: mov %ax, %ss\n hlt\n"
          "xor %eax, %eax\n mov %ax, %es\n sl_null: mov %es:0, %eax\n hlt\n");
extern const uint8_t sl_ss[], sl_np[], sl_ssnp[], sl_code[], sl_null[];

static void sl_step(uint64_t at, int vec, uint32_t err)
{
    h.c.halted = false;
    h.ram[H_VECTOR] = H_NOVEC;
    h.c.regs[R_RSP] = H_STACK;
    h_run(&h);
    CHECK_EQ(h_vector(&h), vec);
    CHECK_EQ(h_frame(&h, 0), err);
    CHECK_EQ(h_frame(&h, 1), H_CODE + at);
    h.c.rip = H_CODE + at + 2 + 1; /* past the faulting MOV and the HLT */
    h.c.seg[S_SS].sel = 0x10;
}

TEST(segment_loads_raise_the_documented_faults)
{
    h_init(&h, H_PROT32);
    h_w64(&h, H_GDT + 0x20, 0x00cff3000000ffffull); /* data DPL3 */
    h_w64(&h, H_GDT + 0x38, 0x00cf13000000ffffull); /* data, not present */
    h_w64(&h, H_GDT + 0x40, 0x00cf13000000ffffull);
    h.c.gdtr.limit = 0x47;
    h_load(&h, sl, GUEST_LEN(sl));
    sl_step((uint64_t)(sl_ss - sl), EXC_GP, 0x20);    /* SS RPL/DPL != CPL */
    sl_step((uint64_t)(sl_np - sl), EXC_NP, 0x38);    /* DS not present */
    sl_step((uint64_t)(sl_ssnp - sl), EXC_SS, 0x40);  /* SS not present */
    sl_step((uint64_t)(sl_code - sl), EXC_GP, 0x08);  /* SS = code */
    h.c.halted = false;
    h.ram[H_VECTOR] = H_NOVEC;
    h_run(&h);
    CHECK_EQ(h_vector(&h), EXC_GP);                   /* use of null ES */
    CHECK_EQ(h_frame(&h, 0), 0);
    CHECK_EQ(h_frame(&h, 1), H_CODE + (uint64_t)(sl_null - sl));
    CHECK_EQ(h.c.seg[S_ES].sel, 0);
    h_free(&h);
}

static const struct unit_test tests[] = {
    T(call_gate_switches_stack_copies_params_and_retf_returns_to_ring3),
    T(sysret_to_ring3_and_syscall_back),
    T(syscall_without_efer_sce_is_ud),
    T(iretq_to_compatibility_mode),
    T(task_call_nests_and_iret_returns),
    T(task_jmp_switches_busy_bits_and_sets_ts),
    T(io_bitmap_allows_and_denies_ports_at_cpl3),
    T(io_bitmap_beyond_tss_limit_is_gp),
    T(iret_to_ring3_nulls_dpl0_data_segments),
    T(exception_through_task_gate_runs_handler_task),
    T(rep_outs_and_ins_update_index_and_count),
    T(segment_loads_raise_the_documented_faults),
};
UNIT_MAIN(tests)
