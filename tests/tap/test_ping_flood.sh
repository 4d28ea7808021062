#!/usr/bin/env bash
# A bounded ping flood (2000 echo requests, at most 20 s) on a real TAP: the
# stack thread reads frames in batches and keeps up; almost every request is
# answered and ping_target stops cleanly afterwards.
# Usage: test_ping_flood.sh BUILD_DIR SOURCE_DIR   (root; exit 77 otherwise)
set -euo pipefail
BUILD=$1
SRC=$2
. "$SRC/tests/tap/lib.sh"
tap_require_root_and_tools ping

PROG="$BUILD/examples/ping_target"
[ -x "$PROG" ] || fail "$PROG is not built"

tap_setup pingflood "$SRC"
tap_start_bg "$TAP_TMP/out" "$TAP_TMP/err" "$PROG" --dev tap0 --ip 10.0.0.2/24
PID=$TAP_LAST_PID
tap_wait_for_line "$TAP_TMP/out" '^ready on tap0 ' 10 "$PID" || fail "ping_target did not start"

# -f: as fast as replies come (at least 100 per second); -c and -w bound it.
tap_ns ping -n -q -f -c 2000 -w 20 10.0.0.2 | tee "$TAP_TMP/ping" || true
received=$(sed -n 's/.* \([0-9]\+\) received.*/\1/p' "$TAP_TMP/ping")
[ -n "$received" ] || fail "no ping summary"
[ "$received" -ge 1980 ] || fail "only $received of 2000 flood pings answered"

rc=0
tap_stop "$PID" || rc=$?
cat "$TAP_TMP/err"
[ "$rc" -eq 0 ] || fail "ping_target exited with $rc on SIGINT"
echo "PASS"
