#!/usr/bin/env bash
# The whole suite: unit tests, then guest tests (on pinvm and on QEMU TCG).
# Last line: "N passed, N failed".
set -u
BUILD=${BUILD:-build}
pass=0; fail=0
for t in "$BUILD"/tests/test_*; do
    [ -x "$t" ] || continue
    out=$("$t" 2>&1); rc=$?
    line=$(printf '%s\n' "$out" | tail -n 1)
    p=$(printf '%s' "$line" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1/p')
    f=$(printf '%s' "$line" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\2/p')
    if [ -z "$p" ]; then p=0; f=1; fi
    if [ $rc -ne 0 ] && [ "$f" = 0 ]; then f=1; fi
    pass=$((pass + p)); fail=$((fail + f))
    if [ "$f" != 0 ]; then printf '%s\n' "$out" | grep -v '^  *$' | tail -n 30; fi
    echo "unit $(basename "$t"): $p passed, $f failed"
done
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
