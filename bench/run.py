#!/usr/bin/env python3
"""bench/run.py: the benchmark workloads on pinvm and QEMU TCG, side by side.

`make bench` runs this. Each workload kernel (bench/guest/bench_*.c) runs
with n=N and with n=0 on every system (pinvm, QEMU, pinvm with pins set),
round-robin, so slow phases of this shared machine hit all of them alike.
The per-operation time is

    (median time at n=N - median time at n=0) / ops

so start-up and the workload's own setup (page tables, pinning) cancel.
"Time" is the emulator's CPU time (user + system, from wait4) by default:
on a machine shared with other jobs it stays put while elapsed time grows
with the load. Elapsed time is shown as well (--clock wall to use it);
"ops" and the result value come from the guest's "bench ..." line, and
the results of pinvm and QEMU must agree. Guest instruction counts come
from the kernel itself (alu) or a QEMU plugin (bench/tools/), so MIPS means
the same guest instructions on both. Peak RSS is measured per run with
wait4() too (the child's ru_maxrss).

Python 3 standard library only.
"""
import argparse
import datetime
import json
import os
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

COMMON = ["-nographic", "-no-reboot",
          "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"]
QEMU_EXTRA = ["-accel", "tcg", "-cpu", "max", "-net", "none"]
OK_STATUS = 1  # main returned 0: debug-exit writes 0, status (0 << 1) | 1

# name, kernel, n at scale 1, unit, extra -append words for pinvm / QEMU,
# what it measures (for the notes under the table).
WORKLOADS = [
    ("boot", "bench_boot", 0, "ms", "", "",
     "empty kernel: start-up to exit (wall time, not a difference)"),
    ("alu", "bench_alu", 100_000_000, "MIPS", "", "",
     "dependent integer chain, exactly 10 guest insns per iteration"),
    ("branchy", "bench_branchy", 50_000, "MIPS", "", "",
     "bytecode interpreter (Collatz 1..n) + insertion sort; ops = bytecodes + compares"),
    ("mem", "bench_mem", 64, "ns/access", "", "",
     "RMW (load + store) to each 4 KiB page of 64 MiB mapped with 4K pages; ops = page accesses"),
    ("cr4", "bench_cr4", 1_000_000, "ns/write", "", "",
     "CR4.PGE off/on pairs (each write flushes the TLB); ops = CR4 writes (2n)"),
    ("gp", "bench_gp", 1_000_000, "ns/#GP", "", "la57",
     "CR4 write -> #GP -> raw stub -> IRETQ. pinvm: clears pinned SMEP; QEMU: sets CR4.LA57 in long mode"),
    ("gp-la57", "bench_gp", 1_000_000, "ns/#GP", "la57", "la57",
     "the same, on both: CR4.LA57 set in long mode (same #GP shape, no pin involved)"),
    ("int3", "bench_int3", 1_000_000, "ns/#BP", "", "",
     "INT3 -> raw stub -> IRETQ at CPL0"),
    ("ud2", "bench_ud2", 1_000_000, "ns/#UD", "", "",
     "UD2 -> raw stub (skips it) -> IRETQ at CPL0"),
    ("syscall", "bench_syscall", 1_000_000, "ns/trip", "", "",
     "SYSCALL from CPL3 -> SYSRETQ, round trips"),
]

# Pinned on pinvm in every run (the violation needs pins): no pinned column.
ALWAYS_PINNED = ("gp",)

# Targets for pinvm (the issue), by workload: (per-op limit, in the unit).
TARGETS = {
    "boot": ("< 20 ms", lambda v: v < 20),
    "alu": (">= 500 MIPS", lambda v: v >= 500),
    "mem": ("<= 100 ns", lambda v: v <= 100),
    "cr4": ("<= 500 ns", lambda v: v <= 500),
    "gp": ("<= 200 ns", lambda v: v <= 200),
    "int3": ("<= 150 ns", lambda v: v <= 150),
    "ud2": ("<= 150 ns", lambda v: v <= 150),
}

BENCH_RE = re.compile(r"bench (\S+) n=(\d+) ops=(\d+)(?: insns=(\d+))? result=(0x[0-9a-f]+)")


def run_once(cmd, timeout, env=None):
    """Run cmd; return dict(rc, wall, cpu, rss_kb, out, err). rc None =
    timeout. cpu = the child's user + system time (all its threads)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out,
                             stderr=err, env=env)
        rc, ru = None, None
        deadline = t0 + timeout
        while True:
            pid, status, ru = os.wait4(p.pid, os.WNOHANG)
            if pid:
                wall = time.perf_counter() - t0
                rc = os.waitstatus_to_exitcode(status)
                break
            if time.perf_counter() > deadline:
                p.kill()
                _, status, ru = os.wait4(p.pid, 0)
                wall = time.perf_counter() - t0
                break
            time.sleep(0.0005 if time.perf_counter() - t0 < 0.05 else 0.005)
        p.returncode = rc if rc is not None else -9  # keep Popen quiet
        out.seek(0)
        err.seek(0)
        return {"rc": rc, "wall": wall, "rss_kb": ru.ru_maxrss,
                "cpu": ru.ru_utime + ru.ru_stime,
                "out": out.read().decode(errors="replace"),
                "err": err.read().decode(errors="replace")}


def parse_bench(text):
    m = BENCH_RE.search(text)
    if not m:
        return None
    return {"name": m.group(1), "n": int(m.group(2)), "ops": int(m.group(3)),
            "insns": int(m.group(4)) if m.group(4) else None,
            "result": m.group(5)}


class Bench:
    def __init__(self, a):
        self.a = a
        self.build = a.build
        self.pinvm = a.pinvm or os.path.join(self.build, "pinvm")
        self.qemu = a.qemu
        self.raw = []       # every run, for the JSON dump
        self.failed = {}    # (workload, system) -> reason; no more runs then

    def kernel(self, k):
        return os.path.join(self.build, "guest", k + ".elf")

    def cmd(self, system, w, n, mem="128", extra=()):
        name, kern, _, _, pargs, qargs, _ = w
        words = []
        if system == "qemu":
            words += qargs.split()
        else:
            words += pargs.split()
        if system == "pinvm-pin":
            words.append("pin")
        words.append("n=%d" % n)
        tail = ["-m", mem, "-kernel", self.kernel(kern), "-append",
                " ".join(words)]
        if system == "qemu":
            return [self.qemu] + list(extra) + QEMU_EXTRA + COMMON + tail
        return [self.pinvm] + shlex.split(self.a.pinvm_args) + COMMON + tail

    def scaled_n(self, w):
        return max(1, int(w[2] * self.a.scale)) if w[2] else 0

    def run(self, system, w, n, mem="128", tag="time"):
        key = (w[0], system)
        if key in self.failed:
            return None
        cmd = self.cmd(system, w, n, mem)
        r = run_once(cmd, self.a.timeout)
        r.update(workload=w[0], system=system, n=n, mem=mem, tag=tag,
                 cmd=" ".join(shlex.quote(c) for c in cmd))
        r["bench"] = parse_bench(r["out"])
        self.raw.append({k: v for k, v in r.items() if k not in ("out", "err")}
                        | {"out_tail": r["out"][-300:], "err_tail": r["err"][-300:]})
        why = None
        if r["rc"] is None:
            why = "timeout %gs" % self.a.timeout
        elif r["rc"] != OK_STATUS:
            why = "exit %d" % r["rc"]
        elif not r["bench"]:
            why = "no bench line"
        if why:
            self.failed[key] = why
            tail = (r["out"] + r["err"]).strip().splitlines()[-3:]
            print("  %-8s %-9s n=%-9d FAILED (%s): %s" % (w[0], system, n, why,
                  " | ".join(tail)), file=sys.stderr)
            return None
        return r


def median(xs):
    return statistics.median(xs) if xs else None


def fmt(v, digits=3):
    if v is None:
        return "-"
    if abs(v) >= 1000:
        return "{:,.0f}".format(v)
    return "{:.{}g}".format(v, digits)


def qemu_counts(b, workloads):
    """Guest instructions in the timed part, from the QEMU plugin: insns at
    n=N minus insns at n=0. Returns {workload: count}."""
    so = os.path.join(b.build, "bench", "qemu_insn_count.so")
    src = os.path.join(HERE, "tools", "qemu_insn_count.c")
    if not os.path.exists(so) or os.path.getmtime(so) < os.path.getmtime(src):
        os.makedirs(os.path.dirname(so), exist_ok=True)
        subprocess.run(["cc", "-O2", "-shared", "-fPIC", "-o", so, src], check=True)
    counts = {}
    for w in workloads:
        if w[2] == 0:
            continue
        n = b.scaled_n(w)
        got = []
        for nn in (n, 0):
            # Kernel code only (linked at 1 MiB, well under 16 MiB): not SeaBIOS.
            cmd = b.cmd("qemu", w, nn, extra=["-plugin", so + ",lo=0x100000,hi=0x1000000"])
            r = run_once(cmd, b.a.timeout * 3)
            m = re.search(r"insns: (\d+)", r["err"])
            got.append(int(m.group(1)) if m and r["rc"] == OK_STATUS else None)
        if None not in got:
            counts[w[0]] = got[0] - got[1]
    return counts


def timing(b, workloads, systems):
    """Round-robin: every round runs every workload on every system at n=N
    and n=0. Returns {(workload, system, 'N'|'0'): [run, ...]}."""
    res = {}
    for rnd in range(b.a.runs):
        print("round %d/%d:" % (rnd + 1, b.a.runs), end="", file=sys.stderr, flush=True)
        for w in workloads:
            print(" " + w[0], end="", file=sys.stderr, flush=True)
            n = b.scaled_n(w)
            for which, nn in (("N", n), ("0", 0)):
                if which == "0" and n == 0:
                    continue  # boot: its n is 0 already
                for s in systems:
                    if s == "pinvm-pin" and w[0] in ALWAYS_PINNED:
                        continue
                    r = b.run(s, w, nn)
                    if r:
                        res.setdefault((w[0], s, which), []).append(r)
        print(file=sys.stderr)
    return res


def summarise(b, workloads, systems, res, counts):
    rows = {}
    for w in workloads:
        name, unit = w[0], w[3]
        for s in systems:
            N = res.get((name, s, "N"), [])
            Z = res.get((name, s, "0"), []) if w[2] else N
            if not N or not Z or (name, s) in b.failed:
                rows[(name, s)] = {"fail": b.failed.get((name, s), "no runs")}
                continue
            tn = [r["wall"] for r in N]
            tz = [r["wall"] for r in Z]
            bl = N[0]["bench"]
            row = {"med": median(tn), "min": min(tn), "med0": median(tz),
                   "min0": min(tz), "ops": bl["ops"], "n": bl["n"],
                   "result": bl["result"], "rss_kb": max(r["rss_kb"] for r in N),
                   "results": sorted({r["bench"]["result"] for r in N})}
            insns = bl["insns"] or counts.get(name)
            for key, suffix, red in ((b.a.clock, "", median), ("wall", "_wall", median),
                                     (b.a.clock, "_min", min)):
                row["val" + suffix] = metric(w, [r[key] for r in N],
                                             [r[key] for r in Z], bl["ops"], insns, red)
            rows[(name, s)] = row
    return rows


def metric(w, tn, tz, ops, insns, red=None):
    """A row's value from times at n=N and n=0 (reduced by red, the median
    by default): ms for boot, MIPS, or ns per op."""
    red = red or median
    if w[2] == 0:
        return red(tn) * 1000.0
    d = red(tn) - red(tz)
    if d <= 0:
        return None
    if w[3] == "MIPS":
        return insns / d / 1e6 if insns else None
    return d / ops * 1e9 if ops else None


def per_op_time(row, unit, suffix=""):
    """Time per unit of work (lower is better) from a row's value."""
    v = row.get("val" + suffix)
    if v is None or v <= 0:
        return None
    return 1.0 / v if unit == "MIPS" else v


def table(b, workloads, systems, rows, counts):
    L = []
    L.append("| workload | ops | pinvm wall median / min (s) | QEMU wall median / min (s) "
             "| pinvm | QEMU | pinvm/QEMU | pinvm/QEMU (wall) | pin overhead | pinvm target |")
    L.append("|---|--:|--:|--:|--:|--:|--:|--:|--:|---|")
    for w in workloads:
        name, unit = w[0], w[3]
        p, q = rows.get((name, "pinvm"), {}), rows.get((name, "qemu"), {})
        pp = rows.get((name, "pinvm-pin"), {})

        def wall(r):
            if "fail" in r:
                return "FAIL: " + r["fail"]
            if not r:
                return "-"
            return "%s / %s" % (fmt(r["med"]), fmt(r["min"]))

        def val(r):
            if not r or "fail" in r:
                return "-"
            return "%s %s" % (fmt(r["val"]), unit)

        ratio = "-"
        tp, tq = per_op_time(p, unit) if p else None, per_op_time(q, unit) if q else None
        if tp and tq:
            ratio = "%.2f" % (tp / tq)
        ratio_w = "-"
        tpw = per_op_time(p, unit, "_wall") if p else None
        tqw = per_op_time(q, unit, "_wall") if q else None
        if tpw and tqw:
            ratio_w = "%.2f" % (tpw / tqw)
        over = "-"
        # From the fastest runs: other load only ever adds time, and the
        # target (1%) is far below the spread of medians on a busy machine.
        tpm = per_op_time(p, unit, "_min") if p else None
        tppm = per_op_time(pp, unit, "_min") if pp else None
        if tpm and tppm:
            over = "%+.1f%%" % ((tppm / tpm - 1) * 100)
        ops = fmt(p.get("ops") or q.get("ops")) if (p.get("ops") or q.get("ops")) else "-"
        tgt = "-"
        if name in TARGETS:
            text, ok = TARGETS[name]
            if p and p.get("val") is not None:
                tgt = "%s: %s" % (text, "met" if ok(p["val"]) else "NOT met")
            else:
                tgt = text
        # Same work on both? (gp: the count, the rest: the checksum.)
        agree = ""
        res = set(p.get("results", [])) | set(q.get("results", [])) | \
            set(pp.get("results", []))
        if len(res) > 1:
            agree = " **results differ: %s**" % ", ".join(sorted(res))
        L.append("| %s%s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            name, agree, ops, wall(p), wall(q), val(p), val(q), ratio, ratio_w,
            over, tgt))
    return L


def rss_table(b, systems):
    """Peak RSS of boot and mem at -m 128M and -m 1G."""
    L = ["| guest | -m | pinvm peak RSS (MiB) | QEMU peak RSS (MiB) | pinvm target (RAM + 32 MiB) |",
         "|---|--:|--:|--:|---|"]
    wl = {w[0]: w for w in WORKLOADS}
    for wname, n in (("boot", 0), ("mem", 4)):
        for mem, mib in (("128", 128), ("1G", 1024)):
            peak = {}
            for s in ("pinvm", "qemu"):
                if s not in systems:
                    continue
                vals = [r["rss_kb"] / 1024.0 for r in
                        (b.run(s, wl[wname], n, mem, tag="rss")
                         for _ in range(max(1, b.a.rss_runs))) if r]
                peak[s] = max(vals) if vals else None

            def cell(s):
                if s not in peak:
                    return "-"
                return "FAIL" if peak[s] is None else "%.0f" % peak[s]
            tgt = "<= %d MiB" % (mib + 32)
            if peak.get("pinvm") is not None:
                tgt += ": %s" % ("met" if peak["pinvm"] <= mib + 32 else "NOT met")
            L.append("| %s | %s | %s | %s | %s |" % (wname, mem, cell("pinvm"),
                                                   cell("qemu"), tgt))
    return L


def machine_info(b):
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            txt = f.read()
        model = re.search(r"model name\s*:\s*(.*)", txt).group(1)
        fam = re.search(r"cpu family\s*:\s*(\d+)", txt).group(1)
        cpu = "%s (family %s)" % (model, fam)
    except (OSError, AttributeError):
        pass
    try:
        qv = subprocess.run([b.qemu, "--version"], capture_output=True,
                            text=True).stdout.splitlines()[0]
    except (OSError, IndexError):
        qv = "QEMU not found"
    try:
        rev = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True).stdout.strip()
    except OSError:
        rev = "?"
    return ("%s UTC, %d cores, %s, load avg %.2f; pinvm %s; %s" % (
        datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M"), os.cpu_count(),
        cpu, os.getloadavg()[0], rev, qv))


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build")
    ap.add_argument("--pinvm", help="pinvm binary (default BUILD/pinvm)")
    ap.add_argument("--pinvm-args", default="", help="extra pinvm flags")
    ap.add_argument("--qemu", default="qemu-system-x86_64")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--scale", type=float, default=1.0,
                    help="multiply every iteration count (e.g. 0.1 for a quick look)")
    ap.add_argument("--only", help="comma-separated workloads")
    ap.add_argument("--no-qemu", action="store_true")
    ap.add_argument("--no-pinvm", action="store_true")
    ap.add_argument("--no-pin", action="store_true", help="skip the pinned pinvm runs")
    ap.add_argument("--no-count", action="store_true",
                    help="skip the QEMU plugin instruction count (branchy MIPS)")
    ap.add_argument("--no-rss", action="store_true")
    ap.add_argument("--rss-runs", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=120.0, help="per run, seconds")
    ap.add_argument("--clock", choices=("cpu", "wall"), default="cpu",
                    help="time behind per-op values and ratios (default: the "
                         "child's CPU time, robust to other load; wall is also shown)")
    ap.add_argument("--out", default=os.path.join(HERE, "results"),
                    help="directory for latest.md and the raw JSON")
    a = ap.parse_args()

    b = Bench(a)
    workloads = WORKLOADS
    if a.only:
        want = a.only.split(",")
        workloads = [w for w in WORKLOADS if w[0] in want]
    systems = []
    if not a.no_pinvm:
        if not os.access(b.pinvm, os.X_OK):
            print("bench: %s not built: pinvm columns will be empty" % b.pinvm,
                  file=sys.stderr)
        else:
            systems.append("pinvm")
            if not a.no_pin:
                systems.append("pinvm-pin")
    if not a.no_qemu:
        systems.append("qemu")
    for w in workloads:
        k = b.kernel(w[1])
        if not os.path.exists(k):
            sys.exit("bench: %s missing (make guests)" % k)

    info = machine_info(b)
    print("bench: " + info, file=sys.stderr)
    t0 = time.time()
    # Only MIPS rows need a count; alu prints its own exact one.
    counts = {} if a.no_count or a.no_qemu else qemu_counts(
        b, [w for w in workloads if w[3] == "MIPS" and w[0] != "alu"])
    res = timing(b, workloads, systems)
    rows = summarise(b, workloads, systems, res, counts)

    out = ["Machine: " + info,
           "Runs: %d per system and count, scale %g; per-op = (median %s time at n=N"
           " - median at n=0) / ops, %s time = %s; boot = %s time of the whole run." % (
               a.runs, a.scale, a.clock, a.clock,
               "user + system of the emulator process" if a.clock == "cpu" else "elapsed",
               a.clock), ""]
    out += table(b, workloads, systems, rows, counts)
    out += ["", "pinvm/QEMU: ratio of %s time per operation (lower = pinvm faster); "
            "(wall): the same from elapsed time. " % a.clock +
            "pin overhead (from minimum times): pinvm with pins set vs without, "
            "same work, no violations "
            "(gp is always pinned; gp-la57 shows the #GP path with pins set vs without)."]
    if counts:
        out += ["", "Guest instructions in the timed part (QEMU plugin, n=N minus n=0): " +
                ", ".join("%s %s" % (k, fmt(v)) for k, v in counts.items())]
    if not a.no_rss and ("pinvm" in systems or "qemu" in systems):
        out += ["", "Peak RSS (ru_maxrss via wait4; boot: exits at once; mem: 4 passes "
                "over its 64 MiB):", ""]
        out += rss_table(b, systems)
    out += ["", "Total bench time %.0f s; load average at the end %.2f." % (
        time.time() - t0, os.getloadavg()[0])]
    text = "\n".join(out)
    print(text)
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "latest.md"), "w") as f:
        f.write(text + "\n")
    stamp = datetime.datetime.utcnow().strftime("%Y%m%d-%H%M%S")
    with open(os.path.join(a.out, "raw-%s.json" % stamp), "w") as f:
        json.dump({"info": info, "args": vars(a), "counts": counts,
                   "rows": {"%s/%s" % k: v for k, v in rows.items()},
                   "runs": b.raw}, f, indent=1)


if __name__ == "__main__":
    main()
