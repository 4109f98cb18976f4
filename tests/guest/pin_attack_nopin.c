// @pinvm-args: -cpu max,-cr-pin
/* Baseline for pin_attack.c: without CR pinning the same ROP chain clears
 * SMEP and the kernel executes the attacker's user page. */
#define PIN_ATTACK_NOPIN 1
#include "pin_attack.c"
