/* disasm.h: one-instruction disassembly for traces and audit records
 * (Zydis, AT&T syntax like QEMU's -d in_asm). */
#ifndef PINVM_DISASM_H
#define PINVM_DISASM_H

#include <stddef.h>
#include <stdint.h>

/* Disassemble the instruction at bytes[0..len) executing at rip in a
 * code segment of code_size 2, 4 or 8 bytes. Writes a NUL-terminated text
 * to out. Returns the instruction length, or 0 if invalid (out then holds
 * "(bad)"). */
int disasm_one(const uint8_t *bytes, size_t len, uint64_t rip, int code_size,
               char *out, size_t outlen);

#endif
