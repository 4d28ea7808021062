# tools/deps.sh — sourced by test.sh and demo.sh: what the build, the tests
# and the demo need, and how to install what is missing on Debian.
#
#   deps_missing          prints the Debian packages whose command (or .pc) is absent
#   deps_install PKG...   apt-get installs them (root only); returns non-zero on failure

# command-or-file.pc:debian-package
TAPIR_REQUIREMENTS=(
    cmake:cmake
    make:make
    cc:gcc
    pkg-config:pkg-config
    check.pc:check
    ip:iproute2
    ss:iproute2
    tcpdump:tcpdump
    ping:iputils-ping
    socat:socat
    nc:netcat-openbsd
    python3:python3
    sysctl:procps
)

deps_have() {
    case "$1" in
        *.pc) pkg-config --exists "${1%.pc}" 2>/dev/null ;;
        *) command -v "$1" >/dev/null 2>&1 ;;
    esac
}

deps_missing() {
    local req seen=" "
    for req in "${TAPIR_REQUIREMENTS[@]}"; do
        local pkg=${req##*:}
        if ! deps_have "${req%%:*}" && [[ "$seen" != *" $pkg "* ]]; then
            seen+="$pkg "
            echo "$pkg"
        fi
    done
}

deps_install() {
    [ $# -gt 0 ] || return 0
    echo "== installing: $*"
    apt-get update -qq || echo "apt-get update failed; trying the install anyway"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}
