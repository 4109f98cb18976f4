#!/usr/bin/env bash
# random-diff.sh: for each block of insns_random.c whose hash differs between
# QEMU and pinvm, find the first sequence that differs and the first
# instruction in it whose result differs, and print its bytes and both
# emulators' registers after it.
#   tests/guest/random-diff.sh [BLOCK...]     (default: every block)
set -u
BUILD=${BUILD:-build}
PINVM=${PINVM:-$BUILD/pinvm}
ELF=$BUILD/guest/insns_random.elf
ARGS=(-nographic -no-reboot -device isa-debug-exit,iobase=0xf4,iosize=0x04 -m 128 -kernel "$ELF")
q() { timeout 30 qemu-system-x86_64 -accel tcg -cpu max -net none "${ARGS[@]}" -append "$1" |
      tr -d '\r' | sed 's/^.*Booting from ROM\.*//'; }
p() { timeout 30 "$PINVM" "${ARGS[@]}" -append "$1"; }

blocks=("$@")
[ ${#blocks[@]} = 0 ] && blocks=($(seq 0 11))
for b in "${blocks[@]}"; do
    s=$(diff <(q "trace=$b" | grep '^  seq ') <(p "trace=$b" | grep '^  seq ') |
        sed -n 's/^< *seq \([0-9]*\):.*/\1/p' | head -n 1)
    if [ -z "$s" ]; then echo "block $b: same"; continue; fi
    qt=$(q "trace=$b seq=$s" | grep -E '^  insn|^    ')
    pt=$(p "trace=$b seq=$s" | grep -E '^  insn|^    ')
    line=$(diff <(printf '%s\n' "$qt") <(printf '%s\n' "$pt") | sed -n 's/^\([0-9]*\)[acd,].*/\1/p' | head -n 1)
    echo "block $b seq $s: first difference after:"
    printf '%s\n' "$qt" | sed -n "$((line - 1))p"
    echo "  qemu: $(printf '%s\n' "$qt" | sed -n "${line}p")"
    echo "  pinvm:$(printf '%s\n' "$pt" | sed -n "${line}p")"
done
