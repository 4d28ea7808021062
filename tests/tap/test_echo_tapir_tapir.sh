#!/usr/bin/env bash
# tapir to tapir across the bridge: echo_client on tap1 (10.0.0.3) against
# echo_server on tap0 (10.0.0.2), a line of text and then 256 KiB checked by
# sha256; both ends' state ladders show the handshake and the four-way close.
# Usage: test_echo_tapir_tapir.sh BUILD_DIR SOURCE_DIR   (root; exit 77 otherwise)
set -euo pipefail
BUILD=$1
SRC=$2
. "$SRC/tests/tap/lib.sh"
tap_require_root_and_tools sha256sum

SERVER="$BUILD/examples/echo_server"
CLIENT="$BUILD/examples/echo_client"
[ -x "$SERVER" ] && [ -x "$CLIENT" ] || fail "echo_server/echo_client are not built"

tap_setup t2t "$SRC"
tap_start_bg "$TAP_TMP/srv.out" "$TAP_TMP/srv.err" "$SERVER" --dev tap0 --ip 10.0.0.2/24 --msl 1 -v
SRV=$TAP_LAST_PID
tap_wait_for_line "$TAP_TMP/srv.out" '^listening on 10\.0\.0\.2:7$' 10 "$SRV" ||
    { cat "$TAP_TMP/srv.err"; fail "echo_server did not start"; }

run_client() {  # INPUT OUTPUT LOG
    timeout 30 ip netns exec "$TAP_NS" "$CLIENT" --dev tap1 --ip 10.0.0.3/24 --msl 1 --linger 2.5 -v 10.0.0.2 \
        <"$1" >"$2" 2>"$3"
}

echo "hello from tap1 to tap0" >"$TAP_TMP/line"
run_client "$TAP_TMP/line" "$TAP_TMP/line.out" "$TAP_TMP/c1.err" || { cat "$TAP_TMP/c1.err"; fail "echo_client failed"; }
cmp -s "$TAP_TMP/line" "$TAP_TMP/line.out" || fail "the line came back as '$(cat "$TAP_TMP/line.out")'"
cat "$TAP_TMP/c1.err"

head -c $((256 << 10)) /dev/urandom >"$TAP_TMP/in"
run_client "$TAP_TMP/in" "$TAP_TMP/out" "$TAP_TMP/c2.err" || { cat "$TAP_TMP/c2.err"; fail "echo_client (256 KiB) failed"; }
[ "$(sha256sum <"$TAP_TMP/in")" = "$(sha256sum <"$TAP_TMP/out")" ] || fail "256 KiB tapir to tapir: sha256 differs"

rc=0
tap_stop "$SRV" || rc=$?
[ "$rc" -eq 0 ] || fail "echo_server exited with $rc"
cat "$TAP_TMP/srv.err"
for s in 'LISTEN -> SYN_RECEIVED' 'SYN_RECEIVED -> ESTABLISHED' 'ESTABLISHED -> CLOSE_WAIT' \
         'CLOSE_WAIT -> LAST_ACK' 'LAST_ACK -> CLOSED'; do
    [ "$(grep -c -- "10.0.0.3:[0-9]* $s" "$TAP_TMP/srv.err")" -eq 2 ] || fail "server: '$s' not seen for both connections"
done
for s in 'CLOSED -> SYN_SENT' 'SYN_SENT -> ESTABLISHED' 'ESTABLISHED -> FIN_WAIT_1' '-> TIME_WAIT' 'TIME_WAIT -> CLOSED'; do
    grep -q -- "$s" "$TAP_TMP/c1.err" || fail "client: '$s' not seen"
done
echo "PASS"
