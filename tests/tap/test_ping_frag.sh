#!/usr/bin/env bash
# Large pings on a real TAP: `ping -s 4000` is fragmented by the kernel (MTU
# 1500), reassembled by tapir (RFC 791), and the reply - itself larger than
# the MTU - is fragmented by tapir and reassembled by the kernel.
# Usage: test_ping_frag.sh BUILD_DIR SOURCE_DIR   (root; exit 77 otherwise)
set -euo pipefail
BUILD=$1
SRC=$2
. "$SRC/tests/tap/lib.sh"
tap_require_root_and_tools ping tcpdump

PROG="$BUILD/examples/ping_target"
[ -x "$PROG" ] || fail "$PROG is not built"

tap_setup pingfrag "$SRC"
PCAP="$TAP_TMP/frag.pcap"
tap_start_bg "$TAP_TMP/out" "$TAP_TMP/err" "$PROG" --dev tap0 --ip 10.0.0.2/24 --pcap "$PCAP"
PID=$TAP_LAST_PID
tap_wait_for_line "$TAP_TMP/out" '^ready on tap0 ' 10 "$PID" ||
    { cat "$TAP_TMP/out" "$TAP_TMP/err"; fail "ping_target did not print its ready line"; }

tap_ns ping -n -c 2 -i 0.2 -W 2 -s 4000 10.0.0.2 | tee "$TAP_TMP/ping"
grep -q '2 packets transmitted, 2 received' "$TAP_TMP/ping" || fail "4000-byte pings were not answered"
grep -q '4008 bytes from 10.0.0.2' "$TAP_TMP/ping" || fail "the reply to a 4000-byte ping is not 4008 bytes"

rc=0
tap_stop "$PID" || rc=$?
cat "$TAP_TMP/err"
[ "$rc" -eq 0 ] || fail "ping_target exited with $rc on SIGINT"
grep -Eq 'ip_reassembled +2' "$TAP_TMP/err" || fail "tapir did not count 2 reassembled datagrams"

tcpdump -n -r "$PCAP" 2>/dev/null | tee "$TAP_TMP/dump"
# Each 4028-byte datagram travels as 3 fragments each way.
[ "$(grep -c '10.0.0.1 > 10.0.0.2: \(ip-proto-1\|ICMP echo request\)' "$TAP_TMP/dump")" -ge 6 ] ||
    fail "pcap: the request fragments are missing"
[ "$(grep -c '10.0.0.2 > 10.0.0.1: \(ip-proto-1\|ICMP echo reply\)' "$TAP_TMP/dump")" -ge 6 ] ||
    fail "pcap: tapir did not send its reply as fragments"
echo "PASS"
