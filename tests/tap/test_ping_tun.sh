#!/usr/bin/env bash
# ping_target on a TUN device (an IP link: no Ethernet, no ARP) in a private
# namespace. The kernel's end of the TUN is 10.0.0.100, the stack 10.0.0.101
# (a /32 peer route, more specific than br0's /24). The pcap is LINKTYPE_RAW.
# Usage: test_ping_tun.sh BUILD_DIR SOURCE_DIR   (root; exit 77 otherwise)
set -euo pipefail
BUILD=$1
SRC=$2
. "$SRC/tests/tap/lib.sh"
tap_require_root_and_tools ping tcpdump

PROG="$BUILD/examples/ping_target"
[ -x "$PROG" ] || fail "$PROG is not built"

tap_setup pingtun "$SRC"
tap_ns ip tuntap add dev tun0 mode tun
tap_ns ip addr add 10.0.0.100/32 peer 10.0.0.101/32 dev tun0
tap_ns sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.tun0.rp_filter=0
tap_ns ip link set tun0 up

PCAP="$TAP_TMP/tun.pcap"
tap_start_bg "$TAP_TMP/out" "$TAP_TMP/err" "$PROG" --tun --dev tun0 --ip 10.0.0.101/24 --pcap "$PCAP"
PID=$TAP_LAST_PID
tap_wait_for_line "$TAP_TMP/out" '^ready on tun0 10\.0\.0\.101/24' 10 "$PID" ||
    { cat "$TAP_TMP/out" "$TAP_TMP/err"; fail "ping_target did not print its ready line"; }

tap_ns ping -n -c 3 -i 0.2 -W 2 10.0.0.101 | tee "$TAP_TMP/ping"
grep -q '3 packets transmitted, 3 received' "$TAP_TMP/ping" || fail "3 pings over TUN did not get 3 replies"

rc=0
tap_stop "$PID" || rc=$?
cat "$TAP_TMP/err"
[ "$rc" -eq 0 ] || fail "ping_target exited with $rc on SIGINT"

tcpdump -n -r "$PCAP" 2>"$TAP_TMP/dump.err" | tee "$TAP_TMP/dump"
grep -qi 'raw IP' "$TAP_TMP/dump.err" || fail "pcap link type is not raw IP: $(cat "$TAP_TMP/dump.err")"
grep -q '10.0.0.101 > 10.0.0.100: ICMP echo reply' "$TAP_TMP/dump" || fail "pcap: no echo reply"
echo "PASS"
