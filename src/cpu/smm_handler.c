/* smm_handler.c: embeds pinvm's built-in SMI handler, whose source is
 * firmware/smm/smi_handler.s (16-bit GNU assembler), into the library.
 * The assembler reads it at build time (paths are from the top of the
 * tree, where make runs); src/machine/apm.c copies the bytes into SMRAM. */
#include "smm_handler.h"

__asm__(".include \"firmware/smm/smi_handler.s\"");
