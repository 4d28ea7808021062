#!/usr/bin/env bash
# tools/bench does not rot: a tiny run (--smoke: one run of each workload,
# fractions of a second, 200 idle connections, a 4 MiB core transfer) with
# the programs of this build produces every figure, for tapir and, where
# there is one, for the kernel reference. No timing is asserted.
# Usage: test_bench_smoke.sh BUILD_DIR SOURCE_DIR   (root; exit 77 otherwise)
set -euo pipefail
BUILD=$1
SRC=$2
. "$SRC/tests/tap/lib.sh"
tap_require_root_and_tools timeout

for p in bench_sink bench_source bench_rr bench_connrate bench_idle bench_core bench_tapnull; do
    [ -x "$BUILD/bench/$p" ] || fail "$BUILD/bench/$p is not built"
done

# In a sanitizer build, LeakSanitizer's exit-time check (it stops every
# thread through a tracer) was seen to spin for minutes in a bench program
# pinned to one CPU, until the program's watchdog. Leaks are checked by the
# unit, sim and socket suites; here only whether tools/bench works.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"

TMP=$(mktemp -d /tmp/tapir-t-bench.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
rc=0
# Idle polling (cpuidle-haltpoll's guest_halt_poll_ns): the run sets
# Linux's default for its duration and restores what it found. Here on a
# file of the test's own, as booted with polling off (0).
echo 0 >"$TMP/haltpoll"
export BENCH_HALTPOLL_FILE=$TMP/haltpoll
# In the background to learn its PID: its namespaces are tapir-bench-PID[-a|-b].
"$SRC/tools/bench" --smoke --no-build --build-dir "$BUILD" --json "$TMP/out.json" \
    >"$TMP/table" 2>"$TMP/err" &
bench_pid=$!
wait "$bench_pid" || rc=$?
cat "$TMP/table"
sed 's/^/stderr: /' "$TMP/err"
[ "$rc" -eq 0 ] || fail "tools/bench --smoke exited with $rc"
[ -s "$TMP/out.json" ] || fail "no JSON written"
[ "$(cat "$TMP/haltpoll")" = 0 ] || fail "idle polling not restored: $(cat "$TMP/haltpoll")"
grep -q "^idle polling: Linux's default for the run: guest_halt_poll_ns 200000 (booted with 0" "$TMP/table" ||
    fail "the table does not say the run set idle polling"
grep -q "\"idle_poll\": \"Linux's default for the run" "$TMP/out.json" || fail "idle_poll missing from the JSON"

# Figures with a kernel reference, and tapir-only ones.
compared="bulk_in_mbps bulk_out_mbps bulk_out_nowriter_mbps rr_same_median_us rr_same_p99_us rr_cross_median_us
          rr_cross_p99_us conn_close_per_sec conn_echo_per_sec conn_close_par_per_sec
          conn_echo_par_per_sec conn_close_tt_per_sec conn_echo_tt_per_sec"
# Compared with the kernel without offloads only.
compared_off="bulk_in_rps_mbps bulk_out_rps_mbps"
tapir_only="bulk_in_idle_mbps idle_rss_mib idle_per_conn_bytes core_mb_per_cpu_sec
            conn_close_ceiling_per_sec conn_echo_ceiling_per_sec rr_same_ceiling_us"
for f in $compared $compared_off $tapir_only core_instr_per_byte; do
    row=$(grep "^$f " "$TMP/table") || fail "figure $f missing from the table"
    grep -q "\"$f\": {" "$TMP/out.json" || fail "figure $f missing from the JSON"
    read -r _ _ tapir koff _ kon _ <<<"$row"
    if [ "$f" = core_instr_per_byte ]; then
        # May be n/a only when neither perf counters nor valgrind can count
        # (e.g. a sanitizer build, which valgrind cannot run); the table says so.
        if [ "$tapir" = n/a/n/a/n/a ]; then
            grep -q '^instructions per byte: n/a' "$TMP/table" || fail "core_instr_per_byte missing"
        fi
        continue
    fi
    [ "$tapir" != n/a/n/a/n/a ] || fail "no tapir value for $f"
    case " $compared " in
        *" $f "*) [ "$koff" != n/a/n/a/n/a ] && [ "$kon" != n/a/n/a/n/a ] ||
                      fail "no kernel value for $f" ;;
    esac
    case " $compared_off " in
        *" $f "*) [ "$koff" != n/a/n/a/n/a ] || fail "no kernel value for $f" ;;
    esac
done
# Every program ended when told to (tools/bench reports one that had to be killed).
if grep -q 'ignored SIGTERM' "$TMP/err"; then fail "a bench program ignored SIGTERM"; fi
# Nothing left behind: no namespace of this run remains (another run's, made
# meanwhile by a test running in parallel, is not ours to judge).
left=$(ip netns list | awk '{print $1}' | grep -E "^tapir-bench-$bench_pid(-a|-b|-tt)?\$" || true)
[ -z "$left" ] || fail "tools/bench left namespaces behind: $left"

# Each value has the steal time of its step beside it.
python3 - "$TMP/out.json" <<'PY' || fail "steal time not recorded beside every value"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["steal_retry_pct"] is None
for name, f in d["figures"].items():
    if name == "core_instr_per_byte":
        continue        # counted after the runs, not by a step
    for side in ("tapir", "kernel_off", "kernel_on"):
        assert len(f[side]["steal_pct"]) == len(f[side]["runs"]), (name, side)
        assert f[side]["discarded"] == [], (name, side)
PY

# --steal-retry: a step with more steal time than allowed is measured again,
# twice at most, and the values it replaced are kept apart (a fixed steal
# time from the tool's test hook makes every step exceed the limit).
# --as-booted: the machine as it is (the test's file untouched).
BENCH_FAKE_STEAL_PCT=60 "$SRC/tools/bench" --smoke --no-build --build-dir "$BUILD" --only rr \
    --steal-retry 50 --as-booted --json "$TMP/retry.json" >"$TMP/table2" 2>"$TMP/err2" ||
    { sed 's/^/stderr: /' "$TMP/err2"; fail "tools/bench --steal-retry exited with an error"; }
# 13 values per try (median and p99 of rr_same and rr_cross for tapir and
# both kernel sides, and rr_same_ceiling), two tries replaced: 26.
grep -q '^values measured again because steal time was above 50%: 26 ' "$TMP/table2" ||
    { cat "$TMP/table2"; fail "the table does not count the repeated values"; }
grep -q '^idle polling: as booted (--as-booted): guest_halt_poll_ns 0$' "$TMP/table2" ||
    { cat "$TMP/table2"; fail "--as-booted: the table does not say the machine was left as booted"; }
python3 - "$TMP/retry.json" <<'PY' || fail "--steal-retry did not repeat each step twice"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["steal_retry_pct"] == 50
for name in ("rr_same_median_us", "rr_cross_median_us"):
    for side in ("tapir", "kernel_off", "kernel_on"):
        f = d["figures"][name][side]
        assert len(f["runs"]) == 1 and len(f["discarded"]) == 2, (name, side, f)
        assert f["steal_pct"] == [60], (name, side, f)
f = d["figures"]["rr_same_ceiling_us"]["tapir"]
assert len(f["runs"]) == 1 and len(f["discarded"]) == 2, ("rr_same_ceiling_us", f)
PY
echo "PASS"
