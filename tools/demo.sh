#!/usr/bin/env bash
# tools/demo.sh — see tapir answer the Linux kernel, in a private namespace.
#
#   sudo tools/demo.sh
#
# Installs what is missing, builds, makes the namespace "tapir-demo" with
# tools/tapnet (bridge br0 = 10.0.0.1 and TAP tap0), starts ping_target on
# tap0 as 10.0.0.2, pings it from the kernel, shows the kernel's neighbour
# table and tapir's counters, and removes everything on exit.
# Nothing is configured in the host's own namespace.
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
    [ -n "$TMP" ] && [ -s "$TMP/target.err" ] && { say "tapir's counters"; cat "$TMP/target.err"; }
    "$ROOT/tools/tapnet" --ns "$NS" down 2>/dev/null || true
    [ -n "$TMP" ] && rm -rf "$TMP"
}

prepare() {
    if [ "$(id -u)" -ne 0 ]; then
        echo "demo.sh needs root to make a network namespace and a TAP device: sudo $0" >&2
        exit 1
    fi
    say "installing what is missing, building"
    # test.sh's installer, without running the tests.
    local need=()
    for pair in cmake:cmake make:make cc:gcc pkg-config:pkg-config ip:iproute2 ping:iputils-ping; do
        command -v "${pair%%:*}" >/dev/null 2>&1 || need+=("${pair##*:}")
    done
    pkg-config --exists check 2>/dev/null || need+=(check)
    if [ ${#need[@]} -gt 0 ]; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
    fi
    cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    cmake --build "$BUILD" -j2 --target ping_target >/dev/null
    TMP=$(mktemp -d /tmp/tapir-demo.XXXXXX)
    trap cleanup EXIT
    trap 'exit 130' INT TERM
    say "making the private namespace $NS (tools/tapnet)"
    "$ROOT/tools/tapnet" --ns "$NS" up
    "$ROOT/tools/tapnet" --ns "$NS" status || true
}

# start_target DEV IP/N: start ping_target in the namespace, wait for "ready".
start_target() {
    ip netns exec "$NS" "$BUILD/examples/ping_target" --dev "$1" --ip "$2" \
        --pcap "$TMP/demo.pcap" >"$TMP/target.out" 2>"$TMP/target.err" &
    PIDS="$PIDS $!"
    local i
    for ((i = 0; i < 50; i++)); do
        grep -q '^ready' "$TMP/target.out" && break
        sleep 0.1
    done
    cat "$TMP/target.out"
    grep -q '^ready' "$TMP/target.out" || { echo "ping_target did not start:"; cat "$TMP/target.err"; exit 1; }
}

demo_ping() {
    say "starting tapir (ping_target) on tap0 as 10.0.0.2"
    start_target tap0 10.0.0.2/24
    say "the kernel (10.0.0.1) pings tapir"
    ip netns exec "$NS" ping -n -c 3 -i 0.5 -W 2 10.0.0.2 || true
    say "the kernel's neighbour table: tapir's MAC, learned by ARP"
    ip netns exec "$NS" ip neigh show dev br0
    if command -v tcpdump >/dev/null; then
        say "what tapir saw and sent (its pcap)"
        tcpdump -n -r "$TMP/demo.pcap" 2>/dev/null | head -20
    fi
}

prepare
demo_ping
