#!/usr/bin/env bash
# The Linux kernel as client: 100 concurrent kernel clients each echo 64 KiB
# through echo_server (tap0, 10.0.0.2) byte for byte, then one client echoes
# 20 MiB checked by sha256. Clients run in the namespace from 10.0.0.1 (br0).
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
tap_start_bg "$TAP_TMP/srv.out" "$TAP_TMP/srv.err" "$SERVER" --dev tap0 --ip 10.0.0.2/24
SRV=$TAP_LAST_PID
tap_wait_for_line "$TAP_TMP/srv.out" '^listening on 10\.0\.0\.2:7$' 10 "$SRV" ||
    { cat "$TAP_TMP/srv.out" "$TAP_TMP/srv.err"; fail "echo_server did not print 'listening on 10.0.0.2:7'"; }
[ "$(wc -l <"$TAP_TMP/srv.out")" -eq 1 ] || fail "echo_server printed more than one line to stdout"

timeout 90 ip netns exec "$TAP_NS" python3 "$PEER" clients 10.0.0.2 7 100 65536 | tee "$TAP_TMP/clients" ||
    fail "100 concurrent clients: $(cat "$TAP_TMP/clients")"
grep -q '^ok 100 clients' "$TAP_TMP/clients" || fail "not every client was echoed"

timeout 90 ip netns exec "$TAP_NS" python3 "$PEER" big 10.0.0.2 7 $((20 << 20)) | tee "$TAP_TMP/big" ||
    fail "20 MiB echo: sha256 differs or short"
sent=$(awk '/^sent/ {print $4}' "$TAP_TMP/big")
recv=$(awk '/^recv/ {print $4}' "$TAP_TMP/big")
[ -n "$sent" ] && [ "$sent" = "$recv" ] || fail "20 MiB: sha256 $sent sent, $recv received"

rc=0
tap_stop "$SRV" || rc=$?
[ "$rc" -eq 0 ] || { cat "$TAP_TMP/srv.err"; fail "echo_server exited with $rc on SIGINT"; }
echo "PASS"
