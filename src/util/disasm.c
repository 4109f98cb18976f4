/* disasm.c: one-instruction disassembly with Zydis 4.0 (see disasm.h). */
#include "disasm.h"

#include <stdio.h>
#include <string.h>

#include <Zydis/Zydis.h>

static void put_bad(char *out, size_t outlen)
{
    if (outlen)
        snprintf(out, outlen, "(bad)");
}

int disasm_one(const uint8_t *bytes, size_t len, uint64_t rip, int code_size,
               char *out, size_t outlen)
{
    ZydisMachineMode mode;
    ZydisStackWidth width;
    ZydisDecoder dec;
    ZydisFormatter fmt;
    ZydisDecodedInstruction insn;
    ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];

    switch (code_size) {
    case 8:
        mode = ZYDIS_MACHINE_MODE_LONG_64;
        width = ZYDIS_STACK_WIDTH_64;
        break;
    case 4:
        mode = ZYDIS_MACHINE_MODE_LEGACY_32;
        width = ZYDIS_STACK_WIDTH_32;
        break;
    case 2:
        mode = ZYDIS_MACHINE_MODE_LEGACY_16;
        width = ZYDIS_STACK_WIDTH_16;
        break;
    default:
        put_bad(out, outlen);
        return 0;
    }
    /* Both inits only fill in the structs: cheap enough per call, and it
     * keeps this module free of shared state. */
    if (!ZYAN_SUCCESS(ZydisDecoderInit(&dec, mode, width)) ||
        !ZYAN_SUCCESS(ZydisFormatterInit(&fmt, ZYDIS_FORMATTER_STYLE_ATT)) ||
        /* QEMU/objdump look: lowercase hex, no zero padding. */
        !ZYAN_SUCCESS(ZydisFormatterSetProperty(
            &fmt, ZYDIS_FORMATTER_PROP_HEX_UPPERCASE, ZYAN_FALSE)) ||
        !ZYAN_SUCCESS(ZydisFormatterSetProperty(
            &fmt, ZYDIS_FORMATTER_PROP_ADDR_PADDING_ABSOLUTE,
            ZYDIS_PADDING_DISABLED)) ||
        !ZYAN_SUCCESS(ZydisFormatterSetProperty(
            &fmt, ZYDIS_FORMATTER_PROP_ADDR_PADDING_RELATIVE,
            ZYDIS_PADDING_DISABLED)) ||
        !ZYAN_SUCCESS(ZydisDecoderDecodeFull(&dec, bytes, len, &insn, ops))) {
        put_bad(out, outlen);
        return 0;
    }
    if (outlen == 0)
        return insn.length;
    /* 16/32-bit runtime addresses wrap like EIP/IP do. */
    if (code_size != 8)
        rip &= code_size == 4 ? 0xffffffffull : 0xffffull;
    if (!ZYAN_SUCCESS(ZydisFormatterFormatInstruction(
            &fmt, &insn, ops, insn.operand_count_visible, out, outlen, rip,
            NULL))) {
        /* Decoded, but the text did not fit: "(bad)" and 0, as disasm.h
         * promises, rather than a length without its text. */
        put_bad(out, outlen);
        return 0;
    }
    return insn.length;
}
