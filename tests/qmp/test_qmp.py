#!/usr/bin/env python3
"""QMP tests for pinvm with a real client (standard library only).

usage: test_qmp.py [--pinvm PINVM --kernel pin_loop.elf] [--fake QMP_FAKE]
                   [-k SUBSTRING]

Every test runs against each target given: "pinvm" (the real monitor
running tests/qmp/guest/pin_loop.c) and/or "fake" (tests/qmp/qmp_fake.c,
the same QMP layer on a simulated machine). Tests wait for the reply or
event they expect with a bounded timeout; each test is also bounded by an
alarm. The last line is "N passed, M failed".
"""
import argparse
import json
import os
import random
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

TIMEOUT = 15.0        # any single wait for a reply, event or exit
TEST_ALARM = 90       # hard bound for one test
PIN_LOOP_STATUS = (0x10 << 1) | 1
SMEP = 1 << 20
SMAP = 1 << 21
UMIP = 1 << 11
WP = 1 << 16
CR4_ALLOWED = SMEP | SMAP | UMIP
EVENT_KEYS = {"cpu-index", "cr", "rip", "cpl", "old", "new", "pinned", "insn"}
# The audit trail's default token bucket (src/pin/audit.h).
AUDIT_BURST, AUDIT_RATE = 10, 10


class TestFailure(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise TestFailure(msg)


class QMP:
    """A minimal QMP client: framing, replies, and an event queue."""

    def __init__(self, path, greet=True):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(TIMEOUT)
        self.sock.connect(path)
        self.buf = b""
        self.events = []
        self.greeting = self.recv() if greet else None

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def send_raw(self, data):
        self.sock.sendall(data)

    def recv(self, timeout=TIMEOUT):
        """The next message, or raise on timeout/EOF."""
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
                raise EOFError("server closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def reply(self, timeout=TIMEOUT):
        """The next reply; events seen on the way are queued."""
        while True:
            msg = self.recv(timeout)
            if "event" in msg:
                self.events.append(msg)
            else:
                return msg

    def cmd(self, name, args=None, id=None):
        msg = {"execute": name}
        if args is not None:
            msg["arguments"] = args
        if id is not None:
            msg["id"] = id
        self.send_raw(json.dumps(msg).encode() + b"\n")
        return self.reply()

    def ok(self, name, args=None):
        r = self.cmd(name, args)
        check("return" in r, f"{name} {args}: expected a return, got {r}")
        return r["return"]

    def err(self, name, args=None, cls="GenericError", raw=None):
        r = self.cmd(name, args) if raw is None else self._raw(raw)
        check("error" in r, f"{name} {args}: expected an error, got {r}")
        check(r["error"].get("class") == cls and
              isinstance(r["error"].get("desc"), str) and r["error"]["desc"],
              f"{name} {args}: expected {cls}, got {r}")
        return r["error"]["desc"]

    def _raw(self, data):
        self.send_raw(data)
        return self.reply()

    def negotiate(self):
        check(self.cmd("qmp_capabilities") == {"return": {}},
              "qmp_capabilities failed")

    def event(self, name, timeout=TIMEOUT):
        """Wait for event name (earlier queued ones count)."""
        deadline = time.monotonic() + timeout
        while True:
            for i, e in enumerate(self.events):
                if e["event"] == name:
                    return self.events.pop(i)
            left = deadline - time.monotonic()
            if left <= 0:
                raise TestFailure(f"timed out waiting for event {name}")
            msg = self.recv(left)
            check("event" in msg, f"unexpected reply {msg} waiting for {name}")
            self.events.append(msg)

    def silent(self, seconds):
        """True if nothing arrives within seconds (a bounded negative
        check)."""
        if self.buf:
            return False
        r, _, _ = select.select([self.sock], [], [], seconds)
        return not r


class VM:
    """One pinvm (or fake) process with a QMP socket in a private dir."""

    def __init__(self, target, paused=True, opts="server=on,wait=off",
                 extra=(), spec=None, sockdir=None, kernel="pin_loop"):
        self.dir = sockdir or tempfile.mkdtemp(prefix="pinvm-qmp-")
        self.own_dir = sockdir is None
        self.path = os.path.join(self.dir, "qmp.sock")
        self.spec = spec if spec is not None else f"unix:{self.path},{opts}"
        argv = target.argv(self.spec, kernel) + list(extra)
        if paused:
            argv.append("-S")
        self.out_path = os.path.join(self.dir, "serial.out")
        self.err_path = os.path.join(self.dir, "stderr.out")
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                         stdout=out, stderr=err)
        self.clients = []

    def wait_socket(self):
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise TestFailure(f"exited early ({self.proc.returncode}): "
                                  f"{self.stderr()}")
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(self.path)
                return s
            except OSError:
                s.close()
                time.sleep(0.02)  # polling for the socket to appear
        raise TestFailure("socket never appeared")

    def client(self, negotiate=True):
        self.wait_socket().close()  # it listens now (that probe is served
        c = QMP(self.path)          # and closed first: one at a time)
        self.clients.append(c)
        if negotiate:
            c.negotiate()
        return c

    def wait_exit(self, timeout=TIMEOUT):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise TestFailure("process did not exit")

    def serial(self):
        with open(self.out_path, "rb") as f:
            return f.read().decode(errors="replace")

    def stderr(self):
        with open(self.err_path, "rb") as f:
            return f.read().decode(errors="replace")

    def alive(self):
        return self.proc.poll() is None

    def close(self):
        for c in self.clients:
            c.close()
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        if self.own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)


class Target:
    def __init__(self, name, argv_fn, real):
        self.name = name
        self.argv = argv_fn
        self.real = real  # a real guest: serial output, real reboot


TESTS = []


def test(real_only=False):
    def wrap(fn):
        TESTS.append((fn.__name__, fn, real_only))
        return fn
    return wrap


# ---- protocol ----------------------------------------------------------

@test()
def greeting_and_negotiation(t):
    vm = VM(t)
    try:
        c = vm.client(negotiate=False)
        g = c.greeting
        check(set(g) == {"QMP"}, f"greeting {g}")
        check(g["QMP"]["capabilities"] == [], f"capabilities {g}")
        v = g["QMP"]["version"]
        check(all(isinstance(v["qemu"][k], int)
                  for k in ("major", "minor", "micro")), f"version {v}")
        check(isinstance(v["package"], str), f"package {v}")
        # Before negotiation: QEMU's CommandNotFound, id echoed.
        r = c.cmd("query-status", id=7)
        check(r.get("id") == 7 and r["error"]["class"] == "CommandNotFound"
              and "qmp_capabilities" in r["error"]["desc"], f"pre-caps {r}")
        c.err("qmp_capabilities", {"enable": ["oob"]})
        c.err("qmp_capabilities", {"enable": "oob"})
        c.negotiate()
        c.err("qmp_capabilities", cls="CommandNotFound")
        check(c.ok("query-version") == v, "query-version != greeting version")
    finally:
        vm.close()


@test()
def id_is_echoed(t):
    vm = VM(t)
    try:
        c = vm.client()
        # "\x01u64:5" is the server's internal marker for big integers:
        # a client's id must come back as the string it sent.
        for ident in (1, "abc", {"x": [1, 2]}, [None, True], 2 ** 40,
                      "\x01u64:5", {"a": "\x01u64:6"}):
            r = c.cmd("query-status", id=ident)
            check(r.get("id") == ident and "return" in r, f"id {ident}: {r}")
            r = c.cmd("no-such-command", id=ident)
            check(r.get("id") == ident and "error" in r, f"id {ident}: {r}")
        r = c.cmd("query-status")
        check("id" not in r, f"no id given but got {r}")
        desc = c.err("\x01u64:7", cls="CommandNotFound")
        check("u64:7" in desc, f"marker in a command name: {desc!r}")
    finally:
        vm.close()


@test()
def status_stop_cont(t):
    vm = VM(t)
    try:
        c = vm.client()
        check(c.ok("query-status") == {"running": False, "status": "prelaunch"},
              "prelaunch status")
        check(c.ok("cont") == {}, "cont")
        c.event("RESUME")
        check(c.ok("query-status") == {"running": True, "status": "running"},
              "running status")
        check(c.ok("stop") == {}, "stop")
        c.event("STOP")
        check(c.ok("query-status") == {"running": False, "status": "paused"},
              "paused status")
        # No transition, no event: the reply to a later command comes with
        # no STOP/RESUME queued before it.
        c.ok("stop")
        c.ok("query-status")
        check(not [e for e in c.events if e["event"] in ("STOP", "RESUME")],
              f"spurious events {c.events}")
        c.ok("cont")
        e = c.event("RESUME")
        ts = e["timestamp"]
        check(isinstance(ts["seconds"], int) and
              0 <= ts["microseconds"] < 1000000 and
              abs(ts["seconds"] - time.time()) < 60, f"timestamp {ts}")
        c.ok("cont")
        c.ok("query-status")
        check(not [e for e in c.events if e["event"] == "RESUME"],
              "RESUME without a transition")
    finally:
        vm.close()
    # -S then stop: still prelaunch, no STOP (the VM never ran), as QEMU.
    vm = VM(t)
    try:
        c = vm.client()
        c.ok("stop")
        check(c.ok("query-status")["status"] == "prelaunch", "prelaunch stop")
        check(not c.events, f"events {c.events}")
        c.ok("cont")
        c.event("RESUME")
    finally:
        vm.close()


@test()
def query_cpus_fast(t):
    n = 2
    vm = VM(t, extra=("-smp", str(n)))
    try:
        c = vm.client()
        cpus = c.ok("query-cpus-fast")
        check(isinstance(cpus, list) and len(cpus) == n, f"cpus {cpus}")
        for i, cpu in enumerate(cpus):
            check(cpu["cpu-index"] == i and cpu["target"] == "x86_64" and
                  isinstance(cpu["thread-id"], int) and
                  isinstance(cpu["qom-path"], str) and
                  isinstance(cpu["props"], dict), f"cpu {cpu}")
        check(len(c.ok("query-cr-pins")) == n, "one pin entry per vCPU")
        check(len(c.ok("query-pin-violations")["cpus"]) == n,
              "one counter entry per vCPU")
        c.ok("set-cr-pins", {"cpu-index": n - 1, "cr4-pinned": SMAP})
        pins = c.ok("query-cr-pins")
        check(pins[n - 1]["cr4-pinned"] == SMAP and
              (n == 1 or pins[0]["cr4-pinned"] == 0), f"per-vCPU pins {pins}")
        c.ok("inject-smi", {"cpu-index": n - 1})
        c.err("inject-smi", {"cpu-index": n})
    finally:
        vm.close()


@test()
def bad_input_keeps_running(t):
    vm = VM(t, paused=False)
    try:
        c = vm.client()
        c.err(None, raw=b'{"execute": }\n')
        c.err(None, raw=b'[1, 2]\n')
        c.err(None, raw=b'{"execute": 5}\n')
        c.err(None, raw=b'{}\n')
        c.err(None, raw=b'{"execute": "query-status", "arguments": [1]}\n')
        c.err(None, raw=b'{"execute": "query-status", "bogus": 1}\n')
        c.err(None, raw=b'{"exec-oob": "query-status"}\n')
        c.err(None, raw=b'{"execute": "\xff\xfe"}\n')
        c.err(None, raw=b'"just a string"\n')
        c.err(None, raw=b'\x00\n')
        c.err(None, raw=b'{"execute": "query-status", "execute": "quit"}\n')
        c.err(None, raw=b"[" * 5000 + b"\n")
        # A good object then junk: the first runs, the junk is an error.
        c.send_raw(b'{"execute": "query-status", "id": 1} x\n')
        check(c.reply().get("id") == 1, "object before junk")
        check("error" in c.reply(), "junk after object")
        desc = c.err("no-such-command", cls="CommandNotFound")
        check("no-such-command" in desc, f"desc {desc}")
        c.err("query-status", {"unexpected": 1})
        c.err("quit", {"now": True})
        # Still serving, the guest still running.
        check(c.ok("query-status")["status"] == "running", "still running")
        check(vm.alive(), "monitor died")
    finally:
        vm.close()


COMMANDS = ["qmp_capabilities", "query-version", "query-status",
            "query-cpus-fast", "stop", "cont", "query-cr-pins",
            "set-cr-pins", "inject-smi", "query-pin-violations",
            "no-such-command"]  # not system_reset/quit: they end the run


@test()
def random_arguments(t):
    rnd = random.Random(20191220)
    values = [0, 1, -1, 2 ** 63 - 1, -2 ** 63, 65536, SMEP, 3147776, 0.5,
              "", "x" * 300, None, True, False, [], {}, [1], {"a": 1}]
    keys = ["cpu-index", "cr0-pinned", "cr4-pinned", "enable", "x", ""]
    vm = VM(t, paused=False)
    try:
        c = vm.client()
        for i in range(400):
            args = {rnd.choice(keys): rnd.choice(values)
                    for _ in range(rnd.randint(0, 3))}
            r = c.cmd(rnd.choice(COMMANDS), args, id=i)
            check(r.get("id") == i and ("return" in r or r["error"]["class"]
                  in ("GenericError", "CommandNotFound")), f"reply {r}")
        check(vm.alive(), "monitor died")
    finally:
        vm.close()


@test()
def random_bytes(t):
    rnd = random.Random(4242)
    good = [json.dumps({"execute": n}).encode() for n in COMMANDS]
    vm = VM(t, paused=False)
    try:
        for round in range(3):
            c = vm.client()
            for _ in range(200):
                kind = rnd.randint(0, 3)
                if kind == 0:
                    msg = bytes(rnd.randrange(256) for _ in range(rnd.randint(1, 64)))
                elif kind == 1:
                    g = rnd.choice(good)
                    msg = g[:rnd.randint(0, len(g))]
                elif kind == 2:
                    g = bytearray(rnd.choice(good))
                    g[rnd.randrange(len(g))] = rnd.randrange(256)
                    msg = bytes(g)
                else:
                    msg = rnd.choice(good)
                try:
                    c.send_raw(msg + b"\n")
                except (BrokenPipeError, ConnectionResetError):
                    break  # the server may hang up on garbage: fine
            c.close()
        c = vm.client()
        check(c.ok("query-status")["running"] in (True, False), "serving")
        check(vm.alive(), "monitor died")
    finally:
        vm.close()


@test()
def framing_without_newlines(t):
    vm = VM(t)
    try:
        c = vm.client()
        # The old qemu.qmp/QEMUMonitorProtocol sends no newline.
        c.send_raw(b'{"execute":"query-status","id":1}'
                   b'{"execute":"query-status","id":2}')
        check(c.reply().get("id") == 1 and c.reply().get("id") == 2,
              "back-to-back objects")
        # One command cut in two writes.
        c.send_raw(b'{"execute": "query-st')
        check(c.silent(0.2), "replied to half a command")
        c.send_raw(b'atus", "id": 3}')
        check(c.reply().get("id") == 3, "command split across writes")
    finally:
        vm.close()


@test()
def half_close_gets_replies(t):
    vm = VM(t)
    try:
        vm.wait_socket().close()
        # What "echo ... | socat - UNIX-CONNECT:PATH" does: send, shut the
        # write side, read replies until the server closes.
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(TIMEOUT)
        s.connect(vm.path)
        s.sendall(b'{"execute": "qmp_capabilities"}\n'
                  b'{"execute": "query-status", "id": "q"}\n'
                  b'{"execute": "query-cr-')  # cut: never executed
        s.shutdown(socket.SHUT_WR)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        s.close()
        msgs = [json.loads(x) for x in data.splitlines()]
        check(len(msgs) == 3 and "QMP" in msgs[0] and
              msgs[1] == {"return": {}} and msgs[2].get("id") == "q",
              f"replies {msgs}")
        c = vm.client()
        check(c.ok("query-status")["status"] == "prelaunch", "still serving")
    finally:
        vm.close()


@test()
def long_lines(t):
    vm = VM(t)
    try:
        c = vm.client()
        # Under the 64 KiB cap: fine.
        big = "x" * 60000
        r = c.cmd("query-status", id=big)
        check(r.get("id") == big and "return" in r, "60 KB message")
        # Over the cap with no end in sight: an error, then a disconnect.
        c.send_raw(b'{"execute": "' + b"a" * 70000)
        r = c.reply()
        check("error" in r and "exceeds" in r["error"]["desc"], f"long {r}")
        try:
            extra = c.recv(TIMEOUT)
            raise TestFailure(f"not disconnected: {extra}")
        except EOFError:
            pass
        except (ConnectionResetError, BrokenPipeError):
            pass
        # The monitor lives on and takes the next client.
        c2 = vm.client()
        check(c2.ok("query-status")["status"] == "prelaunch", "after long line")
    finally:
        vm.close()


@test()
def events_only_after_negotiation(t):
    vm = VM(t, paused=False)  # the guest runs into its pin at once
    try:
        c = vm.client(negotiate=False)
        check(c.silent(0.3), "event before qmp_capabilities")
        c.negotiate()
        c.event("CR_PIN_VIOLATION")
    finally:
        vm.close()


@test()
def many_rapid_commands(t):
    vm = VM(t, paused=False)
    try:
        c = vm.client()
        n = 2000
        c.send_raw(b"".join(json.dumps({"execute": "query-status", "id": i})
                            .encode() + b"\n" for i in range(n)))
        for i in range(n):
            r = c.reply()
            check(r.get("id") == i and "return" in r, f"reply {i}: {r}")
        check(vm.alive(), "monitor died")
    finally:
        vm.close()


@test()
def client_disconnects_mid_command(t):
    vm = VM(t, paused=False)
    try:
        a = vm.client()
        a.send_raw(b'{"execute": "query-cr-')
        a.close()
        b = vm.client()
        # A client that sends a burst and leaves without reading.
        b.send_raw(b'{"execute":"query-cr-pins"}\n' * 200)
        b.close()
        c = vm.client()
        check(c.ok("query-status")["running"], "after disconnects")
        check(vm.alive(), "monitor died")
    finally:
        vm.close()


@test()
def one_client_at_a_time(t):
    vm = VM(t)
    try:
        a = vm.client()
        b = QMP(vm.path, greet=False)
        vm.clients.append(b)
        check(b.silent(0.3), "second client got an answer while the first "
              "is connected")
        a.close()
        g = b.recv()
        check("QMP" in g, f"second client greeting {g}")
        b.negotiate()
        check(b.ok("query-status")["status"] == "prelaunch", "second client")
    finally:
        vm.close()


# ---- pins ----------------------------------------------------------------

@test()
def set_and_query_pins(t):
    vm = VM(t)
    try:
        c = vm.client()
        pins = c.ok("query-cr-pins")
        check(pins[0] == {"cpu-index": 0, "cr0-allowed": 65536,
                          "cr4-allowed": 3147776, "cr0-pinned": 0,
                          "cr4-pinned": 0}, f"initial {pins}")

        def p0():
            return c.ok("query-cr-pins")[0]
        c.ok("set-cr-pins", {"cpu-index": 0, "cr4-pinned": SMEP | SMAP})
        check(p0()["cr4-pinned"] == SMEP | SMAP and p0()["cr0-pinned"] == 0,
              "set cr4")
        c.ok("set-cr-pins", {"cpu-index": 0, "cr0-pinned": WP})
        check(p0()["cr0-pinned"] == WP and p0()["cr4-pinned"] == SMEP | SMAP,
              "cr0 alone leaves cr4")
        # A host write sets exactly: it can clear pins.
        c.ok("set-cr-pins", {"cpu-index": 0, "cr4-pinned": UMIP})
        check(p0()["cr4-pinned"] == UMIP, "exact set")
        c.ok("set-cr-pins", {"cpu-index": 0})
        check(p0()["cr4-pinned"] == UMIP and p0()["cr0-pinned"] == WP,
              "no field, no change")
        c.ok("set-cr-pins", {"cpu-index": 0, "cr0-pinned": 0, "cr4-pinned": 0})
        check(p0()["cr4-pinned"] == 0 and p0()["cr0-pinned"] == 0, "clear")
    finally:
        vm.close()


@test()
def set_pins_refused(t):
    vm = VM(t)
    try:
        c = vm.client()
        c.ok("set-cr-pins", {"cpu-index": 0, "cr0-pinned": WP,
                             "cr4-pinned": SMEP})
        before = c.ok("query-cr-pins")
        bad = [
            {"cpu-index": 0, "cr0-pinned": 0, "cr4-pinned": 1},  # both checked
            {"cpu-index": 0, "cr4-pinned": 0, "cr0-pinned": 1},  # first
            {"cpu-index": 0, "cr4-pinned": CR4_ALLOWED | (1 << 7)},
            {"cpu-index": 0, "cr0-pinned": -1},
            {"cpu-index": 0, "cr4-pinned": 2 ** 63 - 1},
            {"cpu-index": 99, "cr4-pinned": 0},
            {"cpu-index": -1, "cr4-pinned": 0},
            {"cr4-pinned": 0},
            {"cpu-index": "0", "cr4-pinned": 0},
            {"cpu-index": 0, "cr4-pinned": "0"},
            {"cpu-index": 0, "cr4-pinned": 0.5},
            {"cpu-index": 0, "cr4-pinned": None},
            {"cpu-index": 0, "cr4-pinned": 0, "cr8-pinned": 0},
        ]
        for args in bad:
            desc = c.err("set-cr-pins", args)
            check(c.ok("query-cr-pins") == before,
                  f"{args} changed pins ({desc})")
        check("missing" in c.err("set-cr-pins", {}), "missing cpu-index")
        check("type" in c.err("set-cr-pins", {"cpu-index": True}),
              "mistyped cpu-index")
    finally:
        vm.close()


@test()
def inject_smi(t):
    vm = VM(t)
    try:
        c = vm.client()
        check(c.ok("inject-smi") == {}, "all vCPUs")
        check(c.ok("inject-smi", {"cpu-index": 0}) == {}, "vCPU 0")
        c.err("inject-smi", {"cpu-index": 64})
        c.err("inject-smi", {"cpu-index": "0"})
        c.err("inject-smi", {"cpu": 0})
        # The guest runs on through the SMIs: still hits its pin, and still
        # ends when unpinned.
        c.ok("cont")
        c.event("CR_PIN_VIOLATION")
        c.ok("inject-smi")
        c.event("CR_PIN_VIOLATION")
        c.ok("set-cr-pins", {"cpu-index": 0, "cr4-pinned": 0})
        check(vm.wait_exit() == PIN_LOOP_STATUS, "guest exit after SMIs")
    finally:
        vm.close()


@test()
def violation_event_then_unpin(t):
    vm = VM(t)
    try:
        c = vm.client()
        check(c.ok("query-pin-violations")["total"] == 0, "nothing yet")
        c.ok("cont")
        e = c.event("CR_PIN_VIOLATION")
        d = e["data"]
        check(EVENT_KEYS <= set(d), f"event data {d}")
        check(d["cpu-index"] == 0 and d["cr"] == 4 and d["cpl"] == 0,
              f"event {d}")
        check(d["pinned"] & SMEP and d["old"] & SMEP and
              not d["new"] & SMEP and (d["old"] ^ d["new"]) == SMEP,
              f"values {d}")
        check(isinstance(d["rip"], int) and d["rip"] > 0, f"rip {d}")
        if not t.real:  # the fake's RIP is above INT64_MAX on purpose
            check(d["rip"] == 0xffffffff81000123, f"u64 rip {d['rip']}")
        check(re.fullmatch(r"[0-9a-f]{2}( [0-9a-f]{2})*", d["insn"]) and
              d["insn"].startswith("0f 22"), f"insn {d['insn']!r}")
        pins = c.ok("query-cr-pins")[0]
        check(pins["cr4-pinned"] & SMEP, f"guest pinned SMEP: {pins}")
        v = c.ok("query-pin-violations")
        check(v["total"] >= 1 and v["cpus"][0]["cpu-index"] == 0 and
              v["cpus"][0]["cr4"] >= 1 and v["cpus"][0]["cr0"] == 0,
              f"counters {v}")
        rec = v["recent"][0]
        check(EVENT_KEYS <= set(rec) and rec["cr"] == 4 and
              rec["rip"] == d["rip"] and rec["seq"] == v["total"],
              f"record {rec}")
        # Clear only CR4's pin (leaving WP pinned): the guest's next write
        # succeeds and it exits.
        c.ok("set-cr-pins", {"cpu-index": 0, "cr4-pinned": 0})
        s = c.event("SHUTDOWN")
        check(s["data"]["guest"] is True, f"shutdown {s}")
        check(vm.wait_exit() == PIN_LOOP_STATUS, "guest exit status")
        check(not os.path.exists(vm.path), "socket file left behind")
        if t.real:
            check("pin_loop: SMEP cleared after" in vm.serial(),
                  f"serial: {vm.serial()[-300:]}")
    finally:
        vm.close()


@test()
def violation_events_rate_limited(t):
    vm = VM(t)
    try:
        c = vm.client()
        c.ok("cont")
        first = c.event("CR_PIN_VIOLATION")
        deadline = time.monotonic() + 30
        while c.ok("query-pin-violations")["total"] < 60:
            check(time.monotonic() < deadline, "guest too slow")
            time.sleep(0.05)  # polling a counter, not waiting for an event
        c.ok("stop")
        total = c.ok("query-pin-violations")["total"]
        evs = [first] + [e for e in c.events if e["event"] == "CR_PIN_VIOLATION"]
        t0 = first["timestamp"]["seconds"] + first["timestamp"]["microseconds"] / 1e6
        t1 = evs[-1]["timestamp"]["seconds"] + evs[-1]["timestamp"]["microseconds"] / 1e6
        bound = AUDIT_BURST + AUDIT_RATE * (t1 - t0) + 2
        check(len(evs) <= bound, f"{len(evs)} events > bound {bound:.1f}")
        check(len(evs) >= AUDIT_BURST, f"only {len(evs)} events: no burst")
        check(len(evs) < total, f"{len(evs)} events for {total} violations")
    finally:
        vm.close()


@test()
def system_reset_clears_pins(t):
    vm = VM(t)
    try:
        c = vm.client()
        c.ok("cont")
        c.event("CR_PIN_VIOLATION")
        c.ok("stop")
        c.event("STOP")
        check(c.ok("query-cr-pins")[0]["cr4-pinned"] & SMEP, "pinned")
        check(c.ok("system_reset") == {}, "system_reset")
        r = c.event("RESET")
        check(r["data"] == {"guest": False, "reason": "host-qmp-system-reset"},
              f"reset {r}")
        p = c.ok("query-cr-pins")[0]
        check(p["cr0-pinned"] == 0 and p["cr4-pinned"] == 0, f"pins {p}")
        check(c.ok("query-status")["status"] == "paused", "reset keeps paused")
        # Commands sent with system_reset in one write run after the reset.
        c.ok("set-cr-pins", {"cpu-index": 0, "cr4-pinned": SMEP})
        c.send_raw(b'{"execute": "system_reset", "id": 1}\n'
                   b'{"execute": "query-cr-pins", "id": 2}\n')
        check(c.reply() == {"return": {}, "id": 1}, "pipelined reset")
        r = c.reply()
        check(r.get("id") == 2 and r["return"][0]["cr4-pinned"] == 0,
              f"query after a pipelined reset: {r}")
        c.event("RESET")
        # The guest boots again: its early CR writes go through, it pins
        # again and hits its pin again.
        c.events.clear()
        c.ok("cont")
        c.event("CR_PIN_VIOLATION", timeout=TIMEOUT)
        check(c.ok("query-cr-pins")[0]["cr4-pinned"] & SMEP, "pinned again")
        c.ok("set-cr-pins", {"cpu-index": 0, "cr4-pinned": 0})
        check(vm.wait_exit() == PIN_LOOP_STATUS, "exit after reboot")
        if t.real:
            check(vm.serial().count("pin_loop: pinned") == 2,
                  f"two boots: {vm.serial()[-500:]}")
    finally:
        vm.close()


@test()
def quit_command(t):
    vm = VM(t, paused=False)
    try:
        c = vm.client()
        check(c.ok("quit") == {}, "quit")
        s = c.event("SHUTDOWN")
        check(s["data"] == {"guest": False, "reason": "host-qmp-quit"},
              f"shutdown {s}")
        check(vm.wait_exit() == 0, "quit exit status")
        check(not os.path.exists(vm.path), "socket file left behind")
    finally:
        vm.close()


@test(real_only=True)
def guest_reset_event(t):
    vm = VM(t, kernel="reset_once")
    try:
        c = vm.client()
        c.ok("cont")
        r = c.event("RESET")
        check(r["data"] == {"guest": True, "reason": "guest-reset"},
              f"reset {r}")
        s = c.event("SHUTDOWN")
        check(s["data"] == {"guest": True, "reason": "guest-shutdown"},
              f"shutdown {s}")
        check(vm.wait_exit() == (0x11 << 1) | 1, "reset_once exit status")
    finally:
        vm.close()


@test(real_only=True)
def halted_guest_stays_controllable(t):
    vm = VM(t, kernel="halt_once")
    try:
        c = vm.client()
        c.ok("cont")
        deadline = time.monotonic() + TIMEOUT
        while "halting" not in vm.serial():
            check(vm.alive(), f"exited: {vm.stderr()}")
            check(time.monotonic() < deadline, "guest never halted")
            time.sleep(0.02)  # polling a file for a line
        # Halted with IF=0: pinvm keeps serving instead of exiting.
        check(c.ok("query-status")["status"] == "running", "status")
        check(c.ok("query-cr-pins")[0]["cpu-index"] == 0, "query")
        c.ok("system_reset")
        c.event("RESET")
        s = c.event("SHUTDOWN")
        check(s["data"]["guest"] is True, f"shutdown {s}")
        check(vm.wait_exit() == (0x12 << 1) | 1, "halt_once exit status")
        check("halt_once: boot 2" in vm.serial(), "second boot")
    finally:
        vm.close()


@test(real_only=True)
def system_reset_with_no_reboot_shuts_down(t):
    vm = VM(t, extra=("-no-reboot",))
    try:
        c = vm.client()
        c.ok("system_reset")
        s = c.event("SHUTDOWN")
        check(s["data"] == {"guest": False, "reason": "host-qmp-system-reset"},
              f"shutdown {s}")
        check(vm.wait_exit() == 0, "exit status")
        check(not os.path.exists(vm.path), "socket file left behind")
    finally:
        vm.close()


@test()
def termination_signals_shut_down_cleanly(t):
    for sig, paused, opts in ((signal.SIGTERM, False, "server=on,wait=off"),
                              (signal.SIGINT, True, "server=on,wait=off"),
                              (signal.SIGHUP, False, "server=on,wait=on")):
        vm = VM(t, paused=paused, opts=opts)
        try:
            if opts.endswith("wait=on"):  # waiting for its first client
                deadline = time.monotonic() + TIMEOUT
                while "waiting for connection" not in vm.stderr():
                    check(time.monotonic() < deadline, "no waiting message")
                    time.sleep(0.02)  # polling a file for a line
            else:
                c = vm.client()
            vm.proc.send_signal(sig)
            if not opts.endswith("wait=on"):
                s = c.event("SHUTDOWN")
                check(s["data"] == {"guest": False, "reason": "host-signal"},
                      f"{sig}: {s}")
            check(vm.wait_exit() == 0, f"{sig}: exit status")
            check(not os.path.exists(vm.path), f"{sig}: socket left behind")
        finally:
            vm.close()


# ---- the socket and -qmp ---------------------------------------------------

@test(real_only=True)
def paused_needs_qmp(t):
    # -S alone could never run the guest: refused at parse time.
    argv = t.argv("unix:unused", "pin_loop")
    i = argv.index("-qmp")
    argv = argv[:i] + argv[i + 2:] + ["-S"]
    r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                       timeout=TIMEOUT)
    check(r.returncode == 2 and b"-S: needs -qmp" in r.stderr,
          f"rc {r.returncode} {r.stderr!r}")


@test()
def legacy_spelling(t):
    vm = VM(t, opts="server,nowait")
    try:
        c = vm.client()
        check(c.ok("query-status")["status"] == "prelaunch", "server,nowait")
    finally:
        vm.close()


@test()
def comma_in_path(t):
    d = tempfile.mkdtemp(prefix="pinvm,qmp-")
    try:
        path = os.path.join(d, "q,s")
        spec = "unix:" + path.replace(",", ",,") + ",server=on,wait=off"
        vm = VM(t, spec=spec, sockdir=d)
        vm.path = path
        try:
            c = vm.client()
            check(c.ok("query-status")["status"] == "prelaunch", "serving")
            c.ok("quit")
            check(vm.wait_exit() == 0 and not os.path.exists(path),
                  "exit and cleanup")
        finally:
            vm.close()
    finally:
        shutil.rmtree(d, ignore_errors=True)


@test()
def wait_on_holds_the_guest(t):
    vm = VM(t, paused=False, opts="server=on,wait=on")
    try:
        deadline = time.monotonic() + TIMEOUT
        while "waiting for connection" not in vm.stderr():
            check(vm.alive(), f"exited: {vm.stderr()}")
            check(time.monotonic() < deadline, "no waiting message")
            time.sleep(0.02)  # polling a file for a line
        # Nothing ran before a client came: no guest output.
        check(vm.serial() == "", f"guest ran early: {vm.serial()!r}")
        c = QMP(vm.path)
        vm.clients.append(c)
        c.negotiate()
        check(c.ok("query-status")["status"] == "running", "running")
        c.event("CR_PIN_VIOLATION")
    finally:
        vm.close()


@test()
def bad_specs_refused(t):
    d = tempfile.mkdtemp(prefix="pinvm-qmp-")
    try:
        p = os.path.join(d, "s")
        for spec in ("tcp:127.0.0.1:4444,server=on,wait=off", "unix:",
                     f"unix:{p},server=maybe", f"unix:{p}",
                     f"unix:{p},server=on,bogus=1",
                     "unix:" + "x" * 200 + ",server=on,wait=off",
                     f"unix:{d}/nodir/s,server=on,wait=off"):
            vm = VM(t, spec=spec, sockdir=d)
            try:
                rc = vm.wait_exit()
                check(rc not in (0, None) and "qmp" in vm.stderr().lower(),
                      f"{spec}: rc {rc}, stderr {vm.stderr()!r}")
            finally:
                vm.close()
    finally:
        shutil.rmtree(d, ignore_errors=True)


@test()
def stale_socket_replaced(t):
    d = tempfile.mkdtemp(prefix="pinvm-qmp-")
    try:
        path = os.path.join(d, "qmp.sock")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(path)
        s.close()  # the file stays: what a killed process leaves
        vm = VM(t, sockdir=d)
        try:
            c = vm.client()
            check(c.ok("query-status")["status"] == "prelaunch", "serving")
        finally:
            vm.close()
    finally:
        shutil.rmtree(d, ignore_errors=True)


@test()
def live_socket_refused(t):
    d = tempfile.mkdtemp(prefix="pinvm-qmp-")
    try:
        path = os.path.join(d, "qmp.sock")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(path)
        s.listen(4)
        try:
            vm = VM(t, sockdir=d)
            try:
                rc = vm.wait_exit()
                check(rc != 0 and "in use" in vm.stderr(),
                      f"rc {rc}, stderr {vm.stderr()!r}")
                check(os.path.exists(path), "removed a live socket")
            finally:
                vm.close()
        finally:
            s.close()
        # A second pinvm on the first one's socket.
        first = VM(t, sockdir=d)
        try:
            c1 = first.client()
            vm = VM(t, sockdir=d)
            try:
                rc = vm.wait_exit()
                check(rc != 0 and "in use" in vm.stderr(),
                      f"second: rc {rc}, stderr {vm.stderr()!r}")
            finally:
                vm.close()
            check(c1.ok("query-status")["status"] == "prelaunch",
                  "first pinvm hurt")
        finally:
            first.close()
        with open(path + ".txt", "w") as f:
            f.write("keep me")
        vm = VM(t, spec=f"unix:{path}.txt,server=on,wait=off", sockdir=d)
        try:
            rc = vm.wait_exit()
            check(rc != 0 and "not a socket" in vm.stderr(),
                  f"rc {rc}, stderr {vm.stderr()!r}")
            with open(path + ".txt") as f:
                check(f.read() == "keep me", "clobbered a regular file")
        finally:
            vm.close()
    finally:
        shutil.rmtree(d, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pinvm")
    ap.add_argument("--kernel")
    ap.add_argument("--fake")
    ap.add_argument("-k", default="")
    a = ap.parse_args()
    targets = []
    if a.pinvm:
        kdir = os.path.dirname(a.kernel)
        targets.append(Target(
            "pinvm", lambda spec, k: [a.pinvm, "-kernel",
                                      os.path.join(kdir, k + ".elf"),
                                      "-nographic", "-m", "128", "-qmp", spec],
            True))
    if a.fake:
        targets.append(Target("fake", lambda spec, k: [a.fake, "-qmp", spec],
                              False))
    passed = failed = 0

    def on_alarm(signum, frame):
        raise TestFailure(f"test took more than {TEST_ALARM} s")
    signal.signal(signal.SIGALRM, on_alarm)
    for t in targets:
        for name, fn, real_only in TESTS:
            if a.k not in name or (real_only and not t.real):
                continue
            label = f"{t.name}: {name}"
            signal.alarm(TEST_ALARM)
            try:
                fn(t)
                print(f"PASS {label}", flush=True)
                passed += 1
            except Exception as e:  # any failure is this test's, not fatal
                print(f"FAIL {label}: {e}", flush=True)
                if not isinstance(e, TestFailure):
                    traceback.print_exc(limit=3, file=sys.stdout)
                failed += 1
            finally:
                signal.alarm(0)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed or not targets else 0


if __name__ == "__main__":
    sys.exit(main())
