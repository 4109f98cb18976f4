#!/usr/bin/env bash
# Command-line and image-error tests for pinvm: each case runs $BUILD/pinvm
# and checks the exit status and the message (stdout+stderr). Bad images
# are generated in a temp dir. Last line: "N passed, N failed".
set -u
BUILD=${BUILD:-build}
PINVM=${PINVM:-$BUILD/pinvm}
pass=0; fail=0
tmp=$(mktemp -d /tmp/pinvm-cli.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# check NAME WANT_STATUS WANT_TEXT [pinvm args...]
check() {
    local name=$1 want=$2 text=$3; shift 3
    local out rc
    out=$(timeout 20 "$PINVM" "$@" 2>&1 </dev/null); rc=$?
    if [ "$rc" != "$want" ]; then
        echo "FAIL $name: exit status $rc, want $want"; printf '  output: %s\n' "$out" | head -5
        fail=$((fail + 1)); return
    fi
    if ! grep -qF -- "$text" <<<"$out"; then
        echo "FAIL $name: output lacks '$text'"; printf '  output: %s\n' "$out" | head -5
        fail=$((fail + 1)); return
    fi
    pass=$((pass + 1))
}

# check_err: like check, and the message is exactly one line on stderr
# starting "pinvm: ", nothing on stdout.
check_err() {
    local name=$1 want=$2 text=$3; shift 3
    local so se rc
    so=$(timeout 20 "$PINVM" "$@" 2>"$tmp/stderr" </dev/null); rc=$?
    se=$(cat "$tmp/stderr")
    if [ "$rc" != "$want" ] || [ -n "$so" ] || [ "$(wc -l <"$tmp/stderr")" != 1 ] ||
       [ "${se#pinvm: }" = "$se" ] || ! grep -qF -- "$text" <<<"$se"; then
        echo "FAIL $name: status $rc (want $want), stderr '$se', stdout '$so' (want '$text')"
        fail=$((fail + 1)); return
    fi
    pass=$((pass + 1))
}

if [ ! -x "$PINVM" ]; then
    echo "FAIL $PINVM not built"
    echo "0 passed, 1 failed"
    exit 1
fi

# ---- image builders ----
le32() { # print a 32-bit little-endian value as raw bytes
    local v=$(( $1 & 0xffffffff ))
    printf "\\x$(printf %02x $((v & 255)))\\x$(printf %02x $(((v >> 8) & 255)))\\x$(printf %02x $(((v >> 16) & 255)))\\x$(printf %02x $(((v >> 24) & 255)))"
}
# kludge FILE LOAD_ADDR CODE_HEX: a.out-kludge image loaded at LOAD_ADDR,
# header at offset 0, code at offset 0x20 (the entry point).
kludge() {
    local f=$1 la=$2 code=$3 flags=$((0x10000))
    {
        le32 0x1BADB002; le32 $flags; le32 $(( -(0x1BADB002 + flags) ))
        le32 "$la"; le32 "$la"; le32 0; le32 0; le32 $((la + 0x20))
        printf "$code"
    } >"$f"
}

# ---- help, version, log items ----
check "--help" 0 "usage: pinvm -kernel FILE" --help
check "-help" 0 "usage: pinvm -kernel FILE" -help
check "-h" 0 "-no-reboot" -h
check "--version" 0 "pinvm version" --version
check "-version" 0 "pinvm version" -version
check "-d help" 0 "cpu_reset" -d help

# ---- bad command lines: exit 2, one line naming the problem ----
check_err "no arguments" 2 "no -kernel given"
check_err "unknown flag" 2 "pinvm: -foo: invalid option" -kernel x -foo
check_err "unknown --flag" 2 "pinvm: --foo: invalid option" --foo
check_err "stray argument" 2 "stray: unexpected argument" -kernel x stray
check_err "missing argument" 2 "-kernel: requires an argument" -kernel
check_err "missing -m value" 2 "-m: requires an argument" -kernel x -m
check_err "-m too small" 2 "-m 1: RAM size must be between 2M and" -kernel x -m 1
check_err "-m too big" 2 "-m 1T: RAM size must be between" -kernel x -m 1T
check_err "-m garbage" 2 "-m lots: invalid RAM size" -kernel x -m lots
check_err "-smp 65" 2 "-smp 65: at most 64 vCPUs" -kernel x -smp 65
check_err "-smp garbage" 2 "-smp x: invalid value" -kernel x -smp x
check_err "-cpu model" 2 "unknown CPU model 'pentium'" -kernel x -cpu pentium
check_err "-cpu feature" 2 "unknown CPU feature 'foo'" -kernel x -cpu max,+foo
check_err "-device other" 2 "unsupported device 'e1000'" -kernel x -device e1000
check_err "-device bad prop" 2 "unknown property 'bar'" -kernel x -device isa-debug-exit,bar=1
check_err "-serial backend" 2 "-serial pty: unsupported backend" -kernel x -serial pty
check_err "-display" 2 "-display gtk: only 'none' is supported" -kernel x -display gtk
check_err "-monitor" 2 "-monitor stdio: only 'none' is supported" -kernel x -monitor stdio
check_err "-d item" 2 "-d bogus: unknown log item 'bogus'" -kernel x -d bogus
check_err "-incoming" 2 "ftp:x: unsupported URI" -kernel x -incoming ftp:x

# ---- bad images and host files: exit 1, one line ----
check_err "missing kernel" 1 "cannot open '$tmp/nope'" -kernel "$tmp/nope"
check_err "kernel is a directory" 1 "not a regular file" -kernel "$tmp"
: >"$tmp/empty"
check_err "empty kernel" 1 "empty file" -kernel "$tmp/empty"
head -c 20000 /dev/zero >"$tmp/zeros"
check_err "no header" 1 "no Multiboot header in the first 8192 bytes" -kernel "$tmp/zeros"
{ le32 0x1BADB002; le32 0; le32 0; } >"$tmp/badsum"
check_err "bad checksum" 1 "bad checksum" -kernel "$tmp/badsum"
{ le32 0x1BADB002; le32 3; le32 $(( -(0x1BADB002 + 3) )); printf 'not an elf'; } >"$tmp/notelf"
check_err "not ELF, no kludge" 1 "not an ELF image" -kernel "$tmp/notelf"
kludge "$tmp/high" 0x40000000 '\xf4'
check_err "kludge outside RAM" 1 "outside RAM" -kernel "$tmp/high" -m 64
kludge "$tmp/low" 0x9000 '\xf4'
check_err "kludge over info area" 1 "overlaps the Multiboot info area" -kernel "$tmp/low"
{ printf '\x7fELF\x01\x01\x01'; head -c 9 /dev/zero; printf '\x02\x00\x03\x00'; le32 1
  le32 0x100000; le32 0x7fff0000; le32 0; le32 0; printf '\x34\x00\x20\x00\x20\x00\x01\x00'
  printf '\x00\x00\x00\x00'; le32 0x1BADB002; le32 3; le32 $(( -(0x1BADB002 + 3) )); } >"$tmp/truncphdr"
check_err "truncated program headers" 1 "truncated ELF program headers" -kernel "$tmp/truncphdr"

# A good image (prints "K" on COM1, then writes 0x10 to port 0xf4).
#   mov dx,0x3f8; mov al,'K'; out dx,al; mov al,0x10; out 0xf4,al; hlt
kludge "$tmp/ok" 0x100000 '\x66\xba\xf8\x03\xb0\x4b\xee\xb0\x10\xe6\xf4\xf4'
check_err "missing module" 1 "cannot open '$tmp/nomod'" -kernel "$tmp/ok" -initrd "$tmp/nomod arg"
check_err "serial file unwritable" 1 "-serial file:$tmp/no/dir" -kernel "$tmp/ok" -serial "file:$tmp/no/dir"
check_err "log file unwritable" 1 "-D $tmp/no/log" -kernel "$tmp/ok" -D "$tmp/no/log"
check_err "debug-exit onto COM1" 1 "overlap COM1" -kernel "$tmp/ok" -device isa-debug-exit,iobase=0x3f8,iosize=4

# ---- whole runs (need a working CPU core) ----
check "debug-exit status" 33 "K" -kernel "$tmp/ok" -nographic
check "debug-exit, QEMU flags" 33 "K" -kernel "$tmp/ok" -display none -serial stdio -monitor none \
    -no-reboot -device isa-debug-exit,iobase=0xf4,iosize=0x04 -m 64M -smp 1 -cpu max
#   mov dx,0x501; mov al,5; out dx,al; hlt
kludge "$tmp/moved" 0x100000 '\x66\xba\x01\x05\xb0\x05\xee\xf4'
check "debug-exit moved" 11 "" -kernel "$tmp/moved" -device isa-debug-exit,iobase=0x501,iosize=2
check "serial to file" 33 "" -kernel "$tmp/ok" -serial "file:$tmp/serial.out"
if [ "$(cat "$tmp/serial.out" 2>/dev/null)" = K ]; then pass=$((pass + 1)); else
    echo "FAIL serial to file: file holds '$(cat "$tmp/serial.out" 2>/dev/null)'"; fail=$((fail + 1)); fi
#   cli; hlt
kludge "$tmp/cli_hlt" 0x100000 '\xfa\xf4'
check_err "hlt with IF=0" 1 "guest halted with interrupts disabled" -kernel "$tmp/cli_hlt"
#   mov al,6; mov dx,0xcf9; out dx,al; hlt
kludge "$tmp/reset" 0x100000 '\xb0\x06\x66\xba\xf9\x0c\xee\xf4'
check_err "reset, -no-reboot" 0 "guest requested reset via port 0xcf9, shutting down (-no-reboot)" \
    -kernel "$tmp/reset" -no-reboot
#   ud2 with the BIOS's real-mode IDT: #UD -> #GP -> #DF -> triple fault
kludge "$tmp/triple" 0x100000 '\x90\x0f\x0b'
check_err "triple fault, -no-reboot" 0 "guest triple fault, shutting down (-no-reboot)" \
    -kernel "$tmp/triple" -no-reboot
# RAM survives a reset (QEMU -kernel): the first boot sets a flag at 2 MiB,
# prints R and resets; the second sees the flag, prints B and exits.
#   mov eax,[0x200000]; test eax,eax; jnz 2f; mov dword [0x200000],1
#   mov dx,0x3f8; mov al,'R'; out dx,al; <reset>; 2: mov dx,0x3f8;
#   mov al,'B'; out dx,al; mov al,0x10; out 0xf4,al
boot_twice() {
    kludge "$1" 0x100000 "\xa1\x00\x00\x20\x00\x85\xc0\x75\x19\xc7\x05\x00\x00\x20\x00\x01\x00\x00\x00\x66\xba\xf8\x03\xb0\x52\xee$2\x66\xba\xf8\x03\xb0\x42\xee\xb0\x10\xe6\xf4"
}
boot_twice "$tmp/reboot_cf9" '\xb0\x06\x66\xba\xf9\x0c\xee\xf4'
check "reset via 0xcf9 reboots, RAM kept" 33 "RB" -kernel "$tmp/reboot_cf9"
boot_twice "$tmp/reboot_kbd" '\xb0\xfe\xe6\x64\xf4\x90\x90\x90'
check "reset via 0x64 reboots" 33 "RB" -kernel "$tmp/reboot_kbd"
boot_twice "$tmp/reboot_92" '\xb0\x01\xe6\x92\xf4\x90\x90\x90'
check "reset via 0x92 reboots" 33 "RB" -kernel "$tmp/reboot_92"
boot_twice "$tmp/reboot_triple" '\x0f\x0b\x90\x90\x90\x90\x90\x90'
check "triple fault reboots" 33 "RB" -kernel "$tmp/reboot_triple"
check "-d cpu_reset on reboot" 33 "CPU Reset (CPU 0)" -kernel "$tmp/reboot_triple" -d cpu_reset
#   sti; hlt
kludge "$tmp/sti_hlt" 0x100000 '\xfb\xf4'
check_err "hlt with IF=1, no interrupt source" 1 "no interrupt source is enabled" -kernel "$tmp/sti_hlt"
# Serial input from stdin (-serial stdio, as QEMU): poll LSR.DR, read RBR,
# exit with the byte: 'A' -> (0x41 << 1) | 1 = 131.
#   mov dx,0x3fd; 1: in al,dx; test al,1; jz 1b; mov dx,0x3f8; in al,dx; out 0xf4,al
kludge "$tmp/echo_in" 0x100000 '\x66\xba\xfd\x03\xec\xa8\x01\x74\xfb\x66\xba\xf8\x03\xec\xe6\xf4'
printf A | timeout 20 "$PINVM" -kernel "$tmp/echo_in" >/dev/null 2>&1; rc=$?
if [ $rc = 131 ]; then pass=$((pass + 1)); else echo "FAIL serial input: status $rc, want 131"; fail=$((fail + 1)); fi
# Devices through the CPU (values checked against QEMU 7.2):
#   LAPIC version: mov eax,[0xfee00030]; out 0xf4,al -> (0x14 << 1) | 1 = 41
kludge "$tmp/apicver" 0x100000 '\xa1\x30\x00\xe0\xfe\xe6\xf4'
check "LAPIC version via MMIO" 41 "" -kernel "$tmp/apicver"
#   fw_cfg signature: mov dx,0x510; xor ax,ax; out dx,ax; inc dx; in al,dx;
#   out 0xf4,al -> ('Q' << 1) | 1 = 163
kludge "$tmp/fwsig" 0x100000 '\x66\xba\x10\x05\x66\x31\xc0\x66\xef\x42\xec\xe6\xf4'
check "fw_cfg signature" 163 "" -kernel "$tmp/fwsig"
# Port reads a guest sees, exit status = (value << 1) | 1 (each equal on QEMU 7.2)
kludge "$tmp/p_dx" 0x100000 '\xe4\xf4\xe6\xf4'             # in al,0xf4: debug-exit reads 0
check "debug-exit reads 0" 1 "" -kernel "$tmp/p_dx"
kludge "$tmp/p_un" 0x100000 '\x66\xba\x34\x12\x66\xed\x88\xe0\xe6\xf4' # in ax,0x1234: high byte
check "unassigned port reads all ones" 255 "" -kernel "$tmp/p_un"
kludge "$tmp/p_pic" 0x100000 '\xb0\xa5\xe6\x21\xe4\x21\xe6\xf4' # PIC IMR write/read 0xa5
check "PIC IMR reads back" 75 "" -kernel "$tmp/p_pic"
kludge "$tmp/p_kbd" 0x100000 '\xe4\x64\xe6\xf4'            # i8042 status 0x1c
check "i8042 status" 57 "" -kernel "$tmp/p_kbd"
kludge "$tmp/p_92" 0x100000 '\xe4\x92\xe6\xf4'             # port 0x92: A20 on
check "port 0x92 A20" 5 "" -kernel "$tmp/p_92"
check "-d cpu_reset dump" 33 "EAX=00000000" -kernel "$tmp/ok" -d cpu_reset
check "-D log file" 33 "K" -kernel "$tmp/ok" -d cpu_reset -D "$tmp/log"
if grep -q "CPU Reset (CPU 0)" "$tmp/log" 2>/dev/null; then pass=$((pass + 1)); else
    echo "FAIL -D: log lacks the reset dump"; fail=$((fail + 1)); fi

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
