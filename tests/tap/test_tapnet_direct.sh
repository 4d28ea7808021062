#!/usr/bin/env bash
# tools/tapnet --direct: the namespace holds tap0 alone, carrying the
# kernel's address 10.0.0.1/24 itself (no bridge, no tap1); a stack on it
# answers pings and echoes 1 MiB byte for byte; --rps applies to tap0; a
# namespace made one way refuses to be brought up the other way; down
# removes it all.
# Usage: test_tapnet_direct.sh BUILD_DIR SOURCE_DIR   (root; exit 77 otherwise)
set -euo pipefail
BUILD=$1
SRC=$2
. "$SRC/tests/tap/lib.sh"
tap_require_root_and_tools ping python3

PROG="$BUILD/examples/ping_target"
SERVER="$BUILD/examples/echo_server"
PEER="$SRC/tests/tap/echo_peer.py"
[ -x "$PROG" ] || fail "$PROG is not built"
[ -x "$SERVER" ] || fail "$SERVER is not built"

TAPNET="$SRC/tools/tapnet"
TAP_NS="tapir-t-direct-$$"
TAP_TMP=$(mktemp -d "/tmp/tapir-t-direct.XXXXXX")
trap tap_cleanup EXIT
trap 'exit 1' INT TERM

echo "--- up --direct: tap0 with 10.0.0.1, no bridge"
"$TAPNET" --ns "$TAP_NS" --rps 1 --direct up
"$TAPNET" --ns "$TAP_NS" --direct up          # idempotent
tap_ns ip -brief -4 addr show dev tap0 | tee "$TAP_TMP/addr"
grep -q '10\.0\.0\.1/24' "$TAP_TMP/addr" || fail "tap0 does not carry 10.0.0.1/24"
! tap_ns ip link show dev br0 >/dev/null 2>&1 || fail "a bridge exists in --direct mode"
! tap_ns ip link show dev tap1 >/dev/null 2>&1 || fail "tap1 exists in --direct mode"
mask=$(tap_ns cat /sys/class/net/tap0/queues/rx-0/rps_cpus)
[ "$((16#${mask//,/}))" -eq 1 ] || fail "tap0 has rps_cpus=$mask, expected 1"

echo "--- the bridged layout is refused on it"
rc=0
"$TAPNET" --ns "$TAP_NS" up 2>"$TAP_TMP/refused" || rc=$?
[ "$rc" -ne 0 ] || fail "tapnet up (bridged) succeeded on a --direct namespace"
grep -q -- '--direct' "$TAP_TMP/refused" || fail "no clear message: $(cat "$TAP_TMP/refused")"

echo "--- a stack on tap0 answers pings"
tap_start_bg "$TAP_TMP/out" "$TAP_TMP/err" "$PROG" --dev tap0 --ip 10.0.0.2/24
PID=$TAP_LAST_PID
tap_wait_for_line "$TAP_TMP/out" '^ready on tap0' 10 "$PID" || fail "ping_target did not start"
tap_ns ping -n -c 3 -i 0.2 -W 2 10.0.0.2 | tee "$TAP_TMP/ping"
grep -q '3 received' "$TAP_TMP/ping" || fail "not every ping was answered"
tap_stop "$PID" || fail "ping_target did not stop cleanly"

echo "--- and echoes 1 MiB"
tap_ns ip neigh flush all >/dev/null 2>&1 || true
tap_start_bg "$TAP_TMP/eout" "$TAP_TMP/eerr" "$SERVER" --dev tap0 --ip 10.0.0.2/24
PID=$TAP_LAST_PID
tap_wait_for_line "$TAP_TMP/eout" '^listening on 10\.0\.0\.2:7$' 10 "$PID" || fail "echo_server did not start"
timeout 60 ip netns exec "$TAP_NS" python3 "$PEER" big 10.0.0.2 7 $((1 << 20)) | tee "$TAP_TMP/big" ||
    fail "1 MiB echo failed"
sent=$(awk '/^sent/ {print $4}' "$TAP_TMP/big")
recv=$(awk '/^recv/ {print $4}' "$TAP_TMP/big")
[ -n "$sent" ] && [ "$sent" = "$recv" ] || fail "sha256 $sent sent, $recv received"
tap_stop "$PID" || fail "echo_server did not stop cleanly"

echo "--- down removes it"
"$TAPNET" --ns "$TAP_NS" down
! ip netns list | awk '{print $1}' | grep -qx "$TAP_NS" || fail "the namespace is still there"

echo "--- a bridged namespace refuses --direct"
"$TAPNET" --ns "$TAP_NS" up
rc=0
"$TAPNET" --ns "$TAP_NS" --direct up 2>"$TAP_TMP/refused2" || rc=$?
[ "$rc" -ne 0 ] || fail "tapnet --direct up succeeded on a bridged namespace"
echo "PASS"
