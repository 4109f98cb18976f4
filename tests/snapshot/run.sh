#!/usr/bin/env bash
# Snapshot/migration tests: tests/snapshot/test_snap_unit.c (the stream
# layer without a machine, built here against $BUILD/libpinvm.a with
# ASan+UBSan), then tests/snapshot/test_snapshot.py against pinvm running
# tests/snapshot/guest/snap_pin.c. Last line: "N passed, M failed"; exit
# status 0 iff M = 0.
#
#   BUILD=build tests/snapshot/run.sh [-k SUBSTRING]
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
CC=${CC:-gcc}
PINVM=${PINVM:-$BUILD/pinvm}
KERNEL=${KERNEL:-$BUILD/guest/snap_pin.elf}
mkdir -p "$BUILD/tests"
if [ ! -x "$PINVM" ] || [ ! -f "$KERNEL" ] || [ ! -f "$BUILD/libpinvm.a" ]; then
    echo "$PINVM, $BUILD/libpinvm.a or $KERNEL not built (make all guests)"
    echo "0 passed, 1 failed"
    exit 1
fi

# summary FILE: "P F" from its last "N passed, M failed" line (0 1 if none)
summary() {
    sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p' "$1" | tail -n 1 | grep . || echo "0 1"
}

up=0; uf=0
UNIT=$BUILD/tests/snap_unit # not test_*: run-tests.sh would run a stale copy
if $CC -std=gnu17 -O1 -g -Wall -Wextra -Werror -Isrc -Itests/unit \
        -fsanitize=address,undefined -fno-sanitize-recover=all \
        -o "$UNIT" tests/snapshot/test_snap_unit.c "$BUILD/libpinvm.a" \
        -lZydis -ljansson -lzstd -lm; then
    timeout 120 "$UNIT" >"$BUILD/tests/snap_unit.log" 2>&1
    urc=$?
    cat "$BUILD/tests/snap_unit.log"
    read -r up uf <<<"$(summary "$BUILD/tests/snap_unit.log")"
    [ "$urc" = 0 ] || [ "$uf" != 0 ] || uf=1
else
    echo "test_snap_unit does not build"
    uf=1
fi

timeout --kill-after=10 900 python3 tests/snapshot/test_snapshot.py \
    --pinvm "$PINVM" --kernel "$KERNEL" "$@" | tee "$BUILD/tests/snapshot.log"
rc=${PIPESTATUS[0]}
read -r p f <<<"$(summary "$BUILD/tests/snapshot.log")"
[ "$rc" = 0 ] || [ "$f" != 0 ] || f=1
p=$((p + up)); f=$((f + uf))
echo "$p passed, $f failed"
[ "$f" = 0 ]
