/* smm_handler.h: the built-in SMI handler's bytes (smm_handler.c,
 * source in firmware/smm/smi_handler.s). */
#ifndef PINVM_SMM_HANDLER_H
#define PINVM_SMM_HANDLER_H

#include <stddef.h>
#include <stdint.h>

extern const uint8_t pinvm_smm_handler[], pinvm_smm_handler_end[];

static inline size_t smm_handler_size(void)
{
    return (size_t)(pinvm_smm_handler_end - pinvm_smm_handler);
}

#endif
