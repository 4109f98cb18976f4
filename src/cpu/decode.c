/* decode.c: x86-64 instruction decoder (first version: stubs). */
#include "cpu.h"
#include "decode.h"

uint64_t insn_ea(struct cpu *c, const struct insn *i)
{
    (void)c;
    (void)i;
    return 0;
}

int decode_insn(struct insn *i, const uint8_t *bytes, int avail,
                int code_size, bool *need_more)
{
    (void)i; (void)bytes; (void)avail; (void)code_size;
    if (need_more)
        *need_more = false;
    return 0;
}
