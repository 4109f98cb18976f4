#!/usr/bin/env bash
# exc_seeds.sh: run the generated exception-delivery kernel
# (tests/guest/exc_random.c) with seeds FIRST..LAST on pinvm and on QEMU and
# compare the transcripts (the suite runs seed 1 only). "SDM:" lines, where
# QEMU 7.2 is known to deviate, are left out of the comparison; on pinvm
# they must all pass. A differing seed prints a one-line reproducer.
#
#   BUILD=build tests/difftest/exc_seeds.sh [FIRST [LAST]]
set -u
BUILD=${BUILD:-build}
first=${1:-1}
last=${2:-$((first + 19))}
elf=$BUILD/guest/exc_random.elf
QEMU=${QEMU:-qemu-system-x86_64}
common=(-nographic -device isa-debug-exit,iobase=0xf4,iosize=0x04 -m 128)
[ -f "$elf" ] || { echo "exc_seeds: $elf not built (make guests)"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
bad=0
for s in $(seq "$first" "$last"); do
    timeout 30 "$BUILD/pinvm" "${common[@]}" -append "seed=$s" -kernel "$elf" \
        >"$tmp/p" 2>&1
    timeout 60 "$QEMU" -accel tcg -cpu max -net none "${common[@]}" \
        -append "seed=$s qemu" -kernel "$elf" >"$tmp/q" 2>&1
    grep -E '^(t[0-9]|PASS|FAIL)' "$tmp/p" >"$tmp/p1"
    grep -E '^(t[0-9]|PASS|FAIL)' "$tmp/q" >"$tmp/q1"
    if ! diff -q "$tmp/p1" "$tmp/q1" >/dev/null || grep -q '^SDM: FAIL' "$tmp/p" ||
        [ ! -s "$tmp/p1" ]; then
        echo "exc_seeds: seed $s differs: $BUILD/pinvm ${common[*]} -append seed=$s -kernel $elf"
        diff "$tmp/q1" "$tmp/p1" | head -n 6
        grep '^SDM: FAIL' "$tmp/p" | head -n 3
        bad=$((bad + 1))
    fi
done
echo "exc_seeds: seeds $first..$last, $bad differ"
[ "$bad" = 0 ]
