#!/usr/bin/env bash
# bench/anchors.sh - time `tunscope analyze` next to the anchors of ../shared/bench
# (cat and gopacket-tcpassembly by default) on the same capture, in the same run,
# repetitions interleaved so that load from neighbours hits every tool alike.
#
# Usage: bench/anchors.sh [-n REPS] [-a ANCHORS] [-t "TUNSCOPE ARGS"] CAPTURE
#   -n REPS     repetitions (default 3)
#   -a ANCHORS  comma-separated anchors of run-anchors.sh (default cat,gopacket-ta)
#   -t ARGS     tunscope subcommand and flags (default "analyze --format json")
# Make a capture first: sudo ../shared/bench/gen-bulk.sh -s 300
# Prints a Markdown table: median wall and CPU seconds, MB/s and packets/s (by CPU time and
# by wall time), peak RSS, and CPU time relative to gopacket-tcpassembly.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
# shellcheck source=bench/rig.sh
. "$HERE/rig.sh"
REPS=3
ANCHORS=cat,gopacket-ta
TARGS="analyze --format json"
while getopts "n:a:t:h" opt; do
  case $opt in
    n) REPS=$OPTARG ;;
    a) ANCHORS=$OPTARG ;;
    t) TARGS=$OPTARG ;;
    *) sed -n '2,13p' "$0"; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
[ $# = 1 ] || { sed -n '2,13p' "$0"; exit 2; }
CAP=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
(cd "$REPO" && cargo build --release --locked --quiet)
BIN=$REPO/target/release/tunscope
OUT=$(mktemp -d "${TMPDIR:-/tmp}/tunscope-bench.XXXXXX")
CSV=$OUT/runs.csv
echo "tool,rep,wall_s,user_s,sys_s,maxrss_kb" >"$CSV"
PACKETS=$("$BIN" analyze --format json "$CAP" | python3 -c 'import json,sys; print(json.load(sys.stdin)["capture"]["packets"])')
BYTES=$(stat -L -c %s "$CAP")
cat "$CAP" >/dev/null
for rep in $(seq 1 "$REPS"); do
  "$SHARED_BENCH/run-anchors.sh" -n 1 -a "$ANCHORS" -o "$OUT/anchors-$rep" "$CAP" >/dev/null 2>&1
  tail -n +2 "$OUT/anchors-$rep/runs.csv" | awk -F, -v rep="$rep" '{print $1","rep","$3","$4","$5","$6}' >>"$CSV"
  # shellcheck disable=SC2086  # TARGS is a list of words
  /usr/bin/time -f "%e,%U,%S,%M" -o "$OUT/t" "$BIN" $TARGS "$CAP" >/dev/null
  echo "tunscope $TARGS,$rep,$(cat "$OUT/t")" >>"$CSV"
done
python3 - "$CSV" "$BYTES" "$PACKETS" "$(basename "$CAP")" <<'PY'
import csv, statistics, sys
path, size, packets, name = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
runs = {}
for r in csv.DictReader(open(path)):
    runs.setdefault(r["tool"], []).append(r)
med = lambda rows, k: statistics.median(float(x[k]) for x in rows)
cpu = {t: statistics.median(float(x["user_s"]) + float(x["sys_s"]) for x in rows) for t, rows in runs.items()}
anchor = cpu.get("gopacket-ta")
print(f"capture `{name}`: {size/1e6:.1f} MB, {packets} packets; medians of {len(next(iter(runs.values())))} interleaved runs\n")
print("| tool | wall s | CPU s | MB/s (CPU) | Mpkt/s (CPU) | MB/s (wall) | peak RSS MB | CPU vs gopacket-ta |")
print("|---|---|---|---|---|---|---|---|")
for t, rows in runs.items():
    w, c = med(rows, "wall_s"), cpu[t]
    rss = med(rows, "maxrss_kb") / 1024
    ratio = f"{c/anchor:.2f}x" if anchor else "-"
    mbs = f"{size/1e6/c:.0f}" if c > 0 else "-"
    mpps = f"{packets/1e6/c:.2f}" if c > 0 else "-"
    print(f"| {t} | {w:.2f} | {c:.2f} | {mbs} | {mpps} | {size/1e6/w:.0f} | {rss:.0f} | {ratio} |")
PY
echo "raw timings: $CSV" >&2
