#!/usr/bin/env python3
"""Resource floods for tunscope's memory budget (reports/benchmark.md, "Floods").

    bench/flood.py quic   N out.pcap   # N UDP datagrams shaped like QUIC v1 Initials, each
                                       # from its own client (random CIDs and bodies)
    bench/flood.py syn    N out.pcap   # N TCP SYNs, each from its own client: half-open flows
    bench/flood.py holes  N out.pcap   # N connections (handshake) whose client sends 2
                                       # segments after a 1000-byte hole: buffered pages
    bench/flood.py frags  N out.pcap   # N first IPv4 fragments (MF set) never completed

Deterministic (seeded); Ethernet, classic microsecond pcap, 1 ms between packets for
`quic`/`syn`/`frags` (10 us for `holes`). The big runs stay out of CI; the tests make
small ones in-process.
"""

import random
import struct
import sys

ETH = b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00"


def ipv4(src, dst, proto, payload, ident=0, flags_frag=0):
    total = 20 + len(payload)
    return (
        struct.pack(
            ">BBHHHBBH4s4s",
            0x45,
            0,
            total,
            ident,
            flags_frag,
            64,
            proto,
            0,
            src,
            dst,
        )
        + payload
    )


def udp(sport, dport, payload):
    return struct.pack(">HHHH", sport, dport, 8 + len(payload), 0) + payload


def tcp(sport, dport, seq, ack, flags, payload=b""):
    return (
        struct.pack(">HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 65535, 0, 0)
        + payload
    )


def client_addr(i):
    return bytes([10, (i >> 16) & 0xFF, (i >> 8) & 0xFF, i & 0xFF]), 1024 + (i % 60000)


SERVER = bytes([192, 168, 0, 1])


def quic_initial(rng):
    dcid = rng.randbytes(8)
    scid = rng.randbytes(8)
    body = rng.randbytes(64)
    # long header, fixed bit, Initial, 4-byte packet number; token length 0; length varint (2 bytes)
    length = 4 + len(body)
    return (
        bytes([0xC3])
        + struct.pack(">I", 1)
        + bytes([len(dcid)])
        + dcid
        + bytes([len(scid)])
        + scid
        + b"\x00"
        + struct.pack(">H", 0x4000 | length)
        + rng.randbytes(4)
        + body
    )


def frames(kind, n, rng):
    for i in range(n):
        src, sport = client_addr(i)
        if kind == "quic":
            yield ipv4(src, SERVER, 17, udp(sport, 443, quic_initial(rng)))
        elif kind == "syn":
            yield ipv4(src, SERVER, 6, tcp(sport, 80, rng.getrandbits(32), 0, 0x02))
        elif kind == "holes":
            isn = rng.getrandbits(32)
            sisn = rng.getrandbits(32)
            yield ipv4(src, SERVER, 6, tcp(sport, 80, isn, 0, 0x02))
            yield ipv4(SERVER, src, 6, tcp(80, sport, sisn, isn + 1, 0x12))
            yield ipv4(src, SERVER, 6, tcp(sport, 80, isn + 1, sisn + 1, 0x10))
            data = rng.randbytes(1400)
            for k in range(2):
                seq = (isn + 1 + 1000 + k * 1400) & 0xFFFFFFFF
                yield ipv4(src, SERVER, 6, tcp(sport, 80, seq, sisn + 1, 0x18, data))
        elif kind == "frags":
            payload = udp(sport, 53, rng.randbytes(64))
            yield ipv4(src, SERVER, 17, payload, ident=i & 0xFFFF, flags_frag=0x2000)
        else:
            raise SystemExit(f"unknown flood {kind!r}")


def main():
    if len(sys.argv) != 4:
        raise SystemExit(__doc__)
    kind, n, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    rng = random.Random(18)
    step = 10 if kind == "holes" else 1000
    with open(out, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        t = 1_700_000_000 * 1_000_000
        for ip in frames(kind, n, rng):
            frame = ETH + ip
            f.write(struct.pack("<IIII", t // 1_000_000, t % 1_000_000, len(frame), len(frame)))
            f.write(frame)
            t += step


if __name__ == "__main__":
    main()
