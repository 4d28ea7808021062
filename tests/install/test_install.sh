#!/usr/bin/env bash
# Install check: `cmake --install` the build into a temporary prefix, then
# build and run a small program against it twice: once with pkg-config, once
# with CMake's find_package(tapir) and tapir::tapir.
# Usage: test_install.sh BUILD_DIR SOURCE_DIR C_COMPILER [EXTRA_CFLAGS]
set -euo pipefail
BUILD=$1
SRC=$2
CC=$3
EXTRA=${4:-}
TMP=$(mktemp -d /tmp/tapir-install.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
PREFIX="$TMP/prefix"

cmake --install "$BUILD" --prefix "$PREFIX" >"$TMP/install.log" || { cat "$TMP/install.log"; exit 1; }
[ -f "$PREFIX/include/tapir/tapir.h" ] || { echo "FAIL: tapir.h not installed"; exit 1; }
PC=$(find "$PREFIX" -name tapir.pc | head -1)
[ -n "$PC" ] || { echo "FAIL: tapir.pc not installed"; exit 1; }

echo "--- pkg-config"
# The .pc names the configured prefix; point it at the temporary one.
export PKG_CONFIG_PATH
PKG_CONFIG_PATH=$(dirname "$PC")
PC_ARGS=(--define-variable=prefix="$PREFIX")
cflags=$(pkg-config "${PC_ARGS[@]}" --cflags tapir)
libs=$(pkg-config "${PC_ARGS[@]}" --libs --static tapir)
echo "cflags: $cflags"
echo "libs:   $libs"
# shellcheck disable=SC2086
"$CC" -std=c11 -Wall -Wextra -Werror $EXTRA $cflags "$SRC/tests/install/consumer/main.c" \
    -o "$TMP/consumer_pc" $libs
LD_LIBRARY_PATH="$(dirname "$(dirname "$PC")")" "$TMP/consumer_pc"

echo "--- find_package(tapir)"
cmake -S "$SRC/tests/install/consumer" -B "$TMP/consumer-build" \
    -DCMAKE_PREFIX_PATH="$PREFIX" -DCMAKE_C_COMPILER="$CC" \
    -DCMAKE_C_FLAGS="$EXTRA" -DCMAKE_EXE_LINKER_FLAGS="$EXTRA" >"$TMP/cmake.log" ||
    { cat "$TMP/cmake.log"; exit 1; }
cmake --build "$TMP/consumer-build" >"$TMP/build.log" || { cat "$TMP/build.log"; exit 1; }
"$TMP/consumer-build/consumer"
echo "PASS"
