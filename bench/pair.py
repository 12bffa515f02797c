#!/usr/bin/env python3
"""bench/pair.py - CPU time of commands on one capture, interleaved, to the microsecond.

GNU time (used by run-anchors.sh and anchors.sh) prints CPU seconds with two decimals; on
~300 MB captures the tools take 0.1-0.2 s, so one tick is 5-10% of the result. This runs
each command N times, interleaved (A B C, A B C, ...) so a burst of load from a neighbour
hits them alike, reads each child's user+sys time from wait4's rusage (microseconds), and
prints a Markdown table: median, first quartile and minimum CPU ms, median peak RSS, and
the median CPU relative to the first command (the anchor).

Usage: bench/pair.py [-n N] CAPTURE NAME=COMMAND [NAME=COMMAND ...]
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
    p.add_argument("capture")
    p.add_argument("commands", nargs="+", metavar="NAME=COMMAND")
    a = p.parse_args()
    tools = []
    for spec in a.commands:
        name, sep, cmd = spec.partition("=")
        if not sep or not cmd.split():
            p.error(f"expected NAME=COMMAND, got {spec!r}")
        tools.append((name, cmd.split() + [a.capture]))
    with open(a.capture, "rb") as f:  # into the page cache before the first timed run
        while f.read(1 << 24):
            pass
    if not os.access("/usr/bin/time", os.X_OK):
        sys.exit("pair.py: needs GNU time (apt-get install time)")
    with tempfile.TemporaryDirectory(prefix="tunscope-pair.") as scratch:
        measure(a, tools, os.path.join(scratch, "rss"))


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
    print(f"`{os.path.basename(a.capture)}` ({size / 1e6:.1f} MB), {a.n} interleaved runs each, "
          f"CPU = user + sys from rusage\n")
    print(f"| command | CPU ms median | q1 | min | peak RSS MB | CPU vs {tools[0][0]} |")
    print("|---|---|---|---|---|---|")
    for name, _ in tools:
        xs = sorted(cpu[name])
        med = statistics.median(xs)
        q1 = xs[(len(xs) - 1) // 4]
        print(f"| {name} | {med:.0f} | {q1:.0f} | {xs[0]:.0f} | "
              f"{statistics.median(rss[name]) / 1024:.0f} | {med / anchor:.2f}x |")


if __name__ == "__main__":
    main()
