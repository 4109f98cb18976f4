/* flags.h: lazy arithmetic flags. OWNED BY the decoder/ALU part of the core.
 * (Placeholder layout; the owner refines it.) */
#ifndef PINVM_FLAGS_H
#define PINVM_FLAGS_H

#include <stdint.h>

struct lazyflags {
    uint64_t res;  /* result of the last flag-setting operation */
    uint64_t src1; /* first operand */
    uint64_t src2; /* second operand */
    uint32_t op;   /* which operation and width produced them */
    uint32_t aux;  /* saved bits (e.g. CF across INC/DEC) */
};

#endif
