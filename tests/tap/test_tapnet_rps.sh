#!/usr/bin/env bash
# tools/tapnet --rps MASK: both TAPs get the receive-steering mask (the
# kernel's receive work for the frames tapir writes then runs on those CPUs,
# see BENCHMARKS.md), a stack on such a TAP still answers pings, and a mask
# that is not hex is refused before anything is made.
# Usage: test_tapnet_rps.sh BUILD_DIR SOURCE_DIR   (root; exit 77 otherwise)
set -euo pipefail
BUILD=$1
SRC=$2
. "$SRC/tests/tap/lib.sh"
tap_require_root_and_tools ping

PROG="$BUILD/examples/ping_target"
[ -x "$PROG" ] || fail "$PROG is not built"

echo "--- a bad mask is refused"
rc=0
"$SRC/tools/tapnet" --ns "tapir-t-rpsbad-$$" --rps nothex up 2>/dev/null || rc=$?
[ "$rc" -eq 2 ] || fail "tapnet --rps nothex exited $rc, expected 2"
if ip netns list | awk '{print $1}' | grep -qx "tapir-t-rpsbad-$$"; then
    ip netns del "tapir-t-rpsbad-$$"
    fail "tapnet made a namespace despite the bad mask"
fi

echo "--- the mask is set on tap0 and tap1"
TAPNET="$SRC/tools/tapnet"
TAP_NS="tapir-t-rps-$$"
TAP_TMP=$(mktemp -d "/tmp/tapir-t-rps.XXXXXX")
trap tap_cleanup EXIT
trap 'exit 1' INT TERM
"$TAPNET" --ns "$TAP_NS" --rps 1 up
for tap in tap0 tap1; do
    mask=$(tap_ns cat "/sys/class/net/$tap/queues/rx-0/rps_cpus")
    echo "$tap rps_cpus=$mask"
    [ "$((16#${mask//,/}))" -eq 1 ] || fail "$tap has rps_cpus=$mask, expected 1"
done

echo "--- a stack on the steered TAP answers"
tap_start_bg "$TAP_TMP/out" "$TAP_TMP/err" "$PROG" --dev tap0 --ip 10.0.0.2/24
PID=$TAP_LAST_PID
tap_wait_for_line "$TAP_TMP/out" '^ready on tap0' 10 "$PID" || fail "ping_target did not start"
tap_ns ping -n -c 3 -i 0.2 -W 2 10.0.0.2 | tee "$TAP_TMP/ping"
grep -q '3 received' "$TAP_TMP/ping" || fail "not every ping was answered"
tap_stop "$PID" || fail "ping_target did not stop cleanly"
echo "PASS"
