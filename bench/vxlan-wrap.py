#!/usr/bin/env python3
"""bench/vxlan-wrap.py - a VXLAN copy of a capture: every frame wrapped as the kernel's
VXLAN device sends it (outer Ethernet, IPv4 without options, UDP to port 4789, the 8-byte
VXLAN header with the I flag and a VNI), so `tunscope streams` on the copy can be checked
byte-exact against the original's manifest (`verify.py`) and timed beside the original.

Usage: bench/vxlan-wrap.py IN.pcap OUT.pcap [--vni N]
IN must be a classic pcap with Ethernet frames (link type 1), as gen-bulk.sh writes.
"""

import argparse
import struct
import sys


def checksum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack(f"!{len(b) // 2}H", b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("inp")
    ap.add_argument("out")
    ap.add_argument("--vni", type=int, default=42)
    a = ap.parse_args()
    src = open(a.inp, "rb")
    hdr = src.read(24)
    magic, _, _, _, _, snap, link = struct.unpack("<IHHiIII", hdr)
    if magic not in (0xA1B2C3D4, 0xA1B23C4D) or link != 1:
        sys.exit("vxlan-wrap: needs a little-endian pcap of Ethernet frames")
    out = open(a.out, "wb")
    outer_overhead = 14 + 20 + 8 + 8
    out.write(struct.pack("<IHHiIII", magic, 2, 4, 0, 0, snap + outer_overhead, 1))
    eth = bytes.fromhex("02000000000202000000000108 00".replace(" ", ""))
    vxlan = struct.pack("!II", 0x08000000, a.vni << 8)
    n = 0
    while True:
        rh = src.read(16)
        if len(rh) < 16:
            break
        sec, frac, incl, orig = struct.unpack("<IIII", rh)
        frame = src.read(incl)
        udp_len = 8 + len(vxlan) + len(frame)
        ip_len = 20 + udp_len
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, ip_len, n & 0xFFFF, 0, 64, 17, 0,
                         bytes([192, 0, 2, 1]), bytes([192, 0, 2, 2]))
        ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
        # The kernel picks the source port from a hash of the inner flow; one per inner
        # 5-tuple is what matters to a reader: here, from the inner ports when present.
        sport = 49152 + (sum(frame[34:38]) & 0x3FFF) if len(frame) >= 38 else 49152
        udp = struct.pack("!HHHH", sport, 4789, udp_len, 0)
        wrapped = eth + ip + udp + vxlan + frame
        out.write(struct.pack("<IIII", sec, frac, len(wrapped), orig + outer_overhead))
        out.write(wrapped)
        n += 1
    print(f"vxlan-wrap: {n} frames wrapped into {a.out}")


main()
