#!/usr/bin/env python3
"""Seed corpora for every fuzz target, cut from fixtures/pcaps (nothing binary is
committed; run this before `cargo fuzz run`):

    fuzz/seeds.py            # writes fuzz/corpus/<target>/<fixture>[-n] (a few KB each)

- capture:       each fixture's first 4 KiB, and its first packets rewritten as pcapng
- pcapng_blocks: programs for that target that rebuild each fixture's first packets
                 (section header, interface block with options, enhanced packet blocks)
- app_stream:    each TCP connection's payloads as [direction][length][bytes] records
- assembler:     each TCP connection's segments as the target's 8-byte records
- quic_datagram: each UDP payload of the QUIC fixtures
"""

import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "..", "fixtures", "pcaps")
OUT = os.path.join(HERE, "corpus")
MAX_SEED = 4096


def packets(path):
    """(ts_sec, ts_usec, frame) of a little-endian microsecond pcap."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != b"\xd4\xc3\xb2\xa1":
        return
    pos = 24
    while pos + 16 <= len(data):
        sec, usec, caplen, _ = struct.unpack_from("<IIII", data, pos)
        yield sec, usec, data[pos + 16 : pos + 16 + caplen]
        pos += 16 + caplen


def l4(frame):
    """(proto, src, sport, dst, dport, seq, ack, flags, payload) of Ethernet/IPv4."""
    if len(frame) < 34 or frame[12:14] != b"\x08\x00":
        return None
    ip = frame[14:]
    ihl = (ip[0] & 15) * 4
    total = struct.unpack_from(">H", ip, 2)[0]
    proto = ip[9]
    src, dst = ip[12:16], ip[16:20]
    seg = ip[ihl:total]
    if proto == 6 and len(seg) >= 20:
        sport, dport, seq, ack, off, flags = struct.unpack_from(">HHIIBB", seg)
        return (6, src, sport, dst, dport, seq, ack, flags, seg[(off >> 4) * 4 :])
    if proto == 17 and len(seg) >= 8:
        sport, dport = struct.unpack_from(">HH", seg)
        return (17, src, sport, dst, dport, 0, 0, 0, seg[8:])
    return None


def write(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data[:MAX_SEED] if target != "pcapng_blocks" else data)


def ng_block(kind, body):
    body = body + b"\x00" * (-len(body) % 4)
    total = 12 + len(body)
    return struct.pack("<II", kind, total) + body + struct.pack("<I", total)


def pcapng_of(pkts):
    out = ng_block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    opts = struct.pack("<HHB3x", 9, 1, 6) + struct.pack("<HH", 0, 0)
    out += ng_block(1, struct.pack("<HHI", 1, 0, 65535) + opts)
    for sec, usec, frame in pkts:
        ticks = sec * 1_000_000 + usec
        body = struct.pack("<IIIII", 0, ticks >> 32, ticks & 0xFFFFFFFF, len(frame), len(frame))
        out += ng_block(6, body + frame)
        if len(out) > MAX_SEED:
            break
    return out


def program_of(pkts):
    """A pcapng_blocks program: little-endian, SHB, IDB (if_tsresol), then EPBs."""
    prog = bytearray([0])
    prog += bytes([0, 0])  # op 0: section header, little-endian
    prog += bytes([1]) + struct.pack("<H", 65535) + bytes([1, 0, 1, 6, 0])  # op 1: IDB, 1 option
    for _, usec, frame in pkts:
        frame = frame[:255]
        prog += bytes([2, len(frame)]) + frame + bytes([0]) + struct.pack("<H", usec & 0xFFFF)
        if len(prog) > MAX_SEED:
            break
    return bytes(prog)


def main():
    names = sorted(n[:-5] for n in os.listdir(FIXTURES) if n.endswith(".pcap"))
    counts = {}
    for name in names:
        path = os.path.join(FIXTURES, name + ".pcap")
        pkts = list(packets(path))
        if not pkts:
            continue
        with open(path, "rb") as f:
            write("capture", name, f.read(MAX_SEED))
        write("capture", name + "-ng", pcapng_of(pkts[:40]))
        write("pcapng_blocks", name, program_of(pkts[:12]))
        conns = {}
        for _, _, frame in pkts:
            p = l4(frame)
            if p is None:
                continue
            proto, src, sport, dst, dport, seq, ack, flags, payload = p
            if proto == 17:
                if name.startswith(("quic", "qtunnel", "v2ray")) and payload:
                    counts[name] = counts.get(name, 0) + 1
                    if counts[name] <= 8:
                        write("quic_datagram", f"{name}-{counts[name]}", payload)
                continue
            a, b = (src, sport), (dst, dport)
            key = (min(a, b), max(a, b))
            conns.setdefault(key, []).append((a == key[0], seq, ack, flags, payload))
        for i, segs in enumerate(list(conns.values())[:4]):
            app = bytearray([0])
            asm = bytearray()
            first = {}
            for c2s, seq, ack, flags, payload in segs:
                d = 0 if c2s else 1
                for k in range(0, len(payload), 255):
                    part = payload[k : k + 255]
                    app += bytes([d, len(part)]) + part
                base = first.setdefault(d, seq)
                other = first.get(1 - d, ack)
                asm += struct.pack(
                    "<BHBBHB",
                    d | (2 if flags & 0x10 else 0),
                    (seq - base) & 0xFFFF,
                    min(len(payload) // 4, 255),
                    flags & 0x1F,
                    (ack - other) & 0xFFFF,
                    0,
                )
            if len(app) > 1:
                write("app_stream", f"{name}-{i}", bytes(app))
            write("assembler", f"{name}-{i}", bytes(asm))
    for target in sorted(os.listdir(OUT)):
        n = len(os.listdir(os.path.join(OUT, target)))
        print(f"{target}: {n} seeds")


if __name__ == "__main__":
    sys.exit(main())
