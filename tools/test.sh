#!/usr/bin/env bash
# tools/test.sh — install what is missing, build, and run every test twice:
# a normal build (build/) and a sanitizer build with ASan+UBSan (build-asan/).
#
#   sudo tools/test.sh     everything, including the TAP tests (private netns)
#   tools/test.sh          without root: no installs; TAP tests skip themselves
#
# Exits non-zero if any build or test fails. Options:
#   --no-install   do not try to install packages
#   --no-asan      skip the sanitizer build
set -uo pipefail
cd "$(dirname "$0")/.."

do_install=1
do_asan=1
for arg in "$@"; do
    case "$arg" in
        --no-install) do_install=0 ;;
        --no-asan) do_asan=0 ;;
        -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "test.sh: unknown option $arg" >&2; exit 2 ;;
    esac
done

JOBS=$(nproc 2>/dev/null || echo 2)
[ "$JOBS" -gt 2 ] && JOBS=2     # the project's machines are small and shared
is_root=0
[ "$(id -u)" -eq 0 ] && is_root=1
notes=()

# ---- what the build and the tests need (tools/deps.sh) ----------------------
. tools/deps.sh
mapfile -t missing < <(deps_missing)

if [ ${#missing[@]} -gt 0 ]; then
    if [ $do_install -eq 1 ] && [ $is_root -eq 1 ] && command -v apt-get >/dev/null; then
        deps_install "${missing[@]}" || notes+=("could not install some of: ${missing[*]}")
    else
        why="not root"
        [ $do_install -eq 0 ] && why="--no-install"
        command -v apt-get >/dev/null || why="no apt-get"
        notes+=("missing (not installed: $why): ${missing[*]}")
    fi
fi
[ $is_root -eq 1 ] || notes+=("not root: the TAP tests (label tap) skip themselves")

# ---- build and test -----------------------------------------------------------
results=()
failed=0

run_suite() {   # NAME BUILD_DIR CMAKE_ARGS...
    local name=$1 dir=$2
    shift 2
    echo
    echo "== $name: configure and build in $dir"
    if ! cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Debug "$@" >"$dir/configure.log" 2>&1; then
        cat "$dir/configure.log"
        results+=("$name: configure FAILED")
        failed=1
        return
    fi
    if ! cmake --build "$dir" -j"$JOBS"; then
        results+=("$name: build FAILED")
        failed=1
        return
    fi
    echo "== $name: ctest"
    local log="$dir/ctest.log"
    (cd "$dir" && ctest --output-on-failure --timeout 300) 2>&1 | tee "$log"
    local rc=${PIPESTATUS[0]}
    local summary
    summary=$(grep -E 'tests passed|tests failed' "$log" | tail -1)
    local skipped
    skipped=$(grep -c '\*\*\*Skipped' "$log")
    local total nfail
    total=$(sed -n 's/.*tests failed out of \([0-9]*\).*/\1/p' "$log" | tail -1)
    nfail=$(sed -n 's/.*, \([0-9]*\) tests failed out of.*/\1/p' "$log" | tail -1)
    total=${total:-0}; nfail=${nfail:-0}
    all_total=$((all_total + total)); all_failed=$((all_failed + nfail)); all_skipped=$((all_skipped + skipped))
    if [ "$rc" -ne 0 ]; then
        failed=1
        results+=("$name: FAILED - ${summary:-no summary} ($skipped skipped)")
    else
        results+=("$name: ok - ${summary:-no summary} ($skipped skipped)")
    fi
}

all_total=0; all_failed=0; all_skipped=0
mkdir -p build
run_suite "normal build" build
if [ $do_asan -eq 1 ]; then
    mkdir -p build-asan
    run_suite "sanitizer build (ASan+UBSan)" build-asan -DTAPIR_SANITIZE=ON
else
    notes+=("sanitizer build skipped (--no-asan)")
fi

echo
echo "==================== summary ===================="
for r in "${results[@]}"; do echo "  $r"; done
for n in "${notes[@]}"; do echo "  note: $n"; done
if [ $failed -ne 0 ]; then
    echo "  RESULT: FAILED"
fi
# The plain closing line CI reads: both builds' ctest runs added up.
echo "total: $((all_total - all_failed - all_skipped)) passed, $all_failed failed, $all_skipped skipped"
[ $failed -eq 0 ]
