#!/usr/bin/env bash
# QMP tests: tests/qmp/test_qmp.py with a real client, against pinvm running
# tests/qmp/guest/pin_loop.c and against qmp_fake (the same QMP layer on a
# simulated machine, built here with ASan+UBSan). Last line:
# "N passed, M failed"; exit status 0 iff M = 0.
#
#   BUILD=build tests/qmp/run.sh [-k SUBSTRING]
#   QMP_TARGETS="fake pinvm" (default both)
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
CC=${CC:-gcc}
PINVM=${PINVM:-$BUILD/pinvm}
KERNEL=${KERNEL:-$BUILD/guest/pin_loop.elf}
TARGETS=${QMP_TARGETS:-fake pinvm}
FAKE=$BUILD/tests/qmp_fake
args=()
fail_pre=0
mkdir -p "$BUILD/tests"

case " $TARGETS " in *" fake "*)
    if ! $CC -std=gnu17 -O1 -g -Wall -Wextra -Werror -Isrc \
            -fsanitize=address,undefined -fno-sanitize-recover=all \
            -o "$FAKE" tests/qmp/qmp_fake.c src/ctl/qmp.c src/ctl/ctl.c src/pin/audit.c \
            src/pin/crpin.c src/util/disasm.c src/util/log.c \
            -ljansson -lZydis -lpthread; then
        echo "qmp_fake does not build"
        fail_pre=1
    else
        args+=(--fake "$FAKE")
    fi ;;
esac
case " $TARGETS " in *" pinvm "*)
    if [ -x "$PINVM" ] && [ -f "$KERNEL" ]; then
        args+=(--pinvm "$PINVM" --kernel "$KERNEL")
    else
        echo "$PINVM or $KERNEL not built (make all guests)"
        fail_pre=1
    fi ;;
esac

timeout --kill-after=10 900 python3 tests/qmp/test_qmp.py "${args[@]}" "$@" \
    | tee "$BUILD/tests/qmp.log"
rc=${PIPESTATUS[0]}
last=$(tail -n 1 "$BUILD/tests/qmp.log")
p=$(printf '%s' "$last" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1/p')
f=$(printf '%s' "$last" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\2/p')
[ -n "$p" ] || { p=0; f=1; }
[ "$rc" = 0 ] || [ "$f" != 0 ] || f=1
f=$((f + fail_pre))
echo "$p passed, $f failed"
[ "$f" = 0 ]
