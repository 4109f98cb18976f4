/* crc32c.h: CRC-32C (Castagnoli), the snapshot format's checksum.
 * SSE4.2's crc32 instruction when the host has it, else a table. */
#ifndef PINVM_SNAPSHOT_CRC32C_H
#define PINVM_SNAPSHOT_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Continue a CRC: start with crc = 0; crc32c(crc32c(0, a), b) is the
 * CRC of a followed by b. crc32c(0, "123456789", 9) = 0xe3069283. */
uint32_t crc32c(uint32_t crc, const void *buf, size_t len);

#endif
