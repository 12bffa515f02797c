#!/usr/bin/env bash
# bench/report.sh - the whole benchmark as one Markdown document on stdout (what
# reports/benchmark.md holds): byte-exactness with verify.py, CPU time next to
# gopacket-tcpassembly (bench/pair.py: interleaved runs, microsecond rusage), the tshark
# anchor (bench/anchors.sh), and peak RSS of every output format on a capture and on one
# 10x larger.
#
# Usage: bench/report.sh [-s MB] [-x] [-n REPS] [-d DIR]
#   -s MB    size of the bulk capture from ../shared/bench/gen-bulk.sh (default 300)
#   -x       also make a capture 10x larger and show that peak RSS stays flat
#   -n REPS  interleaved repetitions for the CPU tables (default 21)
#   -d DIR   where captures are made, and reused when present
#            (default ${TMPDIR:-/tmp}/tunscope-bench-data)
# Needs root (gen-bulk.sh captures real kernel TCP in a network namespace), tcpdump,
# tshark, tcpflow, GNU time, python3, Go and Debian's gopacket (see ../shared/bench/README.md).
# Takes ~6 minutes with -x once the captures exist (making them takes longer). Progress goes to stderr.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
# shellcheck source=bench/rig.sh
. "$HERE/rig.sh"
SIZE=300
BIG=0
REPS=21
DATA=${TMPDIR:-/tmp}/tunscope-bench-data
while getopts "s:xn:d:h" opt; do
  case $opt in
    s) SIZE=$OPTARG ;;
    x) BIG=1 ;;
    n) REPS=$OPTARG ;;
    d) DATA=$OPTARG ;;
    *) sed -n '2,16p' "$0"; exit 2 ;;
  esac
done
mkdir -p "$DATA"
(cd "$REPO" && cargo build --release --locked --quiet)
BIN=$REPO/target/release/tunscope
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
say() { echo "bench/report: $*" >&2; }

# make CAPTURE MB [gen-bulk flags...]: a gen-bulk.sh capture, unless already there
make_capture() {
  local out=$1 mb=$2
  shift 2
  [ -s "$out" ] && return
  say "making $(basename "$out") ($mb MB; minutes)"
  $SUDO "$SHARED_BENCH/gen-bulk.sh" -s "$mb" -o "$out" "$@" >"$out.log" 2>&1 || {
    cat "$out.log" >&2
    exit 1
  }
}
CLEAN=$DATA/bulk-$SIZE.pcap
MANGLED=$DATA/bulk-$SIZE-mangled.pcap
make_capture "$CLEAN" "$SIZE"
[ -s "$MANGLED" ] || python3 "$SHARED_BENCH/mangle.py" --seed 1 "$CLEAN" "$MANGLED" >"$MANGLED.log" 2>&1
CAPTURES=("$CLEAN" "$MANGLED")
if [ "$BIG" = 1 ]; then
  BIG_CAPTURE=$DATA/bulk-$((SIZE * 10)).pcap
  make_capture "$BIG_CAPTURE" $((SIZE * 10)) -n
  CAPTURES+=("$BIG_CAPTURE")
fi

echo "# Benchmark"
echo
echo "\`bench/report.sh -s $SIZE$([ "$BIG" = 1 ] && echo " -x")\` on $(date -u +%Y-%m-%d), $(nproc) cores,"
echo "tunscope $(git -C "$REPO" describe --always --dirty). The machine is shared and noisy:"
echo "read the ratios to gopacket-tcpassembly measured in the same table, not absolute times."
echo "Captures: \`gen-bulk.sh -s $SIZE\` (real kernel TCP, TLS-framed payload) and"
echo "\`mangle.py --seed 1\` of it (reordered, duplicated, overlapping retransmissions)."
echo

say "verify.py"
echo "## Byte-exact reassembly (\`tunscope streams --digest sha256\` + \`verify.py\`)"
echo
for cap in "$CLEAN" "$MANGLED"; do
  "$BIN" streams --digest sha256 "$cap" >"$DATA/streams.jsonl"
  echo "- \`$(basename "$cap")\`: $(python3 "$SHARED_BENCH/verify.py" -q "${CLEAN%.pcap}.manifest.jsonl" "$DATA/streams.jsonl" | tail -n 1)"
done
rm -f "$DATA/streams.jsonl"
echo

# cpu_tables CACHE NAME=COMMAND...: a bench/pair.py table for each capture, with the
# capture in page-cache state CACHE and gopacket-ta as the anchor.
cpu_tables() {
  local cache=$1 cap
  shift
  for cap in "$CLEAN" "$MANGLED"; do
    say "pair.py --cache $cache $(basename "$cap")"
    echo
    python3 "$HERE/pair.py" -n "$REPS" --cache "$cache" "$cap" "gopacket-ta=$GOPACKET_TA" "$@"
  done
  echo
}

echo "## CPU time next to gopacket-tcpassembly (\`bench/pair.py -n $REPS\`)"
echo
echo "gopacket-ta reassembles and counts bytes; \`streams\` reassembles and prints one line per"
echo "direction; \`analyze\` runs every analyzer and writes the whole report. Each capture is"
echo "first written back, dropped from the page cache and read back (\`--cache disk\`): the state"
echo "of any capture read from disk. The next section shows the other common state."
cpu_tables disk \
  "tunscope streams=$BIN streams" \
  "tunscope analyze --flows-only --format json=$BIN analyze --flows-only --format json" \
  "tunscope analyze (text)=$BIN analyze --format text" \
  "tunscope analyze --format json=$BIN analyze --format json" \
  "tunscope analyze --format jsonl=$BIN analyze --format jsonl"
echo "## The same, right after the capture was written (\`bench/pair.py --cache written\`)"
echo
echo "tcpdump writes a capture 4 KiB at a time, and the page cache then holds it in 4 KiB"
echo "folios until it is evicted: every page is mapped (tunscope) or copied (gopacket) on its"
echo "own, which costs both tools more kernel time, tunscope (a map) more than gopacket."
cpu_tables written \
  "tunscope streams=$BIN streams" \
  "tunscope analyze --format json=$BIN analyze --format json"

echo "## Against tshark (\`bench/anchors.sh -n 3 -a cat,gopacket-ta,tshark\`, GNU time)"
for cap in "$CLEAN" "$MANGLED"; do
  say "anchors.sh $(basename "$cap")"
  echo
  "$HERE/anchors.sh" -n 3 -a cat,gopacket-ta,tshark -t "analyze --format json" "$cap" 2>/dev/null
done
echo

echo "## Peak RSS (one run each, GNU time)"
echo
echo "| capture | command | CPU s | peak RSS MB |"
echo "|---|---|---|---|"
OUT_DIR=$(mktemp -d "${TMPDIR:-/tmp}/tunscope-report-out.XXXXXX")
trap 'rm -rf "$OUT_DIR"' EXIT
for cap in "${CAPTURES[@]}"; do
  say "RSS $(basename "$cap")"
  cat "$cap" >/dev/null
  name=$(basename "$cap")
  for args in "streams" "analyze --format text" "analyze --format json" "analyze --format jsonl" \
    "analyze --format json --out $OUT_DIR/out"; do
    # shellcheck disable=SC2086  # args is a list of words
    /usr/bin/time -f "%U %S %M" -o "$OUT_DIR/t" "$BIN" $args "$cap" >/dev/null 2>&1
    read -r user sys kb <"$OUT_DIR/t"
    echo "| $name | tunscope ${args/$OUT_DIR\/out/DIR} | $(awk "BEGIN { print $user + $sys }") | $((kb / 1024)) |"
    rm -rf "$OUT_DIR/out"
  done
  /usr/bin/time -f "%U %S %M" -o "$OUT_DIR/t" "$GOPACKET_TA" "$cap" >/dev/null 2>&1
  read -r user sys kb <"$OUT_DIR/t"
  echo "| $name | gopacket-ta | $(awk "BEGIN { print $user + $sys }") | $((kb / 1024)) |"
done
