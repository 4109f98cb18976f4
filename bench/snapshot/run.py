#!/usr/bin/env python3
"""Snapshot/restore benchmark: a 1 GiB guest that is mostly zero (snap_pin
paused before its first instruction) and one that is mostly random
(bench/snapshot/guest/fill_random.c fills RAM above 16 MiB with a PRNG).

For each: the time of QMP migrate to a file (command sent -> MIGRATION
"completed"; also pinvm's own total-time), the file size, and the time to
restore it in a fresh process (spawn -> QMP socket answering, which pinvm
opens after the snapshot is loaded), next to the same process start
without -incoming (the baseline to subtract). Wall-clock seconds and CPU
seconds (user + system of the pinvm process; for a restore, of the whole
process life) are both given: on a loaded host the CPU figure is the
steadier one. The save includes the fsync of the file.

usage: bench/snapshot/run.py [--build build] [--mem 1024] [--runs 3]
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tests", "snapshot"))
import test_snapshot as ts  # noqa: E402  (QMP client)

ts.TIMEOUT = 300.0


def start(pinvm, kernel, mem, tmp, extra):
    sock = os.path.join(tmp, "q.sock")
    if os.path.exists(sock):
        os.unlink(sock)
    t0 = time.monotonic()
    p = subprocess.Popen([pinvm, "-kernel", kernel, "-nographic", "-m", str(mem),
                          "-qmp", f"unix:{sock},server=on,wait=off"] + extra,
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    q = ts.QMP(sock)
    q.ok("query-status")
    return p, q, time.monotonic() - t0


def stop(p, q):
    """Quit; returns the process's CPU seconds (user + system)."""
    q.ok("quit")
    _, _, ru = os.wait4(p.pid, 0)
    p.returncode = 0
    q.close()
    return ru.ru_utime + ru.ru_stime


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def one(pinvm, kernel, mem, tmp, ready_line):
    path = os.path.join(tmp, "bench.snap")
    extra = ["-S"] if ready_line is None else []
    p, q, _ = start(pinvm, kernel, mem, tmp, extra)
    if ready_line is not None:
        line = p.stdout.readline().decode()
        while ready_line not in line:
            if not line:
                raise SystemExit(f"{kernel}: no '{ready_line}' line")
            line = p.stdout.readline().decode()
    c0, t0 = cpu_seconds(p.pid), time.monotonic()
    q.ok("migrate", {"uri": "file:" + path})
    q.event("MIGRATION", lambda d: d.get("status") in ("completed", "failed"))
    save = time.monotonic() - t0
    save_cpu = cpu_seconds(p.pid) - c0
    info = q.ok("query-migrate")
    if info["status"] != "completed":
        raise SystemExit(f"migrate failed: {info}")
    stop(p, q)
    size = os.path.getsize(path)
    p, q, restore = start(pinvm, kernel, mem, tmp, ["-incoming", "file:" + path, "-S"])
    restore_cpu = stop(p, q)
    p, q, base = start(pinvm, kernel, mem, tmp, ["-S"])
    base_cpu = stop(p, q)
    os.unlink(path)
    return (save, save_cpu, size, restore, restore_cpu, base, base_cpu, info["ram"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--mem", type=int, default=1024)
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    pinvm = os.path.join(a.build, "pinvm")
    cases = [("mostly-zero", os.path.join(a.build, "guest", "snap_pin.elf"), None),
             ("mostly-random", os.path.join(a.build, "guest", "fill_random.elf"),
              "fill_random: filled")]
    tmp = tempfile.mkdtemp(prefix="pinvm-snapbench-")
    try:
        print(f"{'guest':14} {'RAM':>6} {'save s':>7} {'cpu s':>6} {'file KiB':>10} "
              f"{'restore s':>10} {'cpu s':>6} {'start s':>8} {'cpu s':>6} "
              f"{'pages sent':>11} {'zero pages':>11}")
        for name, kernel, ready in cases:
            best = None
            for _ in range(a.runs):
                r = one(pinvm, kernel, a.mem, tmp, ready)
                best = r if best is None or r[0] < best[0] else best
            save, save_cpu, size, restore, restore_cpu, base, base_cpu, ram = best
            print(f"{name:14} {a.mem:5}M {save:7.3f} {save_cpu:6.2f} {size / 1024:10.0f} "
                  f"{restore:10.3f} {restore_cpu:6.2f} {base:8.3f} {base_cpu:6.2f} "
                  f"{ram['normal']:11} {ram['duplicate']:11}")
            sys.stdout.flush()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
