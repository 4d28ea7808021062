#!/usr/bin/env bash
# tools/demo.sh — see tapir answer the Linux kernel, in a private namespace.
#
#   sudo tools/demo.sh
#
# Installs what is missing, builds, makes the namespace "tapir-demo" with
# tools/tapnet (bridge br0 = 10.0.0.1 with TAPs tap0 and tap1), then:
#   1. starts echo_server on tap0 as 10.0.0.2 (socket, bind, listen, accept);
#   2. runs echo_client on tap1 as 10.0.0.3 (socket, connect) with a line of
#      text: both ends are tapir, so both print every state change of the
#      connection: the three-way handshake, the four-way close, and the
#      client's TIME_WAIT ending after 2*MSL (MSL is 2 s here);
#   3. the Linux kernel's own nc (10.0.0.1) against the same server: now the
#      kernel does the active close and sits in TIME-WAIT (ss shows it);
#   4. the packets of that last connection, from the server's pcap.
# Everything is removed on exit. Nothing is configured in the host's own
# namespace.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
NS=${TAPIR_DEMO_NS:-tapir-demo}
BUILD="$ROOT/build"
TMP=""
PIDS=""

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

cleanup() {
    local pid
    for pid in $PIDS; do
        kill -INT "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    [ -n "$TMP" ] && [ -s "$TMP/server.err" ] && grep -q '^counters' "$TMP/server.err" &&
        { say "the server's counters"; sed -n '/^counters/,$p' "$TMP/server.err"; }
    "$ROOT/tools/tapnet" --ns "$NS" down 2>/dev/null || true
    [ -n "$TMP" ] && rm -rf "$TMP"
}

prepare() {
    if [ "$(id -u)" -ne 0 ]; then
        echo "demo.sh needs root to make a network namespace and a TAP device: sudo $0" >&2
        exit 1
    fi
    say "installing what is missing, building"
    # The same requirements and installer as test.sh (tools/deps.sh).
    . "$ROOT/tools/deps.sh"
    local need
    mapfile -t need < <(deps_missing)
    deps_install "${need[@]}"
    cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    cmake --build "$BUILD" -j2 --target echo_server echo_client >/dev/null
    TMP=$(mktemp -d /tmp/tapir-demo.XXXXXX)
    trap cleanup EXIT
    trap 'exit 130' INT TERM
    say "making the private namespace $NS (tools/tapnet)"
    "$ROOT/tools/tapnet" --ns "$NS" up
    "$ROOT/tools/tapnet" --ns "$NS" status || true
}

MSL=2
C_BOLD=$'\033[1m'; C_DIM=$'\033[2m'; C_OFF=$'\033[0m'
note() { printf '%s   %s%s\n' "$C_DIM" "$*" "$C_OFF"; }

# Print the server's state changes for connections from peer $1 (an address).
server_ladder() {
    grep -F -- "<-> $1:" "$TMP/server.err" | sed 's/^/   /' || true
}

start_server() {
    say "1. tapir's echo_server on tap0 as 10.0.0.2, port 7"
    note "socket() -> bind(0.0.0.0:7) -> listen() -> accept() ... in examples/echo_server.c"
    ip netns exec "$NS" "$BUILD/examples/echo_server" --dev tap0 --ip 10.0.0.2/24 --msl "$MSL" -v \
        --pcap "$TMP/server.pcap" >"$TMP/server.out" 2>"$TMP/server.err" &
    SERVER_PID=$!
    PIDS="$PIDS $SERVER_PID"
    local i
    for ((i = 0; i < 50; i++)); do
        grep -q '^listening' "$TMP/server.out" && break
        sleep 0.1
    done
    grep -q '^listening' "$TMP/server.out" || { echo "echo_server did not start:"; cat "$TMP/server.err"; exit 1; }
    printf '   echo_server says: %s\n' "$(cat "$TMP/server.out")"
    server_ladder 0.0.0.0
}

tapir_to_tapir() {
    say "2. echo_client on tap1 as 10.0.0.3 sends a line to 10.0.0.2:7"
    note "socket() -> connect() sends SYN; at the end of its input it calls shutdown(SHUT_WR),"
    note "so the client sends the first FIN (the active close) and ends in TIME_WAIT for 2*MSL = $((2 * MSL)) s;"
    note "--linger keeps its stack alive meanwhile, so a retransmitted FIN would still be ACKed."
    echo
    local line="Hello, tapir! Three-way handshake, four-way close."
    local reply
    reply=$(echo "$line" | ip netns exec "$NS" "$BUILD/examples/echo_client" --dev tap1 --ip 10.0.0.3/24 \
        --msl "$MSL" --linger $((2 * MSL + 1)) -v 10.0.0.2 2> >(grep -v '^ \|^counters\|^drops' >&2))
    printf '\n   sent:        %s\n   came back:   %s%s%s\n' "$line" "$C_BOLD" "$reply" "$C_OFF"
    echo
    note "meanwhile the server's side of the same connection (the passive close):"
    server_ladder 10.0.0.3
    echo
    note "the handshake:  client SYN_SENT -> ESTABLISHED,  server LISTEN -> SYN_RECEIVED -> ESTABLISHED"
    note "the close:      client FIN_WAIT_1 -> FIN_WAIT_2 -> TIME_WAIT -> CLOSED (after 2*MSL)"
    note "                server ESTABLISHED -> CLOSE_WAIT -> LAST_ACK -> CLOSED"
}

kernel_to_tapir() {
    say "3. the Linux kernel's nc (10.0.0.1) against the same server"
    local line="Hello from the Linux kernel"
    local reply
    reply=$(echo "$line" | ip netns exec "$NS" timeout 10 nc -N 10.0.0.2 7) || true
    printf '   sent:        %s\n   came back:   %s%s%s\n' "$line" "$C_BOLD" "$reply" "$C_OFF"
    sleep 0.3
    echo
    note "the server's side (tapir):"
    server_ladder 10.0.0.1
    echo
    note "the kernel closed first, so it is the kernel that now waits in TIME-WAIT (ss -tan):"
    ip netns exec "$NS" ss -tan state time-wait | sed 's/^/   /'
}

show_packets() {
    command -v tcpdump >/dev/null || return 0
    say "4. the packets of the kernel's connection, as tapir saw and sent them (pcap)"
    tcpdump -n -r "$TMP/server.pcap" 'tcp and host 10.0.0.1' 2>/dev/null | sed 's/^/   /' | head -20
    note "[S] SYN, [S.] SYN+ACK, [.] ACK, [P.] data, [F.] FIN: 3 segments to open; the close is FIN, ACK, FIN, ACK (RFC 9293 3.6), an ACK riding on data or on a FIN when one is going out anyway"
}

stop_server() {
    kill -INT "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    PIDS=""
}

prepare
start_server
tapir_to_tapir
kernel_to_tapir
show_packets
stop_server
