#!/usr/bin/env bash
# The Linux kernel as server: echo_client (tap0, 10.0.0.2) sends 1 MiB to a
# kernel echo server on 10.0.0.1 (br0) and gets it back, sha256 checked. The
# client closes first (shutdown(SHUT_WR) at stdin EOF), so its connection
# must go FIN_WAIT_1 -> FIN_WAIT_2 -> TIME_WAIT and, with --msl 1 (TIME_WAIT
# 2 s) and --linger 3, TIME_WAIT -> CLOSED before it exits.
# Usage: test_echo_kernel_server.sh BUILD_DIR SOURCE_DIR   (root; exit 77 otherwise)
set -euo pipefail
BUILD=$1
SRC=$2
. "$SRC/tests/tap/lib.sh"
tap_require_root_and_tools python3 sha256sum

CLIENT="$BUILD/examples/echo_client"
PEER="$SRC/tests/tap/echo_peer.py"
[ -x "$CLIENT" ] || fail "$CLIENT is not built"

tap_setup kserver "$SRC"
tap_start_bg "$TAP_TMP/peer.out" "$TAP_TMP/peer.err" python3 "$PEER" server 10.0.0.1 7007 echo
PEER_PID=$TAP_LAST_PID
tap_wait_for_line "$TAP_TMP/peer.out" '^listening' 10 "$PEER_PID" || fail "kernel echo server did not start"

head -c $((1 << 20)) /dev/urandom >"$TAP_TMP/in"
rc=0
timeout 30 ip netns exec "$TAP_NS" "$CLIENT" --dev tap0 --ip 10.0.0.2/24 --msl 1 --linger 3 -v 10.0.0.1 7007 \
    <"$TAP_TMP/in" >"$TAP_TMP/out" 2>"$TAP_TMP/client.err" || rc=$?
cat "$TAP_TMP/client.err"
[ "$rc" -eq 0 ] || fail "echo_client exited with $rc"
want=$(sha256sum <"$TAP_TMP/in" | cut -d' ' -f1)
got=$(sha256sum <"$TAP_TMP/out" | cut -d' ' -f1)
echo "sent sha256 $want"
echo "recv sha256 $got"
[ "$want" = "$got" ] || fail "1 MiB through the kernel echo server: sha256 differs ($(stat -c %s "$TAP_TMP/out") bytes back)"

# The active close, in order, ending in CLOSED after TIME_WAIT.
ladder=$(grep -o '[A-Z_0-9]* -> [A-Z_0-9]*' "$TAP_TMP/client.err" | tr '\n' ',')
expect="CLOSED -> SYN_SENT,SYN_SENT -> ESTABLISHED,ESTABLISHED -> FIN_WAIT_1,FIN_WAIT_1 -> FIN_WAIT_2,FIN_WAIT_2 -> TIME_WAIT,TIME_WAIT -> CLOSED,"
# (the kernel may also ACK our FIN and send its own in one segment)
also="CLOSED -> SYN_SENT,SYN_SENT -> ESTABLISHED,ESTABLISHED -> FIN_WAIT_1,FIN_WAIT_1 -> TIME_WAIT,TIME_WAIT -> CLOSED,"
[ "$ladder" = "$expect" ] || [ "$ladder" = "$also" ] ||
    fail "client state ladder was '$ladder', expected '$expect'"
grep -q 'TIME_WAIT -> CLOSED (2MSL timer)' "$TAP_TMP/client.err" || fail "TIME_WAIT did not end by its 2MSL timer"
echo "PASS"
