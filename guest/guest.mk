# guest/guest.mk: guest kernels (included by the top Makefile).
# One C file = one kernel: tests/guest/NAME.c, demo/NAME.c, bench/guest/NAME.c
# -> $(BUILD)/guest/NAME.elf (ELF32, Multiboot v1, as QEMU -kernel wants;
# NAME.elf64 is the same image as ELF64, for objdump/gdb).
# Flags are independent of CFLAGS/SAN: the host compiler may be clang or
# carry sanitizers; the emulated CPU has no x87/SSE. No jump tables: a
# switch in a USER_TEXT function must not read the supervisor .rodata.
# Address 0 is ordinary memory here: no null-pointer assumptions.

GUEST_CC      ?= gcc
GUEST_OBJCOPY ?= objcopy
# Flags only some compilers know (gcc: no memset calls made from loops).
guest_cc_option = $(shell $(GUEST_CC) -Werror $(1) -c -x c /dev/null -o /dev/null 2>/dev/null && echo $(1))
GUEST_CFLAGS  := -m64 -std=gnu17 -ffreestanding -fno-pic -fno-pie \
    -mno-red-zone -mgeneral-regs-only -mno-sse -mno-mmx -mno-80387 \
    -fno-stack-protector -fno-builtin -fno-jump-tables -fno-delete-null-pointer-checks \
    $(call guest_cc_option,-fno-tree-loop-distribute-patterns) \
    -fno-asynchronous-unwind-tables -fcf-protection=none -nostdlib -O2 -g \
    -Wall -Wextra $(WERROR) -Iguest -MMD -MP
GUEST_LDFLAGS := -m64 -nostdlib -static -Wl,-T,guest/link.ld \
    -Wl,-z,max-page-size=0x1000 -Wl,--build-id=none -Wl,--no-warn-rwx-segments

GUEST_LIB_SRCS := $(sort $(wildcard guest/*.c guest/*.S))
GUEST_LIB_OBJS := $(GUEST_LIB_SRCS:%=$(BUILD)/guest/obj/%.o)
GUEST_SRCS     := $(sort $(wildcard tests/guest/*.c demo/*.c bench/guest/*.c))
GUEST_ELFS     := $(addprefix $(BUILD)/guest/,$(notdir $(GUEST_SRCS:.c=.elf)))

.PHONY: guests
guests: $(GUEST_ELFS)

$(BUILD)/guest/obj/%.c.o: %.c guest/guest.mk
	@mkdir -p $(dir $@)
	$(GUEST_CC) $(GUEST_CFLAGS) -c $< -o $@

$(BUILD)/guest/obj/%.S.o: %.S guest/guest.mk
	@mkdir -p $(dir $@)
	$(GUEST_CC) $(GUEST_CFLAGS) -c $< -o $@

define guest_kernel_rule
$(BUILD)/guest/%.elf: $(BUILD)/guest/obj/$(1)/%.c.o $(GUEST_LIB_OBJS) guest/link.ld
	$$(GUEST_CC) $$(GUEST_LDFLAGS) -o $$(@:.elf=.elf64) $$< $$(GUEST_LIB_OBJS)
	$$(GUEST_OBJCOPY) -O elf32-i386 $$(@:.elf=.elf64) $$@
endef
$(eval $(call guest_kernel_rule,tests/guest))
$(eval $(call guest_kernel_rule,demo))
$(eval $(call guest_kernel_rule,bench/guest))

# QMP test kernels (tests/qmp/guest/*.c): driven over the control socket by
# tests/qmp/run.sh, not by run-tests.sh (pin_loop never ends on its own).
QMP_GUEST_SRCS := $(sort $(wildcard tests/qmp/guest/*.c))
guests: $(addprefix $(BUILD)/guest/,$(notdir $(QMP_GUEST_SRCS:.c=.elf)))
$(eval $(call guest_kernel_rule,tests/qmp/guest))
.SECONDARY: $(QMP_GUEST_SRCS:%=$(BUILD)/guest/obj/%.o)

.SECONDARY: $(GUEST_SRCS:%=$(BUILD)/guest/obj/%.o) $(GUEST_LIB_OBJS)

-include $(shell find $(BUILD)/guest/obj -name '*.d' 2>/dev/null)

# Snapshot test kernels (tests/snapshot/guest/*.c): driven over QMP by
# tests/snapshot/run.sh (they are migrated midway), not by run-tests.sh.
SNAP_GUEST_SRCS := $(sort $(wildcard tests/snapshot/guest/*.c))
guests: $(addprefix $(BUILD)/guest/,$(notdir $(SNAP_GUEST_SRCS:.c=.elf)))
$(eval $(call guest_kernel_rule,tests/snapshot/guest))
.SECONDARY: $(SNAP_GUEST_SRCS:%=$(BUILD)/guest/obj/%.o)

# Snapshot benchmark kernels (bench/snapshot/guest/*.c): bench/snapshot/run.py.
SNAP_BENCH_SRCS := $(sort $(wildcard bench/snapshot/guest/*.c))
guests: $(addprefix $(BUILD)/guest/,$(notdir $(SNAP_BENCH_SRCS:.c=.elf)))
$(eval $(call guest_kernel_rule,bench/snapshot/guest))
.SECONDARY: $(SNAP_BENCH_SRCS:%=$(BUILD)/guest/obj/%.o)
