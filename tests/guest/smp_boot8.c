// @pinvm-args: -smp 8
// @qemu-args: -smp 8
/* SMP bring-up with 8 vCPUs: see smp_boot.h. */
#define EXPECT_CPUS 8
#include "smp_boot.h"
