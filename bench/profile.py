#!/usr/bin/env python3
"""bench/profile.py: deterministic cost of each workload on pinvm, counted
by valgrind --tool=callgrind (host instructions, "Ir"), which unlike wall
time is stable on a loaded machine.

For each workload it runs pinvm under callgrind at n=N and n=0, with and
without pins, and reports

    host insns per op        = (Ir(n=N) - Ir(n=0)) / ops
    host insns per guest insn = (Ir(n=N) - Ir(n=0)) / guest insns
    pin overhead              = Ir per op pinned / unpinned - 1

Guest instruction counts come from the kernel (alu) or the QEMU plugin at
the same n. With --annotate, the top functions of each n=N run (self cost)
are listed too. The callgrind files stay in --out for callgrind_annotate.

    python3 bench/profile.py --build build [--only alu,cr4] [--annotate]
"""
import argparse
import os
import re
import subprocess
import sys

sys.dont_write_bytecode = True  # no bench/__pycache__ in the tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as bench  # noqa: E402  (bench/run.py)

# Small n: callgrind runs pinvm ~50-100x slower.
PROFILE_N = {
    "boot": 0, "alu": 1_000_000, "branchy": 2_000, "mem": 4, "cr4": 20_000,
    "gp": 20_000, "gp-la57": 20_000, "int3": 20_000, "ud2": 20_000,
    "syscall": 20_000,
}


def callgrind(b, w, n, system, outfile):
    cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=" + outfile] + \
        b.cmd(system, w, n)
    r = bench.run_once(cmd, b.a.timeout)
    m = re.search(r"Collected : (\d+)", r["err"])
    bl = bench.parse_bench(r["out"])
    if r["rc"] != bench.OK_STATUS or not m or not bl:
        tail = " | ".join((r["out"] + r["err"]).strip().splitlines()[-3:])
        print("  %s %s n=%d failed (rc %s): %s" % (w[0], system, n, r["rc"], tail),
              file=sys.stderr)
        return None
    return int(m.group(1)), bl


def function_costs(outfile):
    """Self cost (Ir) per function from callgrind_annotate."""
    r = subprocess.run(["callgrind_annotate", "--inclusive=no", "--threshold=100",
                        outfile], capture_output=True, text=True)
    costs = {}
    for line in r.stdout.splitlines():
        m = re.match(r"\s*([\d,]+)\s+(?:\(\s*[\d.]+%\)\s+)?(\S+)", line)
        if m and ":" in m.group(2) and "PROGRAM" not in line:
            fn = m.group(2).split(":")[-1]
            costs[fn] = costs.get(fn, 0) + int(m.group(1).replace(",", ""))
    return costs


def top_functions(f_n, f_0, k):
    """The k functions with the most self cost in the timed part (n=N run
    minus n=0 run), as "name pct%" of that difference."""
    cn = function_costs(f_n)
    c0 = function_costs(f_0) if f_0 else {}
    delta = {fn: v - c0.get(fn, 0) for fn, v in cn.items()}
    total = sum(v for v in delta.values() if v > 0) or 1
    top = sorted(delta.items(), key=lambda kv: -kv[1])[:k]
    return ["%s %.1f%%" % (fn, 100.0 * v / total) for fn, v in top if v > 0]


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build")
    ap.add_argument("--pinvm")
    ap.add_argument("--pinvm-args", default="")
    ap.add_argument("--qemu", default="qemu-system-x86_64")
    ap.add_argument("--only")
    ap.add_argument("--no-pin", action="store_true")
    ap.add_argument("--annotate", action="store_true")
    ap.add_argument("--top", type=int, default=6)
    ap.add_argument("--timeout", type=float, default=600.0)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(
        os.path.abspath(__file__)), "results", "callgrind"))
    a = ap.parse_args()
    a.scale = 1.0
    a.runs = 1
    b = bench.Bench(a)
    os.makedirs(a.out, exist_ok=True)
    workloads = bench.WORKLOADS
    if a.only:
        workloads = [w for w in workloads if w[0] in a.only.split(",")]

    # Guest instruction counts at the profiling n (QEMU plugin).
    cw = []
    for w in workloads:
        w2 = list(w)
        w2[2] = PROFILE_N[w[0]]
        cw.append(tuple(w2))
    counts = bench.qemu_counts(b, cw)

    systems = ["pinvm"] + ([] if a.no_pin else ["pinvm-pin"])
    print("| workload | n | ops | guest insns | host insns/op | host/guest insn "
          "| pinned host insns/op | pin overhead |")
    print("|---|--:|--:|--:|--:|--:|--:|--:|")
    tops = {}
    for w in cw:
        n = w[2]
        per = {}
        for s in systems:
            f_n = os.path.join(a.out, "callgrind.%s.%s.n%d" % (w[0], s, n))
            rn = callgrind(b, w, n, s, f_n)
            if n:
                r0 = callgrind(b, w, 0, s, os.path.join(a.out, "callgrind.%s.%s.n0" % (w[0], s)))
            else:
                r0 = (0, None)
            if rn and r0:
                ir = rn[0] - r0[0]
                ops = rn[1]["ops"]
                per[s] = (ir, ops, rn[1]["insns"] or counts.get(w[0]))
                if a.annotate and s == "pinvm":
                    f_0 = os.path.join(a.out, "callgrind.%s.%s.n0" % (w[0], s)) if n else None
                    tops[w[0]] = top_functions(f_n, f_0, a.top)
        p, pp = per.get("pinvm"), per.get("pinvm-pin")
        if not p:
            print("| %s | %d | - | - | FAIL | - | - | - |" % (w[0], n))
            continue
        ir, ops, gi = p
        per_op = ir / ops if ops else None
        hg = ir / gi if gi else None
        pin_op, over = "-", "-"
        if pp:
            pin_ir = pp[0]
            if ops:
                pin_op = bench.fmt(pin_ir / pp[1], 4)
            over = "%+.2f%%" % ((pin_ir / ir - 1) * 100) if ir else "-"
        print("| %s | %d | %s | %s | %s | %s | %s | %s |" % (
            w[0], n, bench.fmt(ops) if ops else "-", bench.fmt(gi) if gi else "-",
            bench.fmt(per_op, 4) if per_op else bench.fmt(ir),
            "%.1f" % hg if hg else "-", pin_op, over), flush=True)
    if tops:
        print("\nTop functions by self cost in the timed part (n=N minus n=0, "
              "unpinned; boot: the whole run):\n")
        for k, v in tops.items():
            print("- %s: %s" % (k, ", ".join(v)))


if __name__ == "__main__":
    main()
