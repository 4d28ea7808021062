#!/usr/bin/env bash
# Offloads over TAP (virtio-net header, GSO in, TSO and partial checksums
# out): echo_server --offload on tap0 (10.0.0.2); a kernel client from br0
# (10.0.0.1) echoes 20 MiB checked by sha256; the server's counters show
# large frames went both ways (tcp_gso_rx: 64 KiB GSO segments from the
# kernel; tcp_tso_tx: TSO frames to it) and no TCP checksum drops. Then the
# same echo with offloads off still works and moves no large frames.
# Usage: test_vnet_offload.sh BUILD_DIR SOURCE_DIR   (root; exit 77 otherwise)
set -euo pipefail
BUILD=$1
SRC=$2
. "$SRC/tests/tap/lib.sh"
tap_require_root_and_tools python3

SERVER="$BUILD/examples/echo_server"
PEER="$SRC/tests/tap/echo_peer.py"
[ -x "$SERVER" ] || fail "$SERVER is not built"

tap_setup vnet "$SRC"

# counter FILE NAME: the value echo_server -v printed at exit (0 if absent).
counter() {
    awk -v n="$2" '$1 == n {v = $2} END {print v + 0}' "$1"
}

# run_echo TAG [--offload]: 20 MiB through echo_server, then its counters.
run_echo() {
    local tag=$1
    shift
    # One MAC for both runs and no stale neighbour entry between them.
    tap_ns ip neigh flush all >/dev/null 2>&1 || true
    tap_start_bg "$TAP_TMP/$tag.out" "$TAP_TMP/$tag.err" "$SERVER" --dev tap0 --ip 10.0.0.2/24 \
        --mac 02:00:00:00:05:02 -v "$@"
    local srv=$TAP_LAST_PID
    tap_wait_for_line "$TAP_TMP/$tag.out" '^listening on 10\.0\.0\.2:7$' 10 "$srv" ||
        { cat "$TAP_TMP/$tag.out" "$TAP_TMP/$tag.err"; fail "$tag: echo_server did not start"; }
    timeout 90 ip netns exec "$TAP_NS" python3 "$PEER" big 10.0.0.2 7 $((20 << 20)) | tee "$TAP_TMP/$tag.big" ||
        fail "$tag: 20 MiB echo: sha256 differs or short"
    local sent recv
    sent=$(awk '/^sent/ {print $4}' "$TAP_TMP/$tag.big")
    recv=$(awk '/^recv/ {print $4}' "$TAP_TMP/$tag.big")
    [ -n "$sent" ] && [ "$sent" = "$recv" ] || fail "$tag: 20 MiB: sha256 $sent sent, $recv received"
    local rc=0
    tap_stop "$srv" || rc=$?
    [ "$rc" -eq 0 ] || { cat "$TAP_TMP/$tag.err"; fail "$tag: echo_server exited with $rc"; }
}

run_echo on --offload
gso=$(counter "$TAP_TMP/on.err" tcp_gso_rx)
tso=$(counter "$TAP_TMP/on.err" tcp_tso_tx)
bad=$(counter "$TAP_TMP/on.err" TCP_BAD_CHECKSUM)
echo "offload on: tcp_gso_rx=$gso tcp_tso_tx=$tso TCP_BAD_CHECKSUM=$bad"
[ "$gso" -gt 0 ] || { cat "$TAP_TMP/on.err"; fail "offload on: no GSO segment came from the kernel"; }
[ "$tso" -gt 0 ] || { cat "$TAP_TMP/on.err"; fail "offload on: no TSO frame was sent"; }
[ "$bad" -eq 0 ] || fail "offload on: $bad TCP segments dropped for their checksum"

run_echo off
gso=$(counter "$TAP_TMP/off.err" tcp_gso_rx)
tso=$(counter "$TAP_TMP/off.err" tcp_tso_tx)
echo "offload off: tcp_gso_rx=$gso tcp_tso_tx=$tso"
[ "$gso" -eq 0 ] && [ "$tso" -eq 0 ] || fail "offload off: large frames moved ($gso in, $tso out)"
echo "PASS"
