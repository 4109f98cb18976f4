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

.PHONY: all test test-asan check fuzz-build fuzz-smoke fuzz-lib unit guests clean bench difftest fuzz coverage demo
all: $(BUILD)/pinvm

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

# SMM: the built-in SMI handler's source, read by the assembler through
# .include in src/cpu/smm_handler.c (docs/smm.md).
$(BUILD)/obj/src/cpu/smm_handler.o: firmware/smm/smi_handler.s

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

# Fuzzing (libFuzzer, clang, ASan+UBSan): harnesses are fuzz/fuzz_*.c.
# `make fuzz FUZZ_TIME=600` runs each for that many seconds; the suite runs
# `fuzz-smoke`: a fixed number of seeded runs over the seed corpus.
FUZZ_BUILD := build-fuzz
FUZZ_SAN   := -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_SRCS  := $(sort $(wildcard fuzz/fuzz_*.c))
FUZZ_BINS  := $(FUZZ_SRCS:fuzz/%.c=$(FUZZ_BUILD)/%)
FUZZ_TIME  ?= 60
FUZZ_RUNS  ?= 1500
# -timeout: one input running longer is a hang (a failure); -rss_limit_mb
# bounds memory. New inputs go to $(FUZZ_BUILD)/corpus (or smoke/), never
# into fuzz/corpus: reduced, meaningful cases are copied there by hand.
FUZZ_OPTS  := -max_len=65536 -timeout=10 -rss_limit_mb=2048

# The library is brought up to date by a sub-make every time (fuzz-force);
# a harness is relinked only when the archive or its source changed.
.PHONY: fuzz-force
fuzz-lib: $(FUZZ_BUILD)/libpinvm.a
ifneq ($(BUILD),$(FUZZ_BUILD))
$(FUZZ_BUILD)/libpinvm.a: fuzz-force
	$(MAKE) BUILD=$(FUZZ_BUILD) CC=clang OPT="-O1" SAN="$(FUZZ_SAN) -fsanitize=fuzzer-no-link" $(FUZZ_BUILD)/libpinvm.a
endif

$(FUZZ_BUILD)/fuzz_%: fuzz/fuzz_%.c $(FUZZ_BUILD)/libpinvm.a tests/unit/cpu_harness.h
	clang -std=gnu17 -g -O1 -Wall -Wextra -Werror -Isrc -Itests/unit $(FUZZ_SAN) -fsanitize=fuzzer \
	    -o $@ $< $(FUZZ_BUILD)/libpinvm.a $(LDLIBS)

fuzz-build: $(FUZZ_BINS)

fuzz: fuzz-build
	@for f in $(FUZZ_BINS); do n=$${f##*/fuzz_}; mkdir -p $(FUZZ_BUILD)/corpus/$$n; \
	    echo "== $$n for $(FUZZ_TIME)s"; \
	    $$f -max_total_time=$(FUZZ_TIME) $(FUZZ_OPTS) -print_final_stats=1 \
	        -artifact_prefix=$(FUZZ_BUILD)/ $(FUZZ_BUILD)/corpus/$$n fuzz/corpus/$$n || exit 1; done

# The suite's slice: FUZZ_RUNS seeded runs per harness over the seed corpus
# (mutations start from the seeds; the scratch corpus is emptied first).
fuzz-smoke: fuzz-build
	@for f in $(FUZZ_BINS); do n=$${f##*/fuzz_}; rm -rf $(FUZZ_BUILD)/smoke/$$n; mkdir -p $(FUZZ_BUILD)/smoke/$$n; \
	    $$f -seed=1 -runs=$(FUZZ_RUNS) -max_total_time=90 $(FUZZ_OPTS) -artifact_prefix=$(FUZZ_BUILD)/ \
	        $(FUZZ_BUILD)/smoke/$$n fuzz/corpus/$$n >$(FUZZ_BUILD)/$$n.log 2>&1 \
	        || { tail -n 40 $(FUZZ_BUILD)/$$n.log; echo "fuzz $$n: FAILED (log: $(FUZZ_BUILD)/$$n.log)"; exit 1; }; \
	    echo "fuzz $$n: $(FUZZ_RUNS) seeded runs, no crash"; done

# Differential testing against the host CPU (tests/difftest/difftest.c):
# `make difftest N=100000 SEED=7` runs that many generated cases; the suite
# runs $(BUILD)/tests/test_difftest (a bounded seeded slice + the regression
# list) with the unit tests. The decoder cross-check against Zydis
# (tests/difftest/decode_xcheck.c) runs in the suite too.
N    ?= 20000
SEED ?= 1
DIFFTEST_BINS := $(BUILD)/tests/test_difftest $(BUILD)/tests/test_decode_xcheck
$(BUILD)/tests/test_difftest: tests/difftest/difftest.c tests/unit/cpu_harness.h $(BUILD)/libpinvm.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/unit -o $@ $< $(BUILD)/libpinvm.a $(LDFLAGS) $(LDLIBS)
$(BUILD)/tests/test_decode_xcheck: tests/difftest/decode_xcheck.c $(BUILD)/libpinvm.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/unit -o $@ $< $(BUILD)/libpinvm.a $(LDFLAGS) $(LDLIBS)
unit: $(DIFFTEST_BINS)
# EXC_SEEDS: how many seeds of the exception-delivery kernel (exc_random)
# to compare with QEMU, starting at SEED.
EXC_SEEDS ?= 50
difftest: $(DIFFTEST_BINS) $(BUILD)/pinvm $(BUILD)/guest/exc_random.elf
	$(BUILD)/tests/test_difftest -n $(N) -s $(SEED)
	$(BUILD)/tests/test_decode_xcheck -n $(N) -s $(SEED)
	BUILD=$(BUILD) tests/difftest/exc_seeds.sh $(SEED) $$(($(SEED) + $(EXC_SEEDS) - 1))

# Coverage (gcov + lcov): line and branch coverage of src/ from the unit
# tests and the guest kernels on pinvm (QEMU is not run: only pinvm's
# counters matter). Report: $(COV_BUILD)/coverage.txt, HTML in
# $(COV_BUILD)/html; the pinning module's branches are listed separately.
COV_BUILD := build-cov
LCOV      := lcov --rc lcov_branch_coverage=1
coverage:
	find $(COV_BUILD) -name '*.gcda' -delete 2>/dev/null || true
	$(MAKE) BUILD=$(COV_BUILD) OPT=-O0 WERROR= SAN=--coverage all unit guests
	-BUILD=$(COV_BUILD) QEMU=no-qemu-for-coverage tests/run-tests.sh >$(COV_BUILD)/tests.log 2>&1
	$(LCOV) --quiet --capture --directory $(COV_BUILD)/obj --base-directory . -o $(COV_BUILD)/all.info
	$(LCOV) --quiet --extract $(COV_BUILD)/all.info '$(CURDIR)/src/*' -o $(COV_BUILD)/coverage.info
	@echo "src/:" >$(COV_BUILD)/coverage.txt
	@$(LCOV) --summary $(COV_BUILD)/coverage.info 2>&1 | grep -E 'lines|functions|branches' >>$(COV_BUILD)/coverage.txt
	@$(LCOV) --quiet --extract $(COV_BUILD)/coverage.info '*/src/pin/crpin.c' -o $(COV_BUILD)/crpin.info
	@echo "src/pin/crpin.c:" >>$(COV_BUILD)/coverage.txt
	@$(LCOV) --summary $(COV_BUILD)/crpin.info 2>&1 | grep -E 'lines|branches' >>$(COV_BUILD)/coverage.txt
	@cat $(COV_BUILD)/coverage.txt
	@grep -A2 'crpin.c' $(COV_BUILD)/coverage.txt | grep -q 'branches.*: 100.0%' \
	    || { echo "coverage: src/pin/crpin.c has an uncovered branch"; exit 1; }
	-genhtml --quiet --branch-coverage $(COV_BUILD)/coverage.info -o $(COV_BUILD)/html

# The README's test command: the suite, then again under ASan+UBSan.
check:
	$(MAKE) test
	$(MAKE) fuzz-smoke
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
	rm -rf build build-asan build-fuzz build-cov

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
