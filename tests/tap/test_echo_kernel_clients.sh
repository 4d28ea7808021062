#!/usr/bin/env bash
# The Linux kernel as client: 100 concurrent kernel clients each echo 64 KiB
# through echo_server (tap0, 10.0.0.2) byte for byte, then one client echoes
# 20 MiB checked by sha256. Clients run in the namespace from 10.0.0.1 (br0).
# The server runs with the default writer thread (AUTO): the 20 MiB echo is
# bulk sending, so frames must have gone through the writer. A second server
# with TAPIR_TX_THREAD=on (every frame through the writer) echoes 20 MiB too.
# Usage: test_echo_kernel_clients.sh BUILD_DIR SOURCE_DIR   (root; exit 77 otherwise)
set -euo pipefail
BUILD=$1
SRC=$2
. "$SRC/tests/tap/lib.sh"
tap_require_root_and_tools python3

SERVER="$BUILD/examples/echo_server"
PEER="$SRC/tests/tap/echo_peer.py"
[ -x "$SERVER" ] || fail "$SERVER is not built"

tap_setup kclients "$SRC"
tap_start_bg "$TAP_TMP/srv.out" "$TAP_TMP/srv.err" "$SERVER" --dev tap0 --ip 10.0.0.2/24 -v
SRV=$TAP_LAST_PID
tap_wait_for_line "$TAP_TMP/srv.out" '^listening on 10\.0\.0\.2:7$' 10 "$SRV" ||
    { cat "$TAP_TMP/srv.out" "$TAP_TMP/srv.err"; fail "echo_server did not print 'listening on 10.0.0.2:7'"; }
[ "$(wc -l <"$TAP_TMP/srv.out")" -eq 1 ] || fail "echo_server printed more than one line to stdout"

timeout 90 ip netns exec "$TAP_NS" python3 "$PEER" clients 10.0.0.2 7 100 65536 | tee "$TAP_TMP/clients" ||
    fail "100 concurrent clients: $(cat "$TAP_TMP/clients")"
grep -q '^ok 100 clients' "$TAP_TMP/clients" || fail "not every client was echoed"

# echo_big TAG: 20 MiB through the server, checked by sha256.
echo_big() {
    timeout 90 ip netns exec "$TAP_NS" python3 "$PEER" big 10.0.0.2 7 $((20 << 20)) | tee "$TAP_TMP/big.$1" ||
        fail "$1: 20 MiB echo: sha256 differs or short"
    local sent recv
    sent=$(awk '/^sent/ {print $4}' "$TAP_TMP/big.$1")
    recv=$(awk '/^recv/ {print $4}' "$TAP_TMP/big.$1")
    [ -n "$sent" ] && [ "$sent" = "$recv" ] || fail "$1: 20 MiB: sha256 $sent sent, $recv received"
}
# stop_server PID ERRFILE TAG: SIGINT, exit 0; prints the writer's line.
stop_server() {
    local rc=0
    tap_stop "$1" || rc=$?
    [ "$rc" -eq 0 ] || { cat "$2"; fail "$3: echo_server exited with $rc on SIGINT"; }
    grep '^writer thread:' "$2" || fail "$3: echo_server -v printed no writer line"
}
# writer_count ERRFILE FIELD(inline|queued|write errors)
writer_count() {
    sed -n "s/^writer thread: \([0-9]*\) frames inline, \([0-9]*\) queued, \([0-9]*\) write errors$/\1 \2 \3/p" "$1" |
        awk -v f="$2" '{ print f == "inline" ? $1 : f == "queued" ? $2 : $3 }'
}

echo_big auto
stop_server "$SRV" "$TAP_TMP/srv.err" auto
q=$(writer_count "$TAP_TMP/srv.err" queued)
[ "${q:-0}" -gt 1000 ] || fail "auto: the 20 MiB echo queued only ${q:-0} frames to the writer thread"
[ "$(writer_count "$TAP_TMP/srv.err" "write errors")" = 0 ] || fail "auto: the writer thread had write errors"

tap_ns ip neigh flush all >/dev/null 2>&1 || true
TAPIR_TX_THREAD=on tap_start_bg "$TAP_TMP/on.out" "$TAP_TMP/on.err" "$SERVER" --dev tap0 --ip 10.0.0.2/24 -v
SRV=$TAP_LAST_PID
tap_wait_for_line "$TAP_TMP/on.out" '^listening on 10\.0\.0\.2:7$' 10 "$SRV" ||
    { cat "$TAP_TMP/on.err"; fail "on: echo_server did not start"; }
echo_big on
stop_server "$SRV" "$TAP_TMP/on.err" on
[ "$(writer_count "$TAP_TMP/on.err" inline)" = 0 ] || fail "on: frames were written inline"
[ "$(writer_count "$TAP_TMP/on.err" queued)" -gt 1000 ] || fail "on: too few frames through the writer"
echo "PASS"
