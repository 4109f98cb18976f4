#!/usr/bin/env bash
# demo/run.sh: CR pinning against a ROP attack, then the same attack
# without pinning. Builds pinvm and the demo kernel if needed.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
PINVM="$BUILD/pinvm"
KERNEL="$BUILD/guest/demo.elf"

if [ ! -x "$PINVM" ] || [ ! -f "$KERNEL" ]; then
    make -s BUILD="$BUILD" all "$KERNEL" >/dev/null || { echo "demo: build failed" >&2; exit 1; }
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT

# run TITLE CPU: run the demo kernel; print its story, then the audit lines.
# Returns the guest's exit value (the debug-exit status is (v << 1) | 1).
run() {
    local title=$1 cpu=$2 st
    printf '\n=== %s (-cpu %s) ===\n' "$title" "$cpu"
    timeout 30 "$PINVM" -kernel "$KERNEL" -cpu "$cpu" -nographic -no-reboot \
        -device isa-debug-exit,iobase=0xf4,iosize=0x04 -d pin 2>"$log" |
        tr -d '\r' | sed -n '/^\[kernel\]/,$p'
    st=${PIPESTATUS[0]}
    if grep -q '^pin:' "$log"; then
        echo "--- pinvm audit trail (-d pin) ---"
        grep '^pin:' "$log"
    else
        echo "--- pinvm audit trail (-d pin): no blocked write ---"
    fi
    # The record the blocked gadget must leave: CR4, SMEP pinned, the bytes.
    audit_ok=$(grep -c '^pin: cpu=0 cr=4 .* pinned=0x100000 insn="0f 22 e0" asm="mov %rax, %cr4"$' "$log")
    audit_all=$(grep -c '^pin:' "$log")
    return $(( (st - 1) >> 1 ))
}

run "with CR pinning" max; pinned=$?
pinned_audit="$audit_ok/$audit_all"
run "baseline: pinning disabled" max,-cr-pin; nopin=$?
nopin_audit="$audit_all"

echo
if [ "$pinned" = 0 ] && [ "$nopin" = 1 ] && [ "$pinned_audit" = 1/1 ] &&
    [ "$nopin_audit" = 0 ]; then
    echo "demo: pinning blocked the attack that succeeds without it."
    exit 0
fi
echo "demo: unexpected outcome (pinned run: $pinned, baseline: $nopin; 0 = blocked," \
    "1 = succeeded; audit records matching/total: $pinned_audit and $nopin_audit)" >&2
exit 1
