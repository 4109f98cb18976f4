// @pinvm-args: -smp 64
// @qemu-args: -smp 64
// @timeout: 60
/* SMP bring-up with 64 vCPUs (pinvm's maximum): see smp_boot.h. */
#define EXPECT_CPUS 64
#include "smp_boot.h"
