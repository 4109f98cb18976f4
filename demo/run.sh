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
    return $(( (st - 1) >> 1 ))
}

run "with CR pinning" max; pinned=$?
run "baseline: pinning disabled" max,-cr-pin; nopin=$?

echo
if [ "$pinned" = 0 ] && [ "$nopin" = 1 ]; then
    echo "demo: pinning blocked the attack that succeeds without it."
    exit 0
fi
echo "demo: unexpected outcome (pinned run: $pinned, baseline: $nopin; 0 = blocked, 1 = succeeded)" >&2
exit 1
