#!/usr/bin/env python3
"""Write the small seed corpora for the fuzz harnesses (fuzz/corpus/*)."""
import os, struct

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")

def put(kind, name, data):
    d = os.path.join(root, kind)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)

# cpu: mode byte, 64 register bytes, 32 patch bytes (offset 0 value 0 keeps
# the first byte of each area unchanged only if it was 0: use a harmless
# null-descriptor byte), then code.
hdr_zero = bytes(64) + bytes(32)
codes = {
    "alu": bytes.fromhex("b8 05 00 00 00 01 d8 31 c9 f7 e1 f4".replace(" ", "")),
    "loop": bytes.fromhex("b9 10 00 00 00 ff c8 e2 fc f4".replace(" ", "")),
    "rep": bytes.fromhex("fc b9 20 00 00 00 f3 aa f4".replace(" ", "")),
    "cr4": bytes.fromhex("0f 20 e0 0d 80 00 00 00 0f 22 e0 f4".replace(" ", "")),
    "ud2": bytes.fromhex("0f 0b f4".replace(" ", "")),
    "int3": bytes.fromhex("cc f4".replace(" ", "")),
    "syscall": bytes.fromhex("0f 05 f4".replace(" ", "")),
    "iret": bytes.fromhex("cf f4".replace(" ", "")),
    # pin bypass attempts: clear SMEP via MOV CR4, clear WP via MOV CR0 / LMSW
    "clr_smep": bytes.fromhex("0f20e0 25ffffefff 0f22e0 f4".replace(" ", "")),
    "clr_wp": bytes.fromhex("0f20c0 25fffffeff 0f22c0 f4".replace(" ", "")),
    "lmsw": bytes.fromhex("31c0 0f01f0 0f06 f4".replace(" ", "")),
    "wrmsr_pin": bytes.fromhex("b9094d564b b800003000 31d2 0f30 f4".replace(" ", "")),
    "ltr_lgdt": bytes.fromhex("66b83800 0f00d8 0f0115 00100000 f4".replace(" ", "")),
}
# mode byte: bits 0-1 real/prot32/long/compat, bit 2 CPL3, bit 3 pin WP/
# SMEP/SMAP/UMIP (set first), bit 4 paging in prot32, bit 5 PAE with it.
for mode, mname in ((0, "real"), (1, "prot32"), (2, "long"), (6, "long_cpl3"), (5, "prot32_cpl3"),
                    (3, "compat"), (0x0a, "long_pinned"), (0x19, "prot32_paging_pinned"),
                    (0x39, "prot32_pae"), (0x0b, "compat_pinned")):
    for cname, code in codes.items():
        put("cpu", f"{mname}_{cname}", bytes([mode]) + hdr_zero + code)

# loader: a minimal a.out-kludge Multiboot image loaded at 1 MiB, and an
# ELF32 one.
def kludge():
    load = 0x100000
    flags = 1 << 16
    hdr = struct.pack("<IIIIIIII", 0x1BADB002, flags, (-(0x1BADB002 + flags)) & 0xffffffff,
                      load, load, load + 64, load + 128, load + 32)
    return (hdr + bytes(32 - len(hdr)) + b"\xf4" * 32)[:64]
put("loader", "kludge", kludge())

def elf32():
    code = struct.pack("<III", 0x1BADB002, 0, (-0x1BADB002) & 0xffffffff) + b"\xf4" * 4
    ehdr_size, phdr_size = 52, 32
    off = ehdr_size + phdr_size
    e = b"\x7fELF" + bytes([1, 1, 1]) + bytes(9)
    e += struct.pack("<HHIIIIIHHHHHH", 2, 3, 1, 0x100000, ehdr_size, 0, 0,
                     ehdr_size, phdr_size, 1, 40, 0, 0)
    p = struct.pack("<IIIIIIII", 1, off, 0x100000, 0x100000, len(code), len(code) + 16, 5, 4)
    return e + p + code
put("loader", "elf32", elf32())

# qmp: whole client sessions (greeting is the server's; capabilities first).
cap = b'{"execute":"qmp_capabilities"}\n'
sessions = {
    "caps_only": cap,
    "query_all": cap + b''.join(b'{"execute":"%s","id":%d}\n' % (c.encode(), i) for i, c in enumerate(
        ["query-version", "query-status", "query-cpus-fast", "query-cr-pins",
         "query-pin-violations"])),
    "set_pins": cap + b'{"execute":"set-cr-pins","arguments":{"cpu-index":1,"cr0-pinned":65536,"cr4-pinned":3147776}}\n'
                + b'{"execute":"set-cr-pins","arguments":{"cr4-pinned":1}}\n'
                + b'{"execute":"query-cr-pins"}\n',
    "stop_cont_reset": cap + b'{"execute":"stop"}{"execute":"cont"}{"execute":"system_reset"}\n',
    "smi": cap + b'{"execute":"inject-smi","arguments":{"cpu-index":0}}\n',
    "bad_json": cap + b'{"execute":"query-status"\n{]}\n{"execute":123}\n[1,2]\n"x"\n',
    "no_caps": b'{"execute":"query-status"}\n{"execute":"quit"}\n',
    "quit": cap + b'{"execute":"quit","id":"q"}\n',
    "big_numbers": cap + b'{"execute":"set-cr-pins","arguments":{"cpu-index":18446744073709551615,"cr0-pinned":-1}}\n',
}
for name, data in sessions.items():
    put("qmp", name, data)
