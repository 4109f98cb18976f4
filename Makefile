# pinvm build. `make` builds build/pinvm; `make test` runs the whole suite;
# `make test-asan` runs it again under ASan+UBSan (in build-asan/).
# Sources are found by wildcard: a new .c file in src/ needs no edit here.

BUILD    ?= build
CC       ?= gcc
OPT      ?= -O2
SAN      ?=
CFLAGS   ?= $(OPT) -g
WERROR   ?= -Werror
override CFLAGS += -std=gnu17 -Wall -Wextra $(WERROR) -MMD -MP -Isrc $(SAN)
LDLIBS   += -lZydis -ljansson -lzstd -lm
LDFLAGS  += $(SAN)

VERSION  := 0.1.0
override CFLAGS += -DPINVM_VERSION='"$(VERSION)"'

SRCS     := $(shell find src -name '*.c' | sort)
LIB_SRCS := $(filter-out src/main.c,$(SRCS))
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/obj/%.o)
UNIT_SRCS:= $(sort $(wildcard tests/unit/test_*.c))
UNIT_BINS:= $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)

.PHONY: all test test-asan check unit guests clean bench difftest fuzz coverage demo
all: $(BUILD)/pinvm

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/libpinvm.a: $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/pinvm: $(BUILD)/obj/src/main.o $(BUILD)/libpinvm.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c tests/unit/unit.h $(BUILD)/libpinvm.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/unit -o $@ $< $(BUILD)/libpinvm.a $(LDFLAGS) $(LDLIBS)

unit: $(UNIT_BINS)

# Guest kernels (test kernels, demo, benchmarks): rules in guest/guest.mk.
-include guest/guest.mk

test: all unit guests
	BUILD=$(BUILD) tests/run-tests.sh

test-asan:
	$(MAKE) BUILD=build-asan OPT=-O1 SAN="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer" test

# The README's test command: the suite, then again under ASan+UBSan.
check:
	$(MAKE) test
	$(MAKE) test-asan

demo: all guests
	demo/run.sh

# Benchmarks side by side with QEMU TCG (bench/run.py; README "Performance").
# Never part of `make test`. BENCH_ARGS e.g. "--only alu,mem --no-rss".
BENCH_RUNS  ?= 3
BENCH_SCALE ?= 1
BENCH_ARGS  ?=
bench: all guests
	python3 bench/run.py --build $(BUILD) --runs $(BENCH_RUNS) --scale $(BENCH_SCALE) $(BENCH_ARGS)

clean:
	rm -rf build build-asan

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
