# bench/rig.sh - sourced by the bench scripts: sets SHARED_BENCH to ../shared/bench when its
# gopacket comparators are built (run-anchors.sh builds them next to itself), otherwise to a
# copy of it where they are built, so that ../shared is never written to (it may be
# read-only, and root can write to read-only directories). The copy is kept between runs.
# Expects REPO (the repository root) to be set.
SHARED_BENCH=$(cd "$REPO/../shared/bench" && pwd)
if [ ! -x "$SHARED_BENCH/gopacket-assemble/gopacket-assemble" ]; then
  RIG_COPY=${TMPDIR:-/tmp}/tunscope-shared-bench
  if [ ! -x "$RIG_COPY/gopacket-assemble/gopacket-assemble" ]; then
    rm -rf "$RIG_COPY" && cp -r "$SHARED_BENCH" "$RIG_COPY" && chmod -R u+w "$RIG_COPY"
    "$RIG_COPY/gopacket-assemble/build.sh" >&2
  fi
  SHARED_BENCH=$RIG_COPY
fi
GOPACKET_TA=$SHARED_BENCH/gopacket-assemble/gopacket-assemble
