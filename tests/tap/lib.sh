# Shared by the TAP integration tests (sourced, not run: no test_ prefix).
#
# Every test makes its own namespace with tools/tapnet and removes it on exit,
# also on failure. Nothing touches the host's namespace; only 10.0.0.0/24
# addresses are used, inside the namespace.

# tap_require_root_and_tools TOOL... : exit 77 (skipped) with a reason when
# the test cannot run here.
tap_require_root_and_tools() {
    if [ "$(id -u)" -ne 0 ]; then
        echo "SKIP: needs root (CAP_NET_ADMIN) to create a network namespace and TAP devices"
        exit 77
    fi
    if [ ! -c /dev/net/tun ]; then
        echo "SKIP: /dev/net/tun is missing (modprobe tun, or pass the device into the container)"
        exit 77
    fi
    for tool in ip "$@"; do
        if ! command -v "$tool" >/dev/null 2>&1; then
            echo "SKIP: '$tool' is not installed (sudo tools/test.sh installs it)"
            exit 77
        fi
    done
    if ! ip netns add "tapir-t-probe-$$" 2>/dev/null; then
        echo "SKIP: cannot create a network namespace here (no CAP_SYS_ADMIN?)"
        exit 77
    fi
    ip netns del "tapir-t-probe-$$"
}

# Declared by the test before calling tap_setup.
TAP_NS=""
TAP_TMP=""
TAP_PIDS=""

tap_cleanup() {
    local pid
    for pid in $TAP_PIDS; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in $TAP_PIDS; do
        wait "$pid" 2>/dev/null || true
    done
    if [ -n "$TAP_NS" ]; then
        "$TAPNET" --ns "$TAP_NS" down || true
    fi
    if [ -n "$TAP_TMP" ]; then
        rm -rf "$TAP_TMP"
    fi
}

# tap_setup NAME SRCDIR: namespace tapir-t-NAME-PID, temp dir, trap.
tap_setup() {
    TAPNET="$2/tools/tapnet"
    TAP_NS="tapir-t-$1-$$"
    TAP_TMP=$(mktemp -d "/tmp/tapir-t-$1.XXXXXX")
    trap tap_cleanup EXIT
    trap 'exit 1' INT TERM
    "$TAPNET" --ns "$TAP_NS" up
}

tap_ns() { ip netns exec "$TAP_NS" "$@"; }

fail() {
    echo "FAIL: $*"
    exit 1
}

# tap_start_bg OUT ERR CMD... : start CMD in the namespace in the background,
# remember its pid (ip netns exec replaces itself with CMD, so $! is CMD).
tap_start_bg() {
    local out=$1 err=$2
    shift 2
    ip netns exec "$TAP_NS" "$@" >"$out" 2>"$err" &
    TAP_LAST_PID=$!
    TAP_PIDS="$TAP_PIDS $TAP_LAST_PID"
}

# tap_wait_for_line FILE REGEX SECONDS PID: wait until FILE has a line
# matching REGEX; fail if PID dies first or the time runs out.
tap_wait_for_line() {
    local file=$1 re=$2 secs=$3 pid=$4 i
    for ((i = 0; i < secs * 10; i++)); do
        grep -Eq -- "$re" "$file" 2>/dev/null && return 0
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

# tap_stop PID: SIGINT, wait at most 5 s, return the exit status.
tap_stop() {
    local pid=$1 i
    kill -INT "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        return 124
    fi
    local rc=0
    wait "$pid" || rc=$?
    TAP_PIDS=$(echo "$TAP_PIDS" | tr ' ' '\n' | grep -vx "$pid" | tr '\n' ' ')
    return $rc
}
