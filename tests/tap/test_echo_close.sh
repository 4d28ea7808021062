#!/usr/bin/env bash
# The three ways a connection with the kernel can end, read from tapir's
# state ladder (-v):
#   1. tapir closes first  (echo_client vs a kernel echo server): active close,
#      FIN_WAIT_1 ... TIME_WAIT -> CLOSED on tapir (--msl 1);
#   2. the kernel closes first (nc from 10.0.0.1 vs echo_server): passive
#      close, ESTABLISHED -> CLOSE_WAIT -> LAST_ACK -> CLOSED on tapir;
#   3. both at once: with tap0 held down, the kernel closes and echo_client
#      closes, so each FIN is sent before the other arrives; when the link
#      comes back the FINs cross: FIN_WAIT_1 -> CLOSING -> TIME_WAIT (RFC 9293
#      3.6, simultaneous close).
# Usage: test_echo_close.sh BUILD_DIR SOURCE_DIR   (root; exit 77 otherwise)
set -euo pipefail
BUILD=$1
SRC=$2
. "$SRC/tests/tap/lib.sh"
tap_require_root_and_tools python3 nc

SERVER="$BUILD/examples/echo_server"
CLIENT="$BUILD/examples/echo_client"
PEER="$SRC/tests/tap/echo_peer.py"
[ -x "$SERVER" ] && [ -x "$CLIENT" ] || fail "echo_server/echo_client are not built"

tap_setup close "$SRC"
ladder() { grep -o '[A-Z_0-9]* -> [A-Z_0-9]*' "$1" | tr '\n' ',' ; }

# 1. tapir closes first
tap_start_bg "$TAP_TMP/k1.out" "$TAP_TMP/k1.err" python3 "$PEER" server 10.0.0.1 7001 echo
tap_wait_for_line "$TAP_TMP/k1.out" '^listening' 10 "$TAP_LAST_PID" || fail "kernel echo server did not start"
echo "tapir closes first" | timeout 20 ip netns exec "$TAP_NS" "$CLIENT" --dev tap0 --ip 10.0.0.2/24 \
    --msl 0.5 --linger 1.5 -v 10.0.0.1 7001 >"$TAP_TMP/c1.out" 2>"$TAP_TMP/c1.err" ||
    { cat "$TAP_TMP/c1.err"; fail "case 1: echo_client failed"; }
l1=$(ladder "$TAP_TMP/c1.err")
echo "1. tapir closes first: $l1"
[[ "$l1" == *"ESTABLISHED -> FIN_WAIT_1,"*"-> TIME_WAIT,TIME_WAIT -> CLOSED," ]] ||
    fail "case 1: tapir's ladder was $l1"

# 2. the kernel closes first
tap_start_bg "$TAP_TMP/s.out" "$TAP_TMP/s.err" "$SERVER" --dev tap1 --ip 10.0.0.3/24 -v
SRV=$TAP_LAST_PID
tap_wait_for_line "$TAP_TMP/s.out" '^listening on' 10 "$SRV" || fail "echo_server did not start"
got=$(echo "kernel closes first" | timeout 10 ip netns exec "$TAP_NS" nc -N 10.0.0.3 7) || fail "case 2: nc failed"
[ "$got" = "kernel closes first" ] || fail "case 2: echoed '$got'"
for i in $(seq 50); do grep -q 'LAST_ACK -> CLOSED' "$TAP_TMP/s.err" && break; sleep 0.1; done
l2=$(ladder "$TAP_TMP/s.err")
echo "2. the kernel closes first: $l2"
[[ "$l2" == *"SYN_RECEIVED -> ESTABLISHED,ESTABLISHED -> CLOSE_WAIT,CLOSE_WAIT -> LAST_ACK,LAST_ACK -> CLOSED,"* ]] ||
    fail "case 2: tapir's ladder was $l2"
tap_stop "$SRV" || fail "echo_server did not exit cleanly"

# 3. both at once
tap_start_bg "$TAP_TMP/k3.out" "$TAP_TMP/k3.err" python3 "$PEER" server 10.0.0.1 7003 "close-when:$TAP_TMP/kernel-close"
tap_wait_for_line "$TAP_TMP/k3.out" '^listening' 10 "$TAP_LAST_PID" || fail "kernel server did not start"
( for i in $(seq 300); do [ -e "$TAP_TMP/client-eof" ] && break; sleep 0.05; done ) |
    timeout 30 ip netns exec "$TAP_NS" "$CLIENT" --dev tap0 --ip 10.0.0.2/24 --msl 0.5 --linger 2.5 -v \
        10.0.0.1 7003 >"$TAP_TMP/c3.out" 2>"$TAP_TMP/c3.err" &
CL=$!
TAP_PIDS="$TAP_PIDS $CL"
wait_log() {  # FILE REGEX
    for i in $(seq 100); do grep -q -- "$2" "$1" && return 0; sleep 0.05; done
    cat "$1"; fail "case 3: '$2' not seen"
}
wait_log "$TAP_TMP/c3.err" 'SYN_SENT -> ESTABLISHED'
tap_ns ip link set tap0 down                     # nothing passes between the two now
touch "$TAP_TMP/kernel-close"                    # the kernel sends FIN (lost)
wait_log "$TAP_TMP/k3.out" '^closed'
touch "$TAP_TMP/client-eof"                      # tapir sends FIN (lost)
wait_log "$TAP_TMP/c3.err" 'ESTABLISHED -> FIN_WAIT_1'
sleep 0.2
tap_ns ip link set tap0 up                       # the retransmitted FINs cross
rc=0
wait "$CL" || rc=$?
cat "$TAP_TMP/c3.err"
[ "$rc" -eq 0 ] || fail "case 3: echo_client exited with $rc"
l3=$(ladder "$TAP_TMP/c3.err")
echo "3. both at once: $l3"
[[ "$l3" == *"ESTABLISHED -> FIN_WAIT_1,FIN_WAIT_1 -> CLOSING,CLOSING -> TIME_WAIT,TIME_WAIT -> CLOSED," ]] ||
    fail "case 3: tapir's ladder was $l3"
echo "PASS"
