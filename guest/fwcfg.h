/* fwcfg.h: QEMU fw_cfg over I/O ports (selector 0x510, data 0x511). */
#ifndef GUEST_FWCFG_H
#define GUEST_FWCFG_H

#include "processor.h"

#define FW_CFG_PORT_SEL  0x510
#define FW_CFG_PORT_DATA 0x511

#define FW_CFG_SIGNATURE 0x00   /* "QEMU" */
#define FW_CFG_ID        0x01
#define FW_CFG_RAM_SIZE  0x03   /* u64, bytes */
#define FW_CFG_NB_CPUS   0x05   /* u16 */
#define FW_CFG_MAX_CPUS  0x0f   /* u16 */

/* Select `key` and read `len` bytes of its item into buf. */
void fw_cfg_read(u16 key, void *buf, unsigned len);
/* Item `key` as a little-endian integer of `len` (1..8) bytes. */
u64 fw_cfg_read_int(u16 key, unsigned len);

#endif
