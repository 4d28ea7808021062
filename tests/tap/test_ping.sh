#!/usr/bin/env bash
# ping_target on a real TAP in a private namespace: the Linux kernel resolves
# it with ARP and pings it, its MAC lands in the kernel's neighbour table, and
# the pcap it wrote shows the exchange. (Fragmented pings: test_ping_frag.sh.)
# Usage: test_ping.sh BUILD_DIR SOURCE_DIR   (root; exit 77 otherwise)
set -euo pipefail
BUILD=$1
SRC=$2
. "$SRC/tests/tap/lib.sh"
tap_require_root_and_tools ping tcpdump

PROG="$BUILD/examples/ping_target"
[ -x "$PROG" ] || fail "$PROG is not built"

tap_setup ping "$SRC"
PCAP="$TAP_TMP/ping.pcap"
tap_start_bg "$TAP_TMP/out" "$TAP_TMP/err" "$PROG" --dev tap0 --ip 10.0.0.2/24 --pcap "$PCAP"
PID=$TAP_LAST_PID
tap_wait_for_line "$TAP_TMP/out" '^ready on tap0 10\.0\.0\.2/24 mac ' 10 "$PID" ||
    { cat "$TAP_TMP/out" "$TAP_TMP/err"; fail "ping_target did not print its ready line"; }
MAC=$(sed -n 's/^ready on tap0 .* mac \([0-9a-f:]\{17\}\)$/\1/p' "$TAP_TMP/out")
[ -n "$MAC" ] || fail "no MAC in the ready line: $(cat "$TAP_TMP/out")"
echo "ping_target is up with MAC $MAC"

echo "--- 5 pings"
tap_ns ping -n -c 5 -i 0.2 -W 2 10.0.0.2 | tee "$TAP_TMP/ping1"
grep -q '5 packets transmitted, 5 received' "$TAP_TMP/ping1" || fail "5 pings did not get 5 replies"

echo "--- the kernel's neighbour table"
tap_ns ip neigh show 10.0.0.2 | tee "$TAP_TMP/neigh"
grep -qi "lladdr $MAC" "$TAP_TMP/neigh" || fail "ip neigh does not show $MAC for 10.0.0.2"

rc=0
tap_stop "$PID" || rc=$?
cat "$TAP_TMP/err"
[ "$rc" -eq 0 ] || fail "ping_target exited with $rc on SIGINT"
grep -q 'icmp_echo_replies' "$TAP_TMP/err" || fail "no counters printed on exit"

echo "--- the pcap"
tcpdump -n -r "$PCAP" 2>/dev/null | tee "$TAP_TMP/dump"
grep -q 'ARP, Request who-has 10.0.0.2 tell 10.0.0.1' "$TAP_TMP/dump" || fail "pcap: no ARP request for 10.0.0.2"
grep -q "ARP, Reply 10.0.0.2 is-at $MAC" "$TAP_TMP/dump" || fail "pcap: no ARP reply with $MAC"
[ "$(grep -c '10.0.0.1 > 10.0.0.2: ICMP echo request' "$TAP_TMP/dump")" -ge 5 ] || fail "pcap: fewer than 5 echo requests"
[ "$(grep -c '10.0.0.2 > 10.0.0.1: ICMP echo reply' "$TAP_TMP/dump")" -ge 5 ] || fail "pcap: fewer than 5 echo replies"
echo "PASS"
