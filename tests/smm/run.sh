#!/usr/bin/env bash
# SMM cases that end in shutdown (docs/smm.md, docs/cr-pinning.md (c)):
# the SMI handler tampers with the saved state (pinvm's built-in handler,
# APM commands 0xE3-0xE6, chosen by tests/guest/pin_smm_tamper.c from its
# command line), RSM must refuse it and shut down instead of returning to
# the guest. With -no-reboot pinvm then exits 0 with "shutting down"; the
# -d smm log names the reason. Last line: "N passed, M failed".
set -u
cd "$(dirname "$0")/../.." || exit 1
BUILD=${BUILD:-build}
PINVM=${PINVM:-$BUILD/pinvm}
ELF=$BUILD/guest/pin_smm_tamper.elf
pass=0; fail=0
tmp=$(mktemp -d /tmp/pinvm-smm.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
ARGS=(-nographic -no-reboot -device isa-debug-exit,iobase=0xf4,iosize=0x04 -m 128)

# refused WORD REASON: the guest's SMI with that tamper mode never returns.
refused() {
    local word=$1 reason=$2 out rc
    out=$(timeout 20 "$PINVM" "${ARGS[@]}" -kernel "$ELF" -append "$word" \
          -d smm -D "$tmp/log" 2>&1 </dev/null); rc=$?
    if [ "$rc" != 0 ] || ! grep -q 'shutting down' <<<"$out" ||
       grep -q 'RSM returned' <<<"$out" || ! grep -q "SMI with APM" <<<"$out" ||
       ! grep -qF "RSM refused CPU 0: $reason" "$tmp/log"; then
        echo "FAIL smm $word: status $rc, want shutdown refusing '$reason'"
        printf '  %s\n' "$out" | head -6; sed 's/^/  log: /' "$tmp/log" | tail -3
        fail=$((fail + 1)); return
    fi
    echo "PASS smm $word: RSM refused ($reason)"
    pass=$((pass + 1))
}

if [ ! -x "$PINVM" ] || [ ! -f "$ELF" ]; then
    echo "FAIL smm: $PINVM or $ELF not built"
    echo "0 passed, 1 failed"; exit 1
fi
refused tamper-smep "pinned bit(s) changed: CR0 0x0 CR4 0x100000"
refused tamper-wp "pinned bit(s) changed: CR0 0x10000 CR4 0x0"
refused tamper-invalid "CR0.PG=1 with CR0.PE=0"
refused tamper-smbase "SMBASE 0x100000 puts the save map outside SMRAM"

# Control: the same edit of a bit that is not pinned is restored as edited.
out=$(timeout 20 "$PINVM" "${ARGS[@]}" -kernel "$ELF" -append unpinned-smep 2>&1 </dev/null); rc=$?
if [ "$rc" = 1 ] && grep -q 'RSM returned' <<<"$out" && grep -q '1 passed, 0 failed' <<<"$out"; then
    echo "PASS smm unpinned-smep: RSM returns with the edited CR4"; pass=$((pass + 1))
else
    echo "FAIL smm unpinned-smep: status $rc"; printf '  %s\n' "$out" | head -6; fail=$((fail + 1))
fi

# -d smm: one line per entry and per RSM, with vCPU, SMBASE and RIP.
timeout 20 "$PINVM" "${ARGS[@]}" -kernel "$BUILD/guest/pin_smm_tamper.elf" -d smm \
    -D "$tmp/log2" >/dev/null 2>&1 </dev/null
if grep -qE '^SMM: enter CPU 0 smbase=0x30000 rip=0x[0-9a-f]+$' "$tmp/log2" &&
   grep -qE '^SMM: RSM CPU 0 smbase=0x30000 rip=0x[0-9a-f]+$' "$tmp/log2"; then
    echo "PASS smm -d smm trace"; pass=$((pass + 1))
else
    echo "FAIL smm -d smm trace"; sed 's/^/  /' "$tmp/log2" | head -4; fail=$((fail + 1))
fi
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
