// @pinvm-args: -smp 4
// @qemu-args: -smp 4
/* SMP bring-up with 4 vCPUs: see smp_boot.h. */
#define EXPECT_CPUS 4
#include "smp_boot.h"
