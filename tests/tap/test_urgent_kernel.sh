#!/usr/bin/env bash
# Urgent data (RFC 9293 3.8.5) between tapir and the Linux kernel, both
# ways on one connection: urgent_peer (tapir, tap0, 10.0.0.2) connects to
# urgent_kernel_peer.py (the kernel, 10.0.0.1), sends "abc" + MSG_OOB "d" +
# "ef", which the kernel must see as urgent ('d' out of band, reads stop at
# the mark); then the kernel sends "ghi" + MSG_OOB "j" + "kl", which tapir
# must see the same way (POLLPRI, SIOCATMARK, MSG_OOB).
# Usage: test_urgent_kernel.sh BUILD_DIR SOURCE_DIR   (root; exit 77 otherwise)
set -euo pipefail
BUILD=$1
SRC=$2
. "$SRC/tests/tap/lib.sh"
tap_require_root_and_tools python3

PROG="$BUILD/tests/urgent_peer"
PEER="$SRC/tests/tap/urgent_kernel_peer.py"
if [ ! -x "$PROG" ]; then
    echo "SKIP: $PROG is not built (TAPIR_BUILD_EXAMPLES=OFF?)"
    exit 77
fi

tap_setup urgent "$SRC"
tap_start_bg "$TAP_TMP/peer.out" "$TAP_TMP/peer.err" python3 "$PEER" 10.0.0.1 7009
PEER_PID=$TAP_LAST_PID
tap_wait_for_line "$TAP_TMP/peer.out" '^listening' 10 "$PEER_PID" || fail "kernel peer did not start"

rc=0
timeout 30 ip netns exec "$TAP_NS" "$PROG" --dev tap0 --ip 10.0.0.2/24 10.0.0.1 7009 \
    >"$TAP_TMP/tapir.out" 2>"$TAP_TMP/tapir.err" || rc=$?
echo "--- tapir side"
cat "$TAP_TMP/tapir.out" "$TAP_TMP/tapir.err"
tap_wait_for_line "$TAP_TMP/peer.out" '^(peer PASS|FAIL)' 10 "$PEER_PID" || true
echo "--- kernel side"
cat "$TAP_TMP/peer.out" "$TAP_TMP/peer.err"

! grep -q '^FAIL' "$TAP_TMP/peer.out" || fail "the kernel did not see tapir's urgent data as expected (kernel side above)"
[ "$rc" -eq 0 ] || fail "urgent_peer (tapir side) exited with $rc"
grep -qx 'peer PASS' "$TAP_TMP/peer.out" || fail "the kernel peer did not finish"
for line in 'pollpri' 'read ghi' 'atmark 1' 'oob j' 'read kl'; do
    grep -qx "$line" "$TAP_TMP/tapir.out" || fail "tapir side: no line '$line'"
done
echo "PASS"
