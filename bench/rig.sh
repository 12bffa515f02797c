# bench/rig.sh - sourced by the bench scripts: sets SHARED_BENCH to ../shared/bench, or to a
# writable copy of it when the gopacket comparators are not built and ../shared is read-only
# (run-anchors.sh builds them next to itself). The copy is kept between runs.
# Expects REPO (the repository root) to be set.
SHARED_BENCH=$(cd "$REPO/../shared/bench" && pwd)
if [ ! -x "$SHARED_BENCH/gopacket-assemble/gopacket-assemble" ] && [ ! -w "$SHARED_BENCH/gopacket-assemble" ]; then
  RIG_COPY=${TMPDIR:-/tmp}/tunscope-shared-bench
  if [ ! -x "$RIG_COPY/gopacket-assemble/gopacket-assemble" ]; then
    rm -rf "$RIG_COPY" && cp -r "$SHARED_BENCH" "$RIG_COPY" && chmod -R u+w "$RIG_COPY"
    "$RIG_COPY/gopacket-assemble/build.sh" >&2
  fi
  SHARED_BENCH=$RIG_COPY
fi
GOPACKET_TA=$SHARED_BENCH/gopacket-assemble/gopacket-assemble
