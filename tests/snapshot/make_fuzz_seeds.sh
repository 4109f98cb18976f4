#!/usr/bin/env bash
# Regenerate fuzz/corpus/snapshot: real snapshots of snap_pin on a 4 MiB,
# 2-vCPU machine (what fuzz/fuzz_snapshot.c's target expects), taken
# midway and at the start (-S), plus a truncated and a pins-less variant.
#   BUILD=build tests/snapshot/make_fuzz_seeds.sh
set -eu
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
out=fuzz/corpus/snapshot
mkdir -p "$out"
python3 - "$BUILD/pinvm" "$BUILD/guest/snap_pin.elf" "$out" <<'PY'
import os, sys, tempfile, shutil, subprocess
sys.path.insert(0, "tests/snapshot")
import test_snapshot as ts
pinvm, kernel, out = sys.argv[1:]
tmp = tempfile.mkdtemp()
try:
    for name, paused in (("start", True), ("midway", False)):
        sock = os.path.join(tmp, "q")
        p = subprocess.Popen([pinvm, "-kernel", kernel, "-nographic", "-m", "4",
                              "-smp", "2", "-qmp", f"unix:{sock},server=on,wait=off"]
                             + (["-S"] if paused else []),
                             stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        q = ts.QMP(sock)
        if not paused:
            import time; time.sleep(0.2)  # somewhere in the loop; any point will do
        path = os.path.join(out, name)
        q.ok("migrate", {"uri": "file:" + os.path.abspath(path)})
        q.event("MIGRATION", lambda d: d.get("status") == "completed")
        q.ok("quit")
        p.wait(20)
    g = open(os.path.join(out, "midway"), "rb").read()
    open(os.path.join(out, "truncated"), "wb").write(g[:len(g) // 2])
    secs = [s for s in ts.sections(g) if s[1] != ts.SEC["PINS"]]
    open(os.path.join(out, "nopins"), "wb").write(ts.rebuild(g, secs))
finally:
    shutil.rmtree(tmp)
PY
ls -l "$out"
