#!/usr/bin/env bash
# tapir_tap_open's sentences for the common failures, on real devices in a
# private namespace: a TAP another program holds (busy), a name that is a TUN
# (wrong kind), and a user without CAP_NET_ADMIN (permission).
# Usage: test_tap_errors.sh BUILD_DIR SOURCE_DIR   (root; exit 77 otherwise)
set -euo pipefail
BUILD=$1
SRC=$2
. "$SRC/tests/tap/lib.sh"
tap_require_root_and_tools

PROG="$BUILD/examples/ping_target"
[ -x "$PROG" ] || fail "$PROG is not built"

tap_setup taperr "$SRC"

echo "--- busy: a second program on tap0"
tap_start_bg "$TAP_TMP/out1" "$TAP_TMP/err1" "$PROG" --dev tap0 --ip 10.0.0.2/24
PID=$TAP_LAST_PID
tap_wait_for_line "$TAP_TMP/out1" '^ready on tap0' 10 "$PID" || fail "the first ping_target did not start"
rc=0
tap_ns "$PROG" --dev tap0 --ip 10.0.0.3/24 >/dev/null 2>"$TAP_TMP/err2" || rc=$?
cat "$TAP_TMP/err2"
[ "$rc" -ne 0 ] || fail "a second program attached to a busy TAP"
grep -q 'device busy' "$TAP_TMP/err2" || fail "no 'device busy' sentence"
tap_stop "$PID" || fail "the first ping_target did not stop cleanly"

echo "--- wrong kind: a TUN opened as a TAP"
tap_ns ip tuntap add dev tun9 mode tun
rc=0
tap_ns "$PROG" --dev tun9 --ip 10.0.0.2/24 >/dev/null 2>"$TAP_TMP/err3" || rc=$?
cat "$TAP_TMP/err3"
[ "$rc" -ne 0 ] || fail "a TUN device was opened as a TAP"
grep -q 'TAP tun9' "$TAP_TMP/err3" || fail "the sentence does not name the device"

echo "--- permission: an unprivileged user"
if command -v setpriv >/dev/null && id nobody >/dev/null 2>&1; then
    rc=0
    tap_ns setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups --inh-caps=-all \
        "$PROG" --dev tap1 --ip 10.0.0.2/24 >/dev/null 2>"$TAP_TMP/err4" || rc=$?
    cat "$TAP_TMP/err4"
    [ "$rc" -ne 0 ] || fail "an unprivileged user attached to root's TAP"
    grep -q 'CAP_NET_ADMIN' "$TAP_TMP/err4" || fail "the sentence does not mention CAP_NET_ADMIN"
    grep -q 'ip tuntap add tap1 mode tap user' "$TAP_TMP/err4" || fail "the sentence does not show the fix"
else
    echo "(setpriv or user nobody missing: permission case not run)"
fi
echo "PASS"
