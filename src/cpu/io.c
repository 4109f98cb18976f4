/* io.c: IN/OUT/INS/OUTS through the machine bus, with the I/O permission
 * check of SDM Vol 1 19.5 (CPL > IOPL: consult the TSS I/O bitmap). */
#include "sys.h"
#include "sysops.h"

/* SDM Vol 1 19.5.2: the bitmap starts at the 16-bit offset at TSS+0x66;
 * every bit for port..port+size-1 must be 0, and the bytes read must lie
 * within the TSS limit, else #GP(0). */
void io_check(struct cpu *c, uint16_t port, int size)
{
    if (c->mode == MODE_REAL || (c->mode != MODE_V86 && c->cpl <= cpu_iopl(c)))
        return;
    const struct seg *tr = &c->seg[S_TR];
    unsigned t = tr->attr & 0xf;
    /* only a 32/64-bit TSS has a bitmap */
    if (!(tr->attr & SEG_ATTR_P) || (t != DT_TSS32_AVAIL && t != DT_TSS32_BUSY) ||
        tr->limit < 0x67)
        sys_fault(c, EXC_GP, 0, "I/O at CPL > IOPL: TR is not a 32/64-bit TSS with limit >= 0x67");
    uint64_t base = tr->base;
    uint32_t iomap = (uint32_t)lin_read_sys(c, cpu_long_mode(c) ? base + 0x66 : (uint32_t)(base + 0x66), 2);
    uint32_t off = iomap + port / 8;
    if (off + 1 > tr->limit) /* two bytes are read: port bits may straddle */
        sys_fault(c, EXC_GP, 0, "I/O at CPL > IOPL: bitmap byte beyond the TSS limit");
    uint64_t a = base + off;
    uint32_t bits = (uint32_t)lin_read_sys(c, cpu_long_mode(c) ? a : (uint32_t)a, 2);
    uint32_t mask = ((1u << size) - 1) << (port & 7);
    if (bits & mask)
        sys_fault(c, EXC_GP, 0, "I/O at CPL > IOPL: port not allowed by the TSS I/O bitmap");
}

static uint32_t port_in(struct cpu *c, uint16_t port, int size)
{
    if (!c->bus || !c->bus->io_in)
        return (uint32_t)sys_mask(size);
    return (uint32_t)(c->bus->io_in(c->bus->opaque, c, port, size) & sys_mask(size));
}

static void port_out(struct cpu *c, uint16_t port, int size, uint32_t v)
{
    if (c->bus && c->bus->io_out)
        c->bus->io_out(c->bus->opaque, c, port, size, (uint32_t)(v & sys_mask(size)));
}

/* Operand size of IN/OUT: byte for the even opcodes, else 2 or 4. */
static int io_size(const struct insn *i)
{
    if (!(i->opcode & 1))
        return 1;
    return i->opsize == 2 ? 2 : 4;
}

static void set_acc(struct cpu *c, int size, uint32_t v)
{
    if (size == 1)
        c->regs[R_RAX] = (c->regs[R_RAX] & ~0xffull) | (v & 0xff);
    else
        sys_reg_set(c, R_RAX, size, v);
}

void op_in_imm(struct cpu *c, const struct insn *i)
{
    int sz = io_size(i);
    uint16_t port = (uint16_t)(i->imm & 0xff);
    io_check(c, port, sz);
    set_acc(c, sz, port_in(c, port, sz));
}

void op_in_dx(struct cpu *c, const struct insn *i)
{
    int sz = io_size(i);
    uint16_t port = (uint16_t)c->regs[R_RDX];
    io_check(c, port, sz);
    set_acc(c, sz, port_in(c, port, sz));
}

void op_out_imm(struct cpu *c, const struct insn *i)
{
    int sz = io_size(i);
    uint16_t port = (uint16_t)(i->imm & 0xff);
    io_check(c, port, sz);
    port_out(c, port, sz, (uint32_t)c->regs[R_RAX]);
}

void op_out_dx(struct cpu *c, const struct insn *i)
{
    int sz = io_size(i);
    uint16_t port = (uint16_t)c->regs[R_RDX];
    io_check(c, port, sz);
    port_out(c, port, sz, (uint32_t)c->regs[R_RAX]);
}

/* Iterations of one REP INS/OUTS before the instruction restarts itself,
 * so pending interrupts are taken (as QEMU does for long string ops). */
#define IO_REP_CHUNK 4096

/* Index register update at the address size: 16-bit wraps within the low
 * word, 32-bit zero-extends (SDM Vol 1 3.3.7). */
static void addr_reg_set(struct cpu *c, unsigned r, int asz, uint64_t v)
{
    sys_reg_set(c, r, asz, v);
}

static void string_io(struct cpu *c, const struct insn *i, bool in)
{
    int sz = io_size(i);
    int asz = i->addrsize;
    uint64_t am = sys_mask(asz);
    uint16_t port = (uint16_t)c->regs[R_RDX];
    int64_t step = (cpu_get_eflags(c) & F_DF) ? -sz : sz;
    unsigned idx = in ? R_RDI : R_RSI;

    io_check(c, port, sz);
    if (!i->rep) {
        uint64_t a = c->regs[idx] & am;
        if (in) {
            mem_check_write(c, S_ES, a, sz); /* fault before the port read */
            mem_write(c, S_ES, a, sz, port_in(c, port, sz));
        } else {
            port_out(c, port, sz, (uint32_t)mem_read(c, i->seg, a, sz));
        }
        addr_reg_set(c, idx, asz, a + (uint64_t)step);
        return;
    }
    for (int n = 0; n < IO_REP_CHUNK; n++) {
        uint64_t cnt = c->regs[R_RCX] & am;
        if (cnt == 0)
            return;
        uint64_t a = c->regs[idx] & am;
        if (in) {
            mem_check_write(c, S_ES, a, sz);
            mem_write(c, S_ES, a, sz, port_in(c, port, sz));
        } else {
            port_out(c, port, sz, (uint32_t)mem_read(c, i->seg, a, sz));
        }
        /* commit each iteration: a fault restarts with the rest */
        addr_reg_set(c, idx, asz, a + (uint64_t)step);
        addr_reg_set(c, R_RCX, asz, cnt - 1);
    }
    if (c->regs[R_RCX] & am)
        c->next_rip = c->rip; /* more to do: run this instruction again */
}

void op_ins(struct cpu *c, const struct insn *i) { string_io(c, i, true); }
void op_outs(struct cpu *c, const struct insn *i) { string_io(c, i, false); }
