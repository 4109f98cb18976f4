// @pinvm-args: -smp 2
// @qemu-args: -smp 2
/* SMP bring-up with 2 vCPUs: see smp_boot.h. */
#define EXPECT_CPUS 2
#include "smp_boot.h"
