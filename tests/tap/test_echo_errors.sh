#!/usr/bin/env bash
# Errors against the kernel, while an echo_server (tap1, 10.0.0.3) keeps
# serving other clients through all of it:
#   - connect to a closed kernel port           -> ECONNREFUSED, at once
#   - the kernel peer dies mid-transfer          -> ECONNRESET or EPIPE
#   - nothing at the address (10.0.0.99)         -> ETIMEDOUT after the
#     configured SYN retries (--syn-retries 1: SYN + 1 retry, ~3 s)
#   - a kernel client killed mid-transfer against echo_server: only that
#     connection ends (reset); the server goes on.
# Usage: test_echo_errors.sh BUILD_DIR SOURCE_DIR   (root; exit 77 otherwise)
set -euo pipefail
BUILD=$1
SRC=$2
. "$SRC/tests/tap/lib.sh"
tap_require_root_and_tools python3

SERVER="$BUILD/examples/echo_server"
CLIENT="$BUILD/examples/echo_client"
PEER="$SRC/tests/tap/echo_peer.py"
[ -x "$SERVER" ] && [ -x "$CLIENT" ] || fail "echo_server/echo_client are not built"

tap_setup errors "$SRC"
tap_start_bg "$TAP_TMP/srv.out" "$TAP_TMP/srv.err" "$SERVER" --dev tap1 --ip 10.0.0.3/24
SRV=$TAP_LAST_PID
tap_wait_for_line "$TAP_TMP/srv.out" '^listening on 10\.0\.0\.3:7$' 10 "$SRV" || fail "echo_server did not start"

server_still_serves() {  # WHEN
    timeout 60 ip netns exec "$TAP_NS" python3 "$PEER" clients 10.0.0.3 7 10 65536 >"$TAP_TMP/serve" ||
        fail "echo_server stopped serving $1: $(cat "$TAP_TMP/serve")"
    echo "echo_server still serves $1"
}
client() {  # STDIN ARGS... ; sets rc, secs, err
    local in=$1 t0 t1
    shift
    t0=$(date +%s%N)
    rc=0
    timeout 30 ip netns exec "$TAP_NS" "$CLIENT" --dev tap0 --ip 10.0.0.2/24 --linger 0 "$@" \
        <"$in" >/dev/null 2>"$TAP_TMP/client.err" || rc=$?
    t1=$(date +%s%N)
    secs=$(( (t1 - t0) / 1000000000 ))
    err=$(cat "$TAP_TMP/client.err")
    echo "echo_client $*: exit $rc after ${secs}s: $err"
}

server_still_serves "at the start"

# Refused: the kernel answers the SYN with RST.
echo hi >"$TAP_TMP/hi"
client "$TAP_TMP/hi" 10.0.0.1 9
[ "$rc" -ne 0 ] || fail "connect to a closed port succeeded"
grep -q 'Connection refused' <<<"$err" || fail "refused: message was '$err'"
[ "$secs" -le 2 ] || fail "refused took ${secs}s (should be at once, not after retries)"
server_still_serves "after a refused connect"

# The kernel peer dies after 100 KB of a 50 MB transfer.
tap_start_bg "$TAP_TMP/die.out" "$TAP_TMP/die.err" python3 "$PEER" server 10.0.0.1 7008 die:100000
DIE=$TAP_LAST_PID
tap_wait_for_line "$TAP_TMP/die.out" '^listening' 10 "$DIE" || fail "dying kernel server did not start"
head -c $((50 << 20)) /dev/zero >"$TAP_TMP/zeros"
client "$TAP_TMP/zeros" 10.0.0.1 7008
[ "$rc" -ne 0 ] || fail "transfer to a dead peer succeeded"
grep -Eq 'Connection reset by peer|Broken pipe' <<<"$err" || fail "dead peer: message was '$err'"
server_still_serves "after a peer died mid-transfer"

# Nothing at 10.0.0.99: no ARP reply, no SYN-ACK.
client "$TAP_TMP/hi" --syn-retries 1 10.0.0.99 7
[ "$rc" -ne 0 ] || fail "connect to 10.0.0.99 succeeded"
grep -q 'Connection timed out' <<<"$err" || fail "unreachable: message was '$err'"
[ "$secs" -ge 2 ] && [ "$secs" -le 8 ] || fail "ETIMEDOUT after ${secs}s, expected ~3 s (SYN + 1 retry)"
server_still_serves "after a timed-out connect"

# A kernel client of echo_server killed mid-transfer (its kernel resets).
ip netns exec "$TAP_NS" python3 "$PEER" big 10.0.0.3 7 $((200 << 20)) >/dev/null 2>&1 &
BIG=$!
sleep 0.5
kill -KILL "$BIG" 2>/dev/null || true
wait "$BIG" 2>/dev/null || true
server_still_serves "after one of its clients was killed mid-transfer"

rc=0
tap_stop "$SRV" || rc=$?
[ "$rc" -eq 0 ] || { cat "$TAP_TMP/srv.err"; fail "echo_server exited with $rc"; }
echo "PASS"
