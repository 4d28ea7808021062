#!/usr/bin/env bash
# TCP options against the Linux kernel over TAP: a kernel client (python3)
# connects to echo_server (tap0, 10.0.0.2) and echoes 8 MiB checked by
# sha256; the pcap that echo_server records shows that the kernel's SYN
# offers and tapir's SYN,ACK agrees to window scaling, timestamps (TSecr
# echoing the SYN's TSval) and SACK-permitted, and that the data segments
# then carry timestamps both ways. Then the kernel with timestamps, SACK and
# window scaling switched off (sysctls of the test's own namespace): tapir's
# SYN,ACK offers none of them, no segment carries them, the echo is exact.
# Usage: test_tcp_options.sh BUILD_DIR SOURCE_DIR   (root; exit 77 otherwise)
set -euo pipefail
BUILD=$1
SRC=$2
. "$SRC/tests/tap/lib.sh"
tap_require_root_and_tools python3 tcpdump sysctl

SERVER="$BUILD/examples/echo_server"
PEER="$SRC/tests/tap/echo_peer.py"
[ -x "$SERVER" ] || fail "$SERVER is not built"

tap_setup opts "$SRC"

# run_case NAME TS SACK WS: kernel sysctls, one 8 MiB echo, pcap in $TAP_TMP/NAME.pcap
run_case() {
    local name=$1 ts=$2 sack=$3 ws=$4
    tap_ns sysctl -q -w net.ipv4.tcp_timestamps="$ts" net.ipv4.tcp_sack="$sack" \
        net.ipv4.tcp_window_scaling="$ws" >/dev/null ||
        fail "cannot set the namespace's TCP sysctls"
    # Both servers use the same MAC, and the kernel forgets the old
    # neighbour entry, so the second run does not wait for ARP to age.
    tap_ns ip neigh flush all >/dev/null 2>&1 || true
    tap_start_bg "$TAP_TMP/$name.out" "$TAP_TMP/$name.err" "$SERVER" --dev tap0 --ip 10.0.0.2/24 \
        --mac 02:00:00:00:07:02 --pcap "$TAP_TMP/$name.pcap"
    local srv=$TAP_LAST_PID
    tap_wait_for_line "$TAP_TMP/$name.out" '^listening on 10\.0\.0\.2:7$' 10 "$srv" ||
        { cat "$TAP_TMP/$name.err"; fail "$name: echo_server did not start"; }
    timeout 120 ip netns exec "$TAP_NS" python3 "$PEER" big 10.0.0.2 7 $((8 << 20)) >"$TAP_TMP/$name.big" ||
        { tcpdump -nn -r "$TAP_TMP/$name.pcap" 2>/dev/null | head -20; fail "$name: 8 MiB echo failed: $(cat "$TAP_TMP/$name.big")"; }
    local sent recv
    sent=$(awk '/^sent/ {print $4}' "$TAP_TMP/$name.big")
    recv=$(awk '/^recv/ {print $4}' "$TAP_TMP/$name.big")
    [ -n "$sent" ] && [ "$sent" = "$recv" ] || fail "$name: sha256 $sent sent, $recv received"
    local rc=0
    tap_stop "$srv" || rc=$?
    [ "$rc" -eq 0 ] || { cat "$TAP_TMP/$name.err"; fail "$name: echo_server exited with $rc"; }
    tcpdump -nn -v -r "$TAP_TMP/$name.pcap" 'tcp port 7' 2>/dev/null >"$TAP_TMP/$name.txt"
    echo "$name: 8 MiB echoed, sha256 $sent"
}

# The option list of the first segment with the given flags, sent by SRC.
opts_of() {
    local file=$1 src=$2 flags=$3
    grep -F "$src." "$file" | grep -F "Flags [$flags]" | grep -F " > " | head -1 |
        sed -n 's/.*options \[\([^]]*\)\].*/\1/p'
}
from() { grep -F " $1." "$2" | grep -F " > "; }

# 1. Everything on in the kernel (its defaults).
run_case all 1 1 1
syn=$(grep -E '10\.0\.0\.1\.[0-9]+ > 10\.0\.0\.2\.7: Flags \[S\],' "$TAP_TMP/all.txt" | head -1)
synack=$(grep -E '10\.0\.0\.2\.7 > 10\.0\.0\.1\.[0-9]+: Flags \[S\.\],' "$TAP_TMP/all.txt" | head -1)
echo "kernel SYN:    ${syn##*options }"
echo "tapir SYN,ACK: ${synack##*options }"
for o in sackOK 'TS val' wscale; do
    grep -qF "$o" <<<"$syn" || fail "the kernel's SYN lacks $o: $syn"
    grep -qF "$o" <<<"$synack" || fail "tapir's SYN,ACK lacks $o: $synack"
done
syn_val=$(sed -n 's/.*TS val \([0-9]*\) ecr.*/\1/p' <<<"$syn")
synack_ecr=$(sed -n 's/.*TS val [0-9]* ecr \([0-9]*\).*/\1/p' <<<"$synack")
[ -n "$syn_val" ] && [ "$syn_val" = "$synack_ecr" ] ||
    fail "tapir's SYN,ACK echoes TSecr $synack_ecr, the SYN's TSval was $syn_val"
# Data both ways carries timestamps; none of tapir's segments lacks them.
data_from_tapir=$(grep -E '10\.0\.0\.2\.7 > 10\.0\.0\.1\.[0-9]+: Flags \[[^S]*\]' "$TAP_TMP/all.txt" | grep -c 'length [1-9]' || true)
tapir_no_ts=$(grep -E '10\.0\.0\.2\.7 > 10\.0\.0\.1\.[0-9]+: Flags \[[^SR]*\]' "$TAP_TMP/all.txt" | grep -vc 'TS val' || true)
kernel_ts=$(grep -E '10\.0\.0\.1\.[0-9]+ > 10\.0\.0\.2\.7: Flags \[[^S]*\]' "$TAP_TMP/all.txt" | grep -c 'TS val' || true)
[ "$data_from_tapir" -gt 0 ] || fail "no data segments from tapir in the trace"
[ "$tapir_no_ts" -eq 0 ] || fail "$tapir_no_ts of tapir's segments lack the timestamps both sides agreed on"
[ "$kernel_ts" -gt 0 ] || fail "the kernel's segments carry no timestamps"
echo "timestamps on every tapir segment ($data_from_tapir with data), $kernel_ts kernel segments with TS"

# 2. The kernel offers nothing: tapir falls back.
run_case none 0 0 0
syn=$(grep -E '10\.0\.0\.1\.[0-9]+ > 10\.0\.0\.2\.7: Flags \[S\],' "$TAP_TMP/none.txt" | head -1)
synack=$(grep -E '10\.0\.0\.2\.7 > 10\.0\.0\.1\.[0-9]+: Flags \[S\.\],' "$TAP_TMP/none.txt" | head -1)
echo "kernel SYN:    ${syn##*options }"
echo "tapir SYN,ACK: ${synack##*options }"
for o in sackOK 'TS val' wscale; do
    grep -qF "$o" <<<"$syn" && fail "the kernel's SYN still has $o with the sysctl off: $syn"
    grep -qF "$o" <<<"$synack" && fail "tapir's SYN,ACK offers $o the kernel did not: $synack"
done
any=$(grep -E '10\.0\.0\.[12]\.[0-9]+ > ' "$TAP_TMP/none.txt" | grep -cE 'TS val|sack ' || true)
[ "$any" -eq 0 ] || fail "$any segments carry timestamps or SACK blocks after the fallback"
echo "PASS"
