#!/usr/bin/env python3
"""Snapshot and migration tests (standard library only).

usage: test_snapshot.py --pinvm PINVM --kernel snap_pin.elf [-k SUBSTRING]

The round trips migrate tests/snapshot/guest/snap_pin.c (a guest that
keeps trying to clear a pinned CR4.SMEP) midway, to a file, a unix socket
and TCP, and check that the restored process finishes with every attempt
blocked. The bad-input tests write damaged snapshots and check that pinvm
refuses them with a message, a non-zero status and no guest output. Every
wait is bounded. The last line is "N passed, M failed".
"""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import traceback

TIMEOUT = 20.0
TEST_ALARM = 240
RUN_TIMEOUT = 120.0   # a whole snap_pin run (slow under ASan on a busy host)
ATTEMPTS = 800000
DONE_STATUS = (0x21 << 1) | 1
MAGIC = b"PINVMSNP"
SEC = {"CONFIG": 1, "MACHINE": 2, "CPU": 3, "PINS": 4, "DEVICES": 5,
       "RAM": 6, "END": 0x454e44}
SEC_NAME = {v: k for k, v in SEC.items()}
SMEP = 1 << 20
WP = 1 << 16


class TestFailure(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise TestFailure(msg)


def _crc_table():
    t = []
    for b in range(256):
        c = b
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        t.append(c)
    return t


CRC_TABLE = _crc_table()


def crc32c(data, crc=0):
    c = crc ^ 0xFFFFFFFF
    for b in data:
        c = CRC_TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def sections(blob):
    """[(offset, id, version, payload)] of a well-formed snapshot."""
    out, off = [], 16
    while off < len(blob):
        sid, ver, ln = struct.unpack_from("<IIQ", blob, off)
        out.append((off, sid, ver, blob[off + 16:off + 16 + ln]))
        off += 16 + ln + 4
    return out


def section(sid, ver, payload):
    hdr = struct.pack("<IIQ", sid, ver, len(payload))
    return hdr + payload + struct.pack("<I", crc32c(payload, crc32c(hdr)))


def rebuild(blob, secs):
    return blob[:16] + b"".join(section(s, v, p) for _, s, v, p in secs)


class QMP:
    def __init__(self, path):
        deadline = time.monotonic() + TIMEOUT
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.connect(path)
                break
            except OSError:
                self.sock.close()
                if time.monotonic() > deadline:
                    raise TestFailure(f"no QMP socket at {path}")
                time.sleep(0.02)
        self.buf = b""
        self.events = []
        self.recv()
        self.ok("qmp_capabilities")

    def recv(self, timeout=TIMEOUT):
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TestFailure("timed out waiting for a QMP message")
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                raise TestFailure("timed out waiting for a QMP message")
            if not chunk:
                raise TestFailure("QMP connection closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def cmd(self, name, args=None):
        msg = {"execute": name}
        if args is not None:
            msg["arguments"] = args
        self.sock.sendall(json.dumps(msg).encode() + b"\n")
        while True:
            r = self.recv()
            if "event" in r:
                self.events.append(r)
            else:
                return r

    def ok(self, name, args=None):
        r = self.cmd(name, args)
        check("return" in r, f"{name} {args}: expected a return, got {r}")
        return r["return"]

    def event(self, name, pred=lambda d: True, timeout=TIMEOUT):
        deadline = time.monotonic() + timeout
        while True:
            for i, e in enumerate(self.events):
                if e["event"] == name and pred(e.get("data", {})):
                    del self.events[i]
                    return e
            left = deadline - time.monotonic()
            if left <= 0:
                raise TestFailure(f"no {name} event within {timeout}s")
            e = self.recv(left)
            if "event" in e:
                self.events.append(e)

    def close(self):
        self.sock.close()


class VM:
    """A pinvm process with a QMP socket (optional) and captured output."""

    def __init__(self, ctx, extra, qmp=True, mem="128", smp="1"):
        self.ctx = ctx
        self.dir = tempfile.mkdtemp(prefix="vm-", dir=ctx.tmp)
        self.sock = os.path.join(self.dir, "qmp.sock")
        self.out = open(os.path.join(self.dir, "out"), "w+b")
        self.err = open(os.path.join(self.dir, "err"), "w+b")
        argv = [ctx.pinvm, "-kernel", ctx.kernel, "-nographic",
                "-m", mem, "-smp", smp, "-no-reboot"]
        if qmp:
            argv += ["-qmp", f"unix:{self.sock},server=on,wait=off"]
        self.proc = subprocess.Popen(argv + extra, stdin=subprocess.DEVNULL,
                                     stdout=self.out, stderr=self.err)
        self.qmp = None

    def connect(self):
        self.qmp = QMP(self.sock)
        return self.qmp

    def serial(self):
        self.out.seek(0)
        return self.out.read().decode(errors="replace")

    def stderr(self):
        self.err.seek(0)
        return self.err.read().decode(errors="replace")

    def wait_serial(self, pattern, timeout=TIMEOUT):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = re.search(pattern, self.serial())
            if m:
                return m
            if self.proc.poll() is not None:
                break
            time.sleep(0.01)
        raise TestFailure(f"no '{pattern}' in the serial output: {self.serial()[-300:]!r}")

    def wait_stderr(self, pattern, timeout=TIMEOUT):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if re.search(pattern, self.stderr()):
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.01)
        raise TestFailure(f"no '{pattern}' on stderr: {self.stderr()[-300:]!r}")

    def wait_exit(self, timeout=TIMEOUT):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise TestFailure("pinvm did not exit in time")

    def close(self):
        if self.qmp:
            self.qmp.close()
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.out.close()
        self.err.close()


class Ctx:
    def __init__(self, pinvm, kernel, tmp):
        self.pinvm, self.kernel, self.tmp = pinvm, kernel, tmp
        self.vms = []
        self._good = None

    def vm(self, extra=(), **kw):
        v = VM(self, list(extra), **kw)
        self.vms.append(v)
        return v

    def cleanup(self):
        for v in self.vms:
            v.close()
        self.vms = []

    def migrate_midway(self, uri, wait=True, smp="1"):
        """Run snap_pin until its first progress line, migrate it to uri.
        Returns (source VM, source pins, progress count at the migration)."""
        src = self.vm(smp=smp)
        q = src.connect()
        src.wait_serial(r"snap_pin: progress \d+/")
        q.ok("migrate", {"uri": uri})
        if not wait:
            return src, None, None
        q.event("MIGRATION", lambda d: d.get("status") == "completed")
        st = q.ok("query-status")
        check(st == {"running": False, "status": "postmigrate"},
              f"source after migrate: {st}")
        pins = q.ok("query-cr-pins")
        done = [int(x) for x in re.findall(r"progress (\d+)/", src.serial())]
        check(done and done[-1] < ATTEMPTS, "the source finished before the migration")
        return src, pins, done[-1]

    def good_snapshot(self):
        """A snapshot of snap_pin midway (made once, reused)."""
        if self._good is None:
            path = os.path.join(self.tmp, "good.snap")
            src, _, _ = self.migrate_midway("file:" + path)
            src.close()
            with open(path, "rb") as f:
                self._good = f.read()
        return self._good


def check_restored(vm, at):
    rc = vm.wait_exit(RUN_TIMEOUT)
    out = vm.serial()
    check(rc == DONE_STATUS,
          f"restored guest exited {rc}, expected {DONE_STATUS}; stderr {vm.stderr()[-300:]!r}")
    check(f"snap_pin: final {ATTEMPTS} of {ATTEMPTS} attempts blocked" in out,
          f"restored guest did not report every attempt blocked: {out[-300:]!r}")
    check("pinned cr0" not in out, "the restored guest booted again instead of resuming")
    later = [int(x) for x in re.findall(r"progress (\d+)/", out)]
    check(later and min(later) > at, f"resumed at the wrong place: {later[:3]} after {at}")


TESTS = []


def test(fn):
    TESTS.append(fn)
    return fn


@test
def file_round_trip(ctx):
    path = os.path.join(ctx.tmp, "rt.snap")
    src, pins, at = ctx.migrate_midway("file:" + path)
    info = src.qmp.ok("query-migrate")
    check(info["status"] == "completed", f"query-migrate: {info}")
    ram = info["ram"]
    check(ram["total"] == 128 << 20 and 0 < ram["transferred"] <= os.path.getsize(path),
          f"query-migrate ram: {ram}, file {os.path.getsize(path)}")
    check(ram["duplicate"] > 0 and ram["normal"] > 0, f"zero pages not counted: {ram}")
    check(pins[0]["cr4-pinned"] & SMEP and pins[0]["cr0-pinned"] & WP, f"source pins {pins}")
    leftovers = [f for f in os.listdir(ctx.tmp) if ".tmp" in f]
    check(not leftovers, f"temporary files left: {leftovers}")
    src.qmp.ok("quit")
    src.wait_exit()
    dst = ctx.vm(["-incoming", "file:" + path, "-S"])
    q = dst.connect()
    check(q.ok("query-cr-pins") == pins, "restored pins differ from the source's")
    st = q.ok("query-status")
    # QEMU: after an incoming migration with -S the VM is "paused"
    check(st == {"running": False, "status": "paused"}, f"-S: restored VM status {st}")
    check("snap_pin" not in dst.serial(), "-S: guest output before cont")
    q.ok("cont")
    check_restored(dst, at)


@test
def smp_round_trip(ctx):
    """-smp 2: AP 1 pinned itself and parked; both vCPUs' pins (and the
    parked AP's LAPIC state) cross the snapshot."""
    path = os.path.join(ctx.tmp, "smp.snap")
    src, pins, at = ctx.migrate_midway("file:" + path, smp="2")
    check(len(pins) == 2 and all(p["cr4-pinned"] & SMEP and p["cr0-pinned"] & WP
                                 for p in pins), f"source pins {pins}")
    src.qmp.ok("quit")
    dst = ctx.vm(["-incoming", "file:" + path, "-S"], smp="2")
    q = dst.connect()
    check(q.ok("query-cr-pins") == pins, "restored pins differ from the source's")
    q.ok("cont")
    check_restored(dst, at)


@test
def pending_smi_crosses(ctx):
    """An SMI injected into a stopped guest is a pending event: it is taken
    after the restore (and its RSM passes the pin check), not lost."""
    path = os.path.join(ctx.tmp, "smi.snap")
    src = ctx.vm()
    q = src.connect()
    src.wait_serial(r"snap_pin: progress")
    q.ok("stop")
    q.ok("inject-smi")
    q.ok("migrate", {"uri": "file:" + path})
    q.event("MIGRATION", lambda d: d.get("status") == "completed")
    at = max(int(x) for x in re.findall(r"progress (\d+)/", src.serial()))
    q.ok("quit")
    log = os.path.join(ctx.tmp, "smm.log")
    dst = ctx.vm(["-incoming", "file:" + path, "-d", "smm", "-D", log], qmp=False)
    check_restored(dst, at)
    with open(log) as f:
        text = f.read()
    check("SMM: enter CPU 0" in text and "SMM: RSM CPU 0" in text,
          f"the pending SMI was not taken after the restore: {text!r}")


@test
def unix_live_migration(ctx):
    path = os.path.join(ctx.tmp, "mig.sock")
    dst = ctx.vm(["-incoming", "unix:" + path], qmp=False)
    dst.wait_stderr("waiting for migration")
    src, pins, at = ctx.migrate_midway("unix:" + path)
    check(pins[0]["cr4-pinned"] & SMEP, f"source pins {pins}")
    check_restored(dst, at)


@test
def tcp_live_migration(ctx):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    dst = ctx.vm(["-incoming", f"tcp:127.0.0.1:{port}", "-S"])
    dst.wait_stderr("waiting for migration")
    src, pins, at = ctx.migrate_midway(f"tcp:127.0.0.1:{port}")
    q = dst.connect()
    check(q.ok("query-cr-pins") == pins, "restored pins differ from the source's")
    q.ok("cont")
    check_restored(dst, at)


@test
def refused_live_migration(ctx):
    """A destination that refuses the stream (other -m): the source learns
    it (failed, not completed) and goes on running."""
    path = os.path.join(ctx.tmp, "mig.sock")
    dst = ctx.vm(["-incoming", "unix:" + path], qmp=False, mem="256")
    dst.wait_stderr("waiting for migration")
    src = ctx.vm()
    q = src.connect()
    src.wait_serial(r"snap_pin: progress")
    q.ok("migrate", {"uri": "unix:" + path})
    q.event("MIGRATION", lambda d: d.get("status") in ("failed", "completed"))
    info = q.ok("query-migrate")
    check(info["status"] == "failed", f"query-migrate: {info}")
    check(q.ok("query-status")["status"] == "running", "source did not resume")
    check(dst.wait_exit() == 1 and "machine mismatch" in dst.stderr(), dst.stderr())
    check("snap_pin" not in dst.serial(), "the refused destination ran the guest")
    src.wait_serial(r"snap_pin: final %d of %d" % (ATTEMPTS, ATTEMPTS), RUN_TIMEOUT)
    check(src.wait_exit() == DONE_STATUS, "source did not finish after the failed migration")


@test
def failed_migration_keeps_running(ctx):
    src = ctx.vm()
    q = src.connect()
    src.wait_serial(r"snap_pin: progress")
    target = os.path.join(ctx.tmp, "adir")
    os.mkdir(target)  # rename() onto a directory fails after the write
    q.ok("migrate", {"uri": "file:" + target})
    q.event("MIGRATION", lambda d: d.get("status") == "failed")
    info = q.ok("query-migrate")
    check(info["status"] == "failed" and info.get("error-desc"), f"query-migrate: {info}")
    check(q.ok("query-status")["status"] == "running", "source did not resume")
    check(os.listdir(target) == [] and not [f for f in os.listdir(ctx.tmp) if ".tmp" in f],
          "a temporary file was left behind")
    err = q.cmd("migrate", {"uri": "ftp:x"})
    check("error" in err, f"bad URI accepted: {err}")
    q.ok("quit")


def refused(ctx, blob, want, extra=(), mem="128", smp="1"):
    path = os.path.join(ctx.tmp, "bad.snap")
    with open(path, "wb") as f:
        f.write(blob)
    vm = ctx.vm(["-incoming", "file:" + path] + list(extra), qmp=False, mem=mem, smp=smp)
    rc = vm.wait_exit()
    err = vm.stderr()
    check(rc == 1, f"{want}: exit status {rc}, expected 1; stderr {err!r}")
    check(re.search(want, err), f"expected /{want}/ on stderr, got {err!r}")
    check("snap_pin" not in vm.serial(), f"{want}: the guest ran")


@test
def bad_magic(ctx):
    g = ctx.good_snapshot()
    refused(ctx, b"X" + g[1:], "bad magic")


@test
def unknown_format_version(ctx):
    g = bytearray(ctx.good_snapshot())
    struct.pack_into("<I", g, 8, 2)
    refused(ctx, bytes(g), "format version 2 is not supported")


@test
def flipped_bytes(ctx):
    g = ctx.good_snapshot()
    refused(ctx, g[:13] + bytes([g[13] ^ 1]) + g[14:], "header checksum")
    for off, sid, _, payload in sections(g):
        pos = off + 16 + len(payload) // 2
        if not payload:
            continue
        bad = g[:pos] + bytes([g[pos] ^ 0x40]) + g[pos + 1:]
        refused(ctx, bad, f"section {SEC_NAME[sid]} at byte {off}: checksum mismatch")
        if sid == SEC["RAM"]:
            break  # one RAM chunk is enough
    # a damaged section length
    off = sections(g)[2][0]
    bad = bytearray(g)
    bad[off + 15] ^= 0x10
    refused(ctx, bytes(bad), "over the limit")


@test
def truncated(ctx):
    g = ctx.good_snapshot()
    refused(ctx, b"", "empty")
    for n in (10, 16, 40, len(g) // 2, len(g) - 30, len(g) - 1):
        refused(ctx, g[:n], "truncated")
    refused(ctx, g + b"\0", "data after the END section")


@test
def no_pins_section(ctx):
    g = ctx.good_snapshot()
    secs = [s for s in sections(g) if s[1] != SEC["PINS"]]
    refused(ctx, rebuild(g, secs), "no PINS section")


@test
def bad_section_contents(ctx):
    g = ctx.good_snapshot()
    secs = sections(g)
    # an unknown section version, checksum recomputed
    v2 = [(o, s, 2 if s == SEC["PINS"] else v, p) for o, s, v, p in secs]
    refused(ctx, rebuild(g, v2), "PINS: version 2 is not supported")
    # a pin outside the pinnable set
    bad = [(o, s, v, p[:16] + struct.pack("<Q", 1) if s == SEC["PINS"] else p)
           for o, s, v, p in secs]
    refused(ctx, rebuild(g, bad), "outside the pinnable set")
    # a CPU state no CPU can be in: CR0.PG without PE (CR0 is at byte 304
    # of the CPU payload: count, index, 16 GPRs, RIP, next RIP, EFLAGS,
    # 8 segments, GDTR, IDTR)
    cpu = [(o, s, v, p[:304] + struct.pack("<Q", 1 << 31) + p[312:] if s == SEC["CPU"] else p)
           for o, s, v, p in secs]
    refused(ctx, rebuild(g, cpu), "impossible control state")
    # an unknown section
    extra = secs[:2] + [(0, 77, 1, b"x")] + secs[2:]
    refused(ctx, rebuild(g, extra), "id 0x4d .*unknown")
    # a section twice
    refused(ctx, rebuild(g, secs[:4] + secs[3:]), "appears twice")


@test
def wrong_machine(ctx):
    g = ctx.good_snapshot()
    refused(ctx, g, r"machine mismatch: .*-m 128M", mem="256")
    refused(ctx, g, r"machine mismatch: .*-smp 1", smp="2")
    refused(ctx, g, r"machine mismatch: .*cr-pin", extra=["-cpu", "max,-cr-pin"])


@test
def missing_file(ctx):
    vm = ctx.vm(["-incoming", "file:" + os.path.join(ctx.tmp, "nope")], qmp=False)
    check(vm.wait_exit() == 1 and "No such file" in vm.stderr(), vm.stderr())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pinvm", required=True)
    ap.add_argument("--kernel", required=True)
    ap.add_argument("-k", default="")
    a = ap.parse_args()
    passed = failed = 0
    tmp = tempfile.mkdtemp(prefix="pinvm-snap-")

    def alarm(*_):
        raise TestFailure(f"test took more than {TEST_ALARM}s")
    signal.signal(signal.SIGALRM, alarm)
    ctx = Ctx(a.pinvm, a.kernel, tmp)
    try:
        for fn in TESTS:
            if a.k not in fn.__name__:
                continue
            signal.alarm(TEST_ALARM)
            try:
                fn(ctx)
                print(f"PASS {fn.__name__}")
                passed += 1
            except Exception as e:
                print(f"FAIL {fn.__name__}: {e}")
                if not isinstance(e, TestFailure):
                    traceback.print_exc()
                failed += 1
            finally:
                signal.alarm(0)
                ctx.cleanup()
            sys.stdout.flush()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
