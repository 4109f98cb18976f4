#!/usr/bin/env bash
# The whole suite: unit tests, the script suites (tests/*/run.sh), then every guest kernel from
# tests/guest/*.c on pinvm and on QEMU TCG (the reference), comparing their
# serial output. Last line: "N passed, M failed"; exit status 0 iff M = 0.
#
#   tests/run-tests.sh                 everything
#   tests/run-tests.sh --guest NAME..  only these guest kernels
#   QEMU=... PINVM=... GUEST_TIMEOUT=20 override the emulators / time limit
#
# Guest directives (in // comments of the kernel's C file; see guest/README.md):
#   @pinvm-args: ARGS   @qemu-args: ARGS   @qemu: skip (implied for pin_*)
#   @exit: N (expected guest exit value, default 0)   @reboot: on
#   @timeout: SECONDS   @qemu-differs: REASON (lines "SDM: ..." not compared)
#   @pinvm-xfail: REASON  a known pinvm bug (docs/known-issues.md): a failing
#                         pinvm run counts as passed (XFAIL), a passing one
#                         as failed (XPASS: remove the directive)
set -u
cd "$(dirname "$0")/.." || exit 1   # paths (and a relative BUILD) are from the top
BUILD=${BUILD:-build}
PINVM=${PINVM:-$BUILD/pinvm}
QEMU=${QEMU:-qemu-system-x86_64}
GUEST_TIMEOUT=${GUEST_TIMEOUT:-20}
COMMON_ARGS=(-nographic -device isa-debug-exit,iobase=0xf4,iosize=0x04 -m 128)
# -net none: no iPXE ROM (quieter, faster boot); QEMU only.
QEMU_ARGS=(-accel tcg -cpu max -net none)
pass=0; fail=0

only_guests=()
if [ "${1:-}" = "--guest" ]; then
    shift
    only_guests=("$@")
fi

count() { # count PASSED FAILED
    pass=$((pass + $1)); fail=$((fail + $2))
}

# ---- unit tests ----------------------------------------------------------
if [ ${#only_guests[@]} = 0 ]; then
    for t in "$BUILD"/tests/test_*; do
        [ -x "$t" ] || continue
        out=$("$t" 2>&1); rc=$?
        line=$(printf '%s\n' "$out" | tail -n 1)
        p=$(printf '%s' "$line" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1/p')
        f=$(printf '%s' "$line" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\2/p')
        if [ -z "$p" ]; then p=0; f=1; fi
        if [ $rc -ne 0 ] && [ "$f" = 0 ]; then f=1; fi
        count "$p" "$f"
        if [ "$f" != 0 ]; then printf '%s\n' "$out" | grep -v '^  *$' | tail -n 30; fi
        echo "unit $(basename "$t"): $p passed, $f failed"
    done

    # ---- script suites: tests/*/run.sh (cli, qmp, snapshot, ...), each
    # printing "N passed, N failed" last ----------------------------------
    for suite in tests/*/run.sh; do
        [ -f "$suite" ] || continue
        out=$(BUILD="$BUILD" bash "$suite" 2>&1); rc=$?
        line=$(printf '%s\n' "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed$' | tail -n 1)
        p=$(printf '%s' "$line" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1/p')
        f=$(printf '%s' "$line" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\2/p')
        if [ -z "$p" ]; then p=0; f=1; fi
        if [ $rc -ne 0 ] && [ "$f" = 0 ]; then f=1; fi
        count "$p" "$f"
        if [ "$f" != 0 ]; then printf '%s\n' "$out" | tail -n 30; fi
        echo "suite $suite: $p passed, $f failed"
    done
fi

# ---- guest kernels ---------------------------------------------------------
have_qemu=1
if ! command -v "$QEMU" >/dev/null 2>&1; then
    have_qemu=0
    echo "########################################################################"
    echo "## $QEMU NOT FOUND: the QEMU reference runs all count as FAILED and"
    echo "## pinvm's output cannot be compared. Install qemu-system-x86."
    echo "########################################################################"
fi
have_pinvm=1
if [ ! -x "$PINVM" ]; then
    have_pinvm=0
    echo "## $PINVM not built: the pinvm guest runs count as FAILED"
fi

# directive FILE NAME: the value of "// @NAME: value" (first one), or "".
directive() {
    sed -n "s|^.*// *@$2: *\(.*\)\$|\1|p" "$1" | head -n 1 | sed 's/[[:space:]]*$//'
}

# The serial transcript, normalised: no CRs, no SeaBIOS banner or
# "Booting from ROM.." prefix (QEMU prints them on every boot with
# -nographic, sometimes with more dots and a line break; pinvm has no BIOS).
normalise() {
    tr -d '\r' <"$1" | sed -e '/SeaBIOS (version/d' \
        -e '/Booting from ROM/{s/^.*Booting from ROM\.*//;/^$/d;}'
}

# run_one EMU ELF OUT EXPECTED_STATUS TIMEOUT ARGS...: sets nothing; writes
# OUT (stdout), OUT.err (stderr), OUT.rc.
run_one() {
    local emu=$1 elf=$2 out=$3 t=$4; shift 4
    timeout --kill-after=5 "$t" "$emu" -kernel "$elf" "$@" </dev/null >"$out" 2>"$out.err"
    echo $? >"$out.rc"
}

# check_run LABEL OUT EXPECTED_STATUS: prints one line, returns 0 if the
# run passed (status and the guest's own summary).
check_run() {
    local label=$1 out=$2 want=$3 rc summary why=""
    rc=$(cat "$out.rc")
    summary=$(normalise "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed$' | tail -n 1)
    if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
        why="timed out"
    elif [ "$rc" != "$want" ]; then
        why="exit status $rc, expected $want"
    fi
    if [ -z "$summary" ]; then
        why="${why:+$why; }no summary line"
    elif ! printf '%s' "$summary" | grep -q ', 0 failed$'; then
        why="${why:+$why; }$summary"
    fi
    if [ -z "$why" ]; then
        echo "PASS $label ($summary)"
        return 0
    fi
    echo "FAIL $label: $why"
    normalise "$out" | grep -E '^(FAIL|SDM: FAIL|Unhandled)' | head -n 10 | sed 's/^/    /'
    if [ -s "$out.err" ]; then tail -n 5 "$out.err" | sed 's/^/    stderr: /'; fi
    return 1
}

guest_srcs=()
if [ ${#only_guests[@]} != 0 ]; then
    for g in "${only_guests[@]}"; do guest_srcs+=("tests/guest/$g.c"); done
else
    for src in tests/guest/*.c; do [ -f "$src" ] && guest_srcs+=("$src"); done
fi

outdir="$BUILD/guest-runs"
mkdir -p "$outdir"
for src in "${guest_srcs[@]}"; do
    name=$(basename "$src" .c)
    elf="$BUILD/guest/$name.elf"
    qemu_skip=0
    case "$name" in pin_*) qemu_skip=1 ;; esac
    [ "$(directive "$src" qemu)" = skip ] && qemu_skip=1
    want_exit=$(directive "$src" exit); want_exit=${want_exit:-0}
    want=$(( ((want_exit << 1) | 1) & 255 ))
    t=$(directive "$src" timeout); t=${t:-$GUEST_TIMEOUT}
    differs=$(directive "$src" qemu-differs)
    xfail=$(directive "$src" pinvm-xfail)
    reboot=(-no-reboot)
    [ "$(directive "$src" reboot)" = on ] && reboot=()
    eval "pargs=($(directive "$src" pinvm-args))"
    eval "qargs=($(directive "$src" qemu-args))"

    if [ ! -f "$elf" ]; then
        echo "FAIL guest $name: $elf not built (make guests)"
        count 0 $((2 - qemu_skip))
        continue
    fi

    pout="$outdir/$name.pinvm"; qout="$outdir/$name.qemu"
    rm -f "$pout" "$pout.rc" "$qout" "$qout.rc"
    # The two runs are independent: run them side by side.
    if [ $have_pinvm = 1 ]; then
        run_one "$PINVM" "$elf" "$pout" "$t" "${COMMON_ARGS[@]}" "${reboot[@]}" "${pargs[@]}" &
    fi
    if [ $qemu_skip = 0 ] && [ $have_qemu = 1 ]; then
        run_one "$QEMU" "$elf" "$qout" "$t" "${QEMU_ARGS[@]}" "${COMMON_ARGS[@]}" "${reboot[@]}" "${qargs[@]}" &
    fi
    wait

    [ -n "$differs" ] && echo "NOTE guest $name: QEMU differs from the SDM: $differs"

    if [ $qemu_skip = 0 ]; then
        if [ $have_qemu = 0 ]; then
            echo "FAIL guest $name on qemu: $QEMU not installed"
            count 0 1
        elif check_run "guest $name on qemu" "$qout" "$want"; then
            count 1 0
        else
            count 0 1
        fi
    fi

    if [ $have_pinvm = 0 ]; then
        echo "FAIL guest $name on pinvm: $PINVM not built"
        count 0 1
        continue
    fi
    ok=1
    check_run "guest $name on pinvm" "$pout" "$want" >"$outdir/$name.result" || ok=0
    if [ $qemu_skip = 0 ] && [ $have_qemu = 1 ]; then
        filter='^SDM:'
        [ -z "$differs" ] && filter='^$^' # compare every line
        if ! diff -u --label "qemu ($name)" --label "pinvm ($name)" \
                <(normalise "$qout" | grep -v -E "$filter") \
                <(normalise "$pout" | grep -v -E "$filter") >"$outdir/$name.diff"; then
            if [ $ok = 1 ]; then
                echo "FAIL guest $name on pinvm: output differs from QEMU" >"$outdir/$name.result"
            else
                echo "    (and its output differs from QEMU)" >>"$outdir/$name.result"
            fi
            head -n 40 "$outdir/$name.diff" | sed 's/^/    /' >>"$outdir/$name.result"
            ok=0
        fi
    fi
    if [ -n "$xfail" ]; then
        if [ $ok = 1 ]; then
            echo "XPASS guest $name on pinvm: passes now; remove its @pinvm-xfail"
            count 0 1
        else
            echo "XFAIL guest $name on pinvm (known issue: $xfail)"
            sed -n '2,6p' "$outdir/$name.result"
            count 1 0
        fi
        continue
    fi
    cat "$outdir/$name.result"
    if [ $ok = 1 ]; then count 1 0; else count 0 1; fi
done

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
