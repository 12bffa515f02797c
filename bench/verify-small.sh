#!/usr/bin/env bash
# bench/verify-small.sh - byte-exact reassembly check against ground truth, small enough
# for CI: real kernel TCP traffic captured by ../shared/bench/gen-bulk.sh (default 8 MB),
# a mangled copy (reordered, duplicated, overlapping retransmissions) from mangle.py, and
# `tunscope streams --digest sha256` on both, checked by verify.py against the manifest.
# Needs root (network namespace) plus tcpdump, ethtool, iproute2 and python3.
# Usage: bench/verify-small.sh [-s MB] [-b TUNSCOPE_BINARY]
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
SHARED_BENCH=$(cd "$REPO/../shared/bench" && pwd)
SIZE=8
BIN=$REPO/target/debug/tunscope
while getopts "s:b:" opt; do
  case $opt in
    s) SIZE=$OPTARG ;;
    b) BIN=$OPTARG ;;
    *) sed -n '2,8p' "$0"; exit 2 ;;
  esac
done
[ -x "$BIN" ] || (cd "$REPO" && cargo build --locked --quiet)
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tunscope-verify.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
$SUDO "$SHARED_BENCH/gen-bulk.sh" -s "$SIZE" -o "$WORK/bulk.pcap" >"$WORK/gen.log" 2>&1 || {
  cat "$WORK/gen.log" >&2
  exit 1
}
python3 "$SHARED_BENCH/mangle.py" --seed 7 "$WORK/bulk.pcap" "$WORK/mangled.pcap" >"$WORK/mangle.log" 2>&1
status=0
passed=0
failed=0
for cap in bulk mangled; do
  "$BIN" streams --digest sha256 "$WORK/$cap.pcap" >"$WORK/$cap.streams.jsonl"
  if out=$(python3 "$SHARED_BENCH/verify.py" "$WORK/bulk.manifest.jsonl" "$WORK/$cap.streams.jsonl"); then
    echo "verify-small: $cap: $out"
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "verify-small: $cap: FAILED" >&2
    echo "$out" >&2
    status=1
  fi
done
echo "verify-small: $passed passed, $failed failed"
exit $status
