/* The run loop and the decoded-block cache: self-modifying code, page-
 * crossing and IP-wrapping instructions, the budget, code outside RAM,
 * and the -d in_asm trace. */
#include "cpu_harness.h"
#include "unit.h"

static struct harness h;

/* A store into the block that is running changes the very next
 * instruction of that block. */
GUEST_ASM(smc_same_block, ".code64",
          "movb $5, patch+1(%rip)\n"
          "patch: mov $0, %eax\n"
          "hlt");
TEST(store_into_running_block_changes_next_instruction)
{
    h_init(&h, H_LONG);
    h_load(&h, smc_same_block, GUEST_LEN(smc_same_block));
    h_run(&h);
    CHECK_EQ(h.c.regs[R_RAX], 5);
    CHECK_EQ(h_vector(&h), H_NOVEC);
    CHECK_EQ(h.c.icount, 3); /* the stopped block counted only the store */
    h_free(&h);
}

/* A function decoded and run once, then patched, then called again. */
GUEST_ASM(smc_patch_func, ".code64",
          "call f\n mov %eax, %ebx\n"
          "movl $42, f+1(%rip)\n"
          "call f\n hlt\n"
          "f: mov $7, %eax\n ret\n");
TEST(patched_function_is_redecoded)
{
    h_init(&h, H_LONG);
    h_load(&h, smc_patch_func, GUEST_LEN(smc_patch_func));
    h_run(&h);
    CHECK_EQ(h.c.regs[R_RBX], 7);
    CHECK_EQ(h.c.regs[R_RAX], 42);
    h_free(&h);
}

/* REP STOSB overwrites code that was already decoded (the loop body). */
GUEST_ASM(smc_rep, ".code64",
          "xor %ebx, %ebx\n mov $2, %esi\n"
          "1: call body\n"
          "lea body(%rip), %rdi\n mov $0x90, %al\n mov $3, %ecx\n rep stosb\n" /* inc ebx -> nops */
          "dec %esi\n jnz 1b\n hlt\n"
          "body: inc %ebx\n nop\n ret\n");
TEST(rep_stos_over_cached_code)
{
    h_init(&h, H_LONG);
    h_load(&h, smc_rep, GUEST_LEN(smc_rep));
    h_run(&h);
    CHECK_EQ(h.c.regs[R_RBX], 1); /* the second call ran the NOPs */
    h_free(&h);
}

/* mov eax, imm32 straddling the 4 KiB boundary at 0x11000 */
GUEST_ASM(cross_page, ".code64",
          ".fill 4094, 1, 0x90\n mov $0x12345678, %eax\n hlt");
TEST(instruction_crossing_a_page)
{
    h_init(&h, H_LONG);
    h_load(&h, cross_page, GUEST_LEN(cross_page));
    h_run(&h);
    CHECK_EQ(h.c.regs[R_RAX], 0x12345678);
    CHECK_EQ(h.c.rip, H_CODE + GUEST_LEN(cross_page));
    CHECK_EQ(h.c.icount, 4094 + 2);
    /* run it again from the cache: same result */
    h.c.rip = H_CODE;
    h.c.halted = false;
    h.c.regs[R_RAX] = 0;
    h_run(&h);
    CHECK_EQ(h.c.regs[R_RAX], 0x12345678);
    h_free(&h);
}

/* The second half of the instruction is on an unmapped page: #PF for the
 * fetch, reported at the instruction's start. */
TEST(crossing_into_unmapped_page_faults_at_start)
{
    h_init(&h, H_LONG);
    static const uint8_t part[] = { 0xb8, 0x78, 0x56 };
    memcpy(h.ram + 0x3ffffd, part, sizeof(part));
    h.c.rip = 0x3ffffd;
    h_run(&h);
    CHECK_EQ(h_vector(&h), EXC_PF);
    CHECK_EQ(h_frame(&h, 1), 0x3ffffd);
    CHECK(h_frame(&h, 0) & PFEC_I);
    CHECK_EQ(h.c.cr2, 0x400000);
    h_free(&h);
}

TEST(budget_stops_mid_block)
{
    static const uint8_t nops[] = { 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0xf4 };
    h_init(&h, H_LONG);
    h_load(&h, nops, sizeof(nops));
    CHECK_EQ(h_run_n(&h, 3), CPU_EXIT_BUDGET);
    CHECK_EQ(h.c.icount, 3);
    CHECK_EQ(h.c.rip, H_CODE + 3);
    CHECK_EQ(h_run(&h), CPU_EXIT_HLT);
    CHECK_EQ(h.c.icount, 7);
    h_free(&h);
}

/* 16-bit IP wraps from FFFF to 0 (within CS), also inside an instruction. */
TEST(real_mode_ip_wraps_at_64k)
{
    h_init(&h, H_REAL);
    h_seg(&h.c, S_CS, 0x2000, 0x20000, 0xffff, 0x9b);
    h.ram[0x2fffe] = 0x90;       /* nop */
    h.ram[0x2ffff] = 0xb8;       /* mov ax, 0x1234 (wraps after the opcode) */
    h.ram[0x20000] = 0x34;
    h.ram[0x20001] = 0x12;
    h.ram[0x20002] = 0xf4;
    h.c.rip = 0xfffe;
    cpu_state_changed(&h.c);
    h_run(&h);
    CHECK_EQ(h.c.regs[R_RAX] & 0xffff, 0x1234);
    CHECK_EQ(h.c.rip, 3);
    CHECK_EQ(h_vector(&h), H_NOVEC);
    h_free(&h);
}

/* Fetch from a physical address outside RAM must not crash: the bus
 * returns 0xff bytes here, which decode to FF /7 (#UD). */
TEST(fetch_outside_ram_is_harmless)
{
    h_init(&h, H_LONG);
    h_w64(&h, 0x5010, 0x400000 | 0x83); /* 4-6 MiB: beyond the 4 MiB RAM */
    cpu_state_changed(&h.c);
    h.c.rip = 0x400000;
    h_run(&h);
    CHECK_EQ(h_vector(&h), EXC_UD);
    CHECK_EQ(h_frame(&h, 0), 0x400000);
    h_free(&h);
}

/* Jcc rel16 in 32-bit code with a 66 prefix truncates EIP to 16 bits. */
TEST(jcc_with_16bit_operand_size_truncates_eip)
{
    h_init(&h, H_PROT32);
    static const uint8_t jmp16[] = { 0x66, 0xe9, 0x00, 0x00 }; /* jmp rel16 +0 */
    memcpy(h.ram + 0x12340, jmp16, sizeof(jmp16));
    h.ram[0x2344] = 0xf4;
    h.c.rip = 0x12340;
    h_run(&h);
    CHECK_EQ(h.c.rip, 0x2345);
    h_free(&h);
}

TEST(in_asm_log_prints_each_new_block)
{
    static const uint8_t code[] = { 0x31, 0xc0, 0xff, 0xc0, 0xf4 }; /* xor; inc; hlt */
    FILE *f = tmpfile();
    h_init(&h, H_LONG);
    h.log.out = f;
    h.log.mask = LOG_IN_ASM;
    h_load(&h, code, sizeof(code));
    h_run(&h);
    char buf[4096] = { 0 };
    rewind(f);
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = 0;
    /* QEMU 7.2's layout: address, bytes, mnemonic column */
    CHECK(strstr(buf, "----------------\nIN: \n") != NULL);
    CHECK(strstr(buf, "0x00010000:  31 c0                    xor") != NULL);
    CHECK(strstr(buf, "0x00010004:  f4                       hlt") != NULL);
    fclose(f);
    h_free(&h);
}

/* TF set by POPF: the trap comes after the instruction that follows. */
GUEST_ASM(tf_step, ".code64",
          "pushfq\n orl $0x100, (%rsp)\n popfq\n"
          "tf_first: nop\n tf_second: nop\n hlt");
extern const uint8_t tf_second[];
TEST(single_step_trap_after_next_instruction)
{
    h_init(&h, H_LONG);
    h_load(&h, tf_step, GUEST_LEN(tf_step));
    h_run(&h);
    CHECK_EQ(h_vector(&h), EXC_DB);
    CHECK_EQ(h_frame(&h, 0), H_CODE + (uint64_t)(tf_second - tf_step));
    CHECK(h.c.dr[6] & (1u << 14)); /* DR6.BS */
    h_free(&h);
}

/* DR0 execute breakpoint: #DB fault with the IP of the instruction. */
TEST(instruction_breakpoint_faults_before_it)
{
    static const uint8_t code[] = { 0x90, 0x90, 0x90, 0xf4 };
    h_init(&h, H_LONG);
    h_load(&h, code, sizeof(code));
    h.c.dr[0] = H_CODE + 2;
    h.c.dr[7] = 1; /* L0, R/W0 = 00 (execute) */
    h_run(&h);
    CHECK_EQ(h_vector(&h), EXC_DB);
    CHECK_EQ(h_frame(&h, 0), H_CODE + 2);
    CHECK_EQ(h.c.dr[6] & 0xf, 1);
    CHECK_EQ(h.c.icount, 2 + 2); /* two NOPs, then the stub's MOV and HLT */
    h_free(&h);
}

/* ---- threaded blocks and dead-flag elimination (threaded.c) ----
 * Random register-only sequences of flag writers (ADD..IMUL, shifts,
 * INC/DEC), partial writers (rotates: CF/OF; INC/DEC: all but CF), and
 * flag readers (ADC/SBB, SETcc, CMOVcc, RCL/RCR, Jcc, PUSHF) run once as
 * whole threaded blocks, where liveness replaces writers by their flag-free
 * twins, and once one instruction at a time through the plain handlers
 * (budget 1), which always compute every flag. Registers, flags and the
 * instruction count must agree. */
static uint64_t xs_state = 0x243f6a8885a308d3ull;
static uint32_t xs(void)
{
    return (uint32_t)(unit_xorshift64(&xs_state) >> 32);
}

static const uint8_t fl_regs[] = { 0, 1, 2, 3, 5, 6, 7 }; /* not rSP */

static unsigned fl_reg(void) { return fl_regs[xs() % sizeof(fl_regs)]; }

static size_t fl_insn(uint8_t *p)
{
    size_t n = 0;
    unsigned r = fl_reg(), s = fl_reg();
    bool w = xs() & 1;
    if (w)
        p[n++] = 0x48;
    switch (xs() % 14) {
    case 0: case 1: { /* ALU r/m, r: ADD OR ADC SBB AND SUB XOR CMP, TEST */
        static const uint8_t ops[] = { 0x01, 0x09, 0x11, 0x19, 0x21, 0x29, 0x31, 0x39, 0x85 };
        p[n++] = ops[xs() % sizeof(ops)];
        p[n++] = (uint8_t)(0xc0 | s << 3 | r);
        break;
    }
    case 2: case 3: /* ALU r/m, imm8 */
        p[n++] = 0x83;
        p[n++] = (uint8_t)(0xc0 | (xs() % 8) << 3 | r);
        p[n++] = (uint8_t)xs();
        break;
    case 4: case 5: /* shift/rotate by imm8 (any count, 0 included) */
        p[n++] = 0xc1;
        p[n++] = (uint8_t)(0xc0 | (xs() % 8) << 3 | r);
        p[n++] = (uint8_t)(xs() % 70);
        break;
    case 6: /* INC/DEC */
        p[n++] = 0xff;
        p[n++] = (uint8_t)(0xc0 | (xs() % 2) << 3 | r);
        break;
    case 7: /* NOT/NEG */
        p[n++] = 0xf7;
        p[n++] = (uint8_t)(0xc0 | (2 + xs() % 2) << 3 | r);
        break;
    case 8: /* IMUL r, r/m and IMUL r, r/m, imm8 */
        if (xs() & 1) {
            p[n++] = 0x0f;
            p[n++] = 0xaf;
            p[n++] = (uint8_t)(0xc0 | r << 3 | s);
        } else {
            p[n++] = 0x6b;
            p[n++] = (uint8_t)(0xc0 | r << 3 | s);
            p[n++] = (uint8_t)xs();
        }
        break;
    case 9: /* SETcc r8 (no REX: AL..BH) */
        n = 0;
        p[n++] = 0x0f;
        p[n++] = (uint8_t)(0x90 | xs() % 16);
        p[n++] = (uint8_t)(0xc0 | r);
        break;
    case 10: /* CMOVcc */
        p[n++] = 0x0f;
        p[n++] = (uint8_t)(0x40 | xs() % 16);
        p[n++] = (uint8_t)(0xc0 | r << 3 | s);
        break;
    case 11: /* MOV r, r / LEA r, [r + r*2 + 7] (no flags) */
        if (xs() & 1) {
            p[n++] = 0x89;
            p[n++] = (uint8_t)(0xc0 | s << 3 | r);
        } else {
            p[n++] = 0x8d;
            p[n++] = (uint8_t)(0x44 | r << 3);
            p[n++] = (uint8_t)(0x40 | s << 3 | r);
            p[n++] = 7;
        }
        break;
    case 12: { /* Jcc over the next instruction: reads flags; inside a
                * block, taken it leaves the block early (a side exit) */
        uint8_t next[16];
        size_t len = 0;
        while (len == 0 || next[0] == 0x9c) /* not PUSHF; POP: the stack */
            len = fl_insn(next);
        n = 0;
        p[n++] = (uint8_t)(0x70 | xs() % 16);
        p[n++] = (uint8_t)len;
        memcpy(p + n, next, len);
        n += len;
        break;
    }
    default: /* PUSHF; POP r */
        n = 0;
        p[n++] = 0x9c;
        p[n++] = (uint8_t)(0x58 | r);
        break;
    }
    return n;
}

static void fl_setup(struct harness *hh, const uint8_t *code, size_t len,
                     const uint64_t *regs, uint32_t fl)
{
    h_init(hh, H_LONG);
    h_load(hh, code, len);
    for (int r = 0; r < 8; r++)
        if (r != R_RSP)
            hh->c.regs[r] = regs[r];
    cpu_set_eflags(&hh->c, fl);
}

TEST(dead_flag_elimination_matches_plain_handlers)
{
    static struct harness a, b;
    int bad = 0;
    for (int t = 0; t < 400 && !bad; t++) {
        uint8_t code[2048];
        size_t len = 0;
        int count = 8 + (int)(xs() % 40);
        for (int k = 0; k < count; k++)
            len += fl_insn(code + len);
        code[len++] = 0x9c; /* PUSHF: the final flags land in memory too */
        code[len++] = 0xf4;
        uint64_t regs[8];
        for (int r = 0; r < 8; r++)
            regs[r] = (uint64_t)xs() << 32 | xs();
        uint32_t fl = 2 | (xs() & (0x8d5));
        fl_setup(&a, code, len, regs, fl);
        fl_setup(&b, code, len, regs, fl);
        CHECK_EQ(h_run(&a), CPU_EXIT_HLT);
        enum cpu_exit e;
        while ((e = cpu_run(&b.c, 1)) == CPU_EXIT_BUDGET)
            ;
        CHECK_EQ(e, CPU_EXIT_HLT);
        for (int r = 0; r < 16; r++)
            if (a.c.regs[r] != b.c.regs[r])
                bad = 1;
        if (h_flags(&a) != h_flags(&b) || a.c.icount != b.c.icount ||
            h_r64(&a, a.c.regs[R_RSP]) != h_r64(&b, b.c.regs[R_RSP]))
            bad = 1;
        if (bad)
            printf("  case %d: flags %#x vs %#x, icount %" PRIu64 " vs %" PRIu64 "\n",
                   t, h_flags(&a), h_flags(&b), a.c.icount, b.c.icount);
        CHECK(!bad);
        h_free(&a);
        h_free(&b);
    }
}

/* A fault between a flag writer and the instruction that overwrites its
 * flags: the frame holds the writer's flags (EFLAGS is visible at every
 * fault, so liveness must not drop them). */
GUEST_ASM(flags_at_fault, ".code64",
          "add %rbx, %rax\n"         /* CF=1, ZF=1 */
          "mov (%rcx), %rdx\n"       /* #PF: above the mapped 4 MiB */
          "xor %eax, %eax\n"         /* would overwrite every flag */
          "hlt");
TEST(flags_are_exact_at_a_fault_inside_a_block)
{
    h_init(&h, H_LONG);
    h_load(&h, flags_at_fault, GUEST_LEN(flags_at_fault));
    h.c.regs[R_RAX] = 1;
    h.c.regs[R_RBX] = ~0ull;
    h.c.regs[R_RCX] = 64ull << 20;
    h_run(&h);
    CHECK_EQ(h_vector(&h), EXC_PF);
    CHECK_EQ(h_frame(&h, 1), H_CODE + 3); /* the MOV */
    CHECK_EQ(h_frame(&h, 3) & (F_CF | F_ZF), F_CF | F_ZF);
    h_free(&h);
}

/* A block that jumps back to its own start runs pass after pass inside
 * the Jcc twin (ops_branch.c JCC_LOOP): the run budget still ends it on
 * the exact instruction, and a fault in a later pass names the right
 * instruction and counts every pass before it. */
GUEST_ASM(self_loop, ".code64",
          "mov $1000, %ecx\n"
          "1: dec %ecx\n jnz 1b\n"
          "hlt");
TEST(self_loop_block_stops_at_the_budget)
{
    h_init(&h, H_LONG);
    h_load(&h, self_loop, GUEST_LEN(self_loop));
    CHECK_EQ(h_run_n(&h, 777), CPU_EXIT_BUDGET);
    CHECK_EQ(h.c.icount, 777);
    CHECK_EQ(h.c.regs[R_RCX], 1000 - 388); /* MOV, then 388 passes */
    CHECK_EQ(h.c.rip, H_CODE + 5);         /* at the DEC */
    CHECK_EQ(h_run(&h), CPU_EXIT_HLT);
    CHECK_EQ(h.c.icount, 1 + 2000 + 1);
    CHECK_EQ(h.c.regs[R_RCX], 0);
    h_free(&h);
}

GUEST_ASM(self_loop_fault, ".code64",
          "mov $0x3f0000, %eax\n mov $100, %ecx\n"
          "1: mov (%rax), %rbx\n add $0x1000, %rax\n dec %ecx\n"
          "self_loop_fault_jnz: jnz 1b\n"
          "hlt");
extern const uint8_t self_loop_fault_jnz[];
TEST(fault_in_a_later_pass_of_a_self_loop)
{
    h_init(&h, H_LONG);
    h_load(&h, self_loop_fault, GUEST_LEN(self_loop_fault));
    h_run(&h);
    CHECK_EQ(h_vector(&h), EXC_PF);
    CHECK_EQ(h.c.cr2, 0x400000); /* the 17th pass: 16 pages were mapped */
    CHECK_EQ(h_frame(&h, 1), H_CODE + 10); /* its MOV (%rax) */
    CHECK_EQ(h.c.regs[R_RCX], 100 - 16);
    /* 2 MOVs + 16 passes of 4 before the fault; then the stub's 2 */
    CHECK_EQ(h.c.icount, 2 + 16 * 4 + 2);
    h_free(&h);
}

static const struct unit_test tests[] = {
    T(self_loop_block_stops_at_the_budget), T(fault_in_a_later_pass_of_a_self_loop),
    T(flags_are_exact_at_a_fault_inside_a_block),
    T(dead_flag_elimination_matches_plain_handlers),
    T(single_step_trap_after_next_instruction),
    T(instruction_breakpoint_faults_before_it),
    T(store_into_running_block_changes_next_instruction),
    T(patched_function_is_redecoded), T(rep_stos_over_cached_code),
    T(instruction_crossing_a_page), T(crossing_into_unmapped_page_faults_at_start),
    T(budget_stops_mid_block), T(real_mode_ip_wraps_at_64k),
    T(fetch_outside_ram_is_harmless), T(jcc_with_16bit_operand_size_truncates_eip),
    T(in_asm_log_prints_each_new_block),
};
UNIT_MAIN(tests)
