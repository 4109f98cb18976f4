#!/usr/bin/env bash
# Snapshot/migration tests: tests/snapshot/test_snapshot.py against pinvm
# running tests/snapshot/guest/snap_pin.c. Last line: "N passed, M failed";
# exit status 0 iff M = 0.
#
#   BUILD=build tests/snapshot/run.sh [-k SUBSTRING]
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
PINVM=${PINVM:-$BUILD/pinvm}
KERNEL=${KERNEL:-$BUILD/guest/snap_pin.elf}
mkdir -p "$BUILD/tests"
if [ ! -x "$PINVM" ] || [ ! -f "$KERNEL" ]; then
    echo "$PINVM or $KERNEL not built (make all guests)"
    echo "0 passed, 1 failed"
    exit 1
fi
timeout --kill-after=10 900 python3 tests/snapshot/test_snapshot.py \
    --pinvm "$PINVM" --kernel "$KERNEL" "$@" | tee "$BUILD/tests/snapshot.log"
rc=${PIPESTATUS[0]}
last=$(tail -n 1 "$BUILD/tests/snapshot.log")
p=$(printf '%s' "$last" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1/p')
f=$(printf '%s' "$last" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\2/p')
[ -n "$p" ] || { p=0; f=1; }
[ "$rc" = 0 ] || [ "$f" != 0 ] || f=1
echo "$p passed, $f failed"
[ "$f" = 0 ]
