#!/usr/bin/env python3
"""bench/pair.py - CPU time of commands on one capture, interleaved, to the microsecond.

GNU time (used by run-anchors.sh and anchors.sh) prints CPU seconds with two decimals; on
~300 MB captures the tools take 0.1-0.2 s, so one tick is 5-10% of the result. This runs
each command N times, interleaved (A B C, A B C, ...) so a burst of load from a neighbour
hits them alike, reads each child's user+sys time from wait4's rusage (microseconds), and
prints a Markdown table: median, first quartile and minimum CPU ms, median peak RSS, the
median CPU relative to the first command (the anchor), and the median (and quartiles) of
the per-round ratios to the anchor.

The page cache matters as much as the load: Linux keeps a file in folios as large as the
reads or writes that brought it in, and a map faults in (and a read copies from) a whole
folio at a time. The same 315 MB capture costs `tunscope streams` ~60 ms of CPU when the
kernel read it from disk (readahead: large folios) and ~100 ms right after it was written
in 4 KiB writes, as tcpdump writes (one folio a page: 4x the kernel time, more TLB
misses). So the capture is put in a stated cache state first (--cache):
  disk     (default) written back, dropped from the page cache and read back with large
           reads: what any capture read from disk gets
  written  as left by a 4 KiB-write copy (made next to the capture, removed afterwards):
           a capture analysed right after tcpdump wrote it
  asis     only read once, whatever state it was in

Usage: bench/pair.py [-n N] [--cache disk|written|asis] CAPTURE NAME=COMMAND [NAME=COMMAND ...]
  COMMAND is split on spaces; the capture path is appended as its last argument.
Example:
  bench/pair.py -n 21 bulk.pcap gopacket-ta=GOPACKET "tunscope streams=target/release/tunscope streams"
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile


def run_once(argv, rss_file):
    """One run with stdout/stderr discarded; (cpu_ms, maxrss_kb, exit status).

    The command runs under GNU time, which only reports its peak RSS: a child forked from
    this Python process would carry Python's own high-water mark into ru_maxrss. CPU comes
    from wait4, whose rusage on Linux covers the child and its waited-for descendants (GNU
    time's own share is a fraction of a millisecond, the same for every command).
    """
    with open(os.devnull, "wb") as null:
        child = subprocess.Popen(["/usr/bin/time", "-f", "%M", "-o", rss_file] + argv,
                                 stdout=null, stderr=null)
        _, status, usage = os.wait4(child.pid, 0)
    with open(rss_file) as f:
        maxrss_kb = int(f.read().split()[-1])
    return ((usage.ru_utime + usage.ru_stime) * 1000.0, maxrss_kb,
            os.waitstatus_to_exitcode(status))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("-n", type=int, default=21, help="repetitions of each command (default 21)")
    p.add_argument("--cache", choices=["disk", "written", "asis"], default="disk",
                   help="page-cache state of the capture during the runs (default disk)")
    p.add_argument("capture")
    p.add_argument("commands", nargs="+", metavar="NAME=COMMAND")
    a = p.parse_args()
    capture = a.capture
    copy = None
    if a.cache == "written":
        copy = capture + ".written-4k"
        write_in_pages(capture, copy)
        capture = copy
    elif a.cache == "disk":
        read_from_disk(capture)
    else:
        with open(capture, "rb") as f:  # into the page cache before the first timed run
            while f.read(1 << 24):
                pass
    tools = []
    for spec in a.commands:
        name, sep, cmd = spec.partition("=")
        if not sep or not cmd.split():
            p.error(f"expected NAME=COMMAND, got {spec!r}")
        tools.append((name, cmd.split() + [capture]))
    if not os.access("/usr/bin/time", os.X_OK):
        sys.exit("pair.py: needs GNU time (apt-get install time)")
    try:
        with tempfile.TemporaryDirectory(prefix="tunscope-pair.") as scratch:
            measure(a, tools, os.path.join(scratch, "rss"))
    finally:
        if copy:
            os.unlink(copy)


def read_from_disk(path):
    """Writes the file back, drops it from the page cache and reads it back in 1 MiB reads
    (the kernel's readahead then caches it in large folios, as for any file read from disk)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        while os.read(fd, 1 << 20):
            pass
    finally:
        os.close(fd)


def write_in_pages(src, dst):
    """Copies src to dst in 4 KiB writes, as tcpdump's stdio buffer writes a capture: the
    page cache then holds dst one small folio a page."""
    with open(src, "rb") as i, open(dst, "wb", buffering=0) as o:
        while True:
            chunk = i.read(1 << 20)
            if not chunk:
                break
            for k in range(0, len(chunk), 4096):
                o.write(chunk[k:k + 4096])
        os.fsync(o.fileno())  # written back now, not during the runs; the folios stay


def measure(a, tools, rss_file):
    cpu = {name: [] for name, _ in tools}
    rss = {name: [] for name, _ in tools}
    for _ in range(a.n):
        for name, argv in tools:
            ms, kb, rc = run_once(argv, rss_file)
            if rc != 0:
                sys.exit(f"pair.py: {name} exited {rc}: {' '.join(argv)}")
            cpu[name].append(ms)
            rss[name].append(kb)
    anchor = statistics.median(cpu[tools[0][0]])
    size = os.path.getsize(a.capture)
    state = {"disk": "as read from disk", "written": "as just written in 4 KiB writes",
             "asis": "page cache as found"}[a.cache]
    print(f"`{os.path.basename(a.capture)}` ({size / 1e6:.1f} MB, {state}), {a.n} interleaved "
          f"runs each, CPU = user + sys from rusage\n")
    first = tools[0][0]
    print(f"| command | CPU ms median | q1 | min | peak RSS MB | CPU vs {first} "
          f"| per-round ratio, median [q1, q3] |")
    print("|---|---|---|---|---|---|---|")
    for name, _ in tools:
        xs = sorted(cpu[name])
        med = statistics.median(xs)
        q1 = xs[(len(xs) - 1) // 4]
        # Each round runs the commands back to back, so a burst of load from a neighbour
        # mostly hits one round: the ratio within a round is steadier than the ratio of
        # medians taken over different rounds.
        ratios = sorted(c / a for c, a in zip(cpu[name], cpu[first]))
        r_q1, r_q3 = ratios[(len(ratios) - 1) // 4], ratios[(3 * (len(ratios) - 1)) // 4]
        print(f"| {name} | {med:.0f} | {q1:.0f} | {xs[0]:.0f} | "
              f"{statistics.median(rss[name]) / 1024:.0f} | {med / anchor:.2f}x "
              f"| {statistics.median(ratios):.2f}x [{r_q1:.2f}, {r_q3:.2f}] |")


if __name__ == "__main__":
    main()
