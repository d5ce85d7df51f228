#!/usr/bin/env bash
# Long fuzzing: each target (default: all built) for RUNS executions or SECONDS of wall time,
# whichever comes first, on the suite's corpus (tests/fuzz/run.sh builds the tree and the seeds
# first, with a 1 s budget). With -o DIR the binaries, seeds and corpus are copied into DIR and
# the run works there (logs, artifacts), so a rebuild of the fuzz tree does not disturb it; with
# -p all targets run at once, each under `nice -n 19` (they use the cycles others leave idle).
# Prints executions, time and the outcome per target; any crash, leak, timeout or OOM input is
# kept under OUT/artifacts/TARGET/ and fails the run.
# Usage: tests/fuzz/long.sh [-n RUNS (default 10000000)] [-t SECONDS (default 3600)]
#                           [-b BUILD_DIR] [-o OUT_DIR (default BUILD_DIR)] [-p] [TARGET...]
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build="$root/build-fuzz"
out=""
runs=10000000
secs=3600
parallel=0
while getopts "n:t:b:o:p" opt; do
  case $opt in
    n) runs=$OPTARG ;;
    t) secs=$OPTARG ;;
    b) build=$OPTARG ;;
    o) out=$OPTARG ;;
    p) parallel=1 ;;
    *) sed -n '2,10p' "$0"; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
"$root/tests/fuzz/run.sh" -t 1 -b "$build" "$@" >/dev/null || { echo "long.sh: the fuzz suite fails already"; exit 1; }
read -r -a targets <<<"$(tr ';' ' ' <"$build/targets.txt")"
[ $# -eq 0 ] || targets=("$@")
if [ -n "$out" ] && [ "$out" != "$build" ]; then
  mkdir -p "$out/bin" "$out/seeds" "$out/corpus"
  for t in "${targets[@]}"; do
    cp "$build/bin/$t" "$out/bin/"
    rm -rf "$out/seeds/$t"
    cp -r "$build/seeds/$t" "$out/seeds/$t"
    mkdir -p "$out/corpus/$t"
    cp -n "$build/corpus/$t/"* "$out/corpus/$t/" 2>/dev/null
  done
else
  out=$build
fi
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# One target's run; its outcome line goes to OUT/TARGET.long.result.
fuzz_one() {
  local t=$1 log="$out/$t.long.log" start rc execs
  start=$(date +%s)
  mkdir -p "$out/artifacts/$t"
  $nice_cmd "$out/bin/$t" -runs="$runs" -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 \
    -print_final_stats=1 -artifact_prefix="$out/artifacts/$t/" "$out/corpus/$t" "$out/seeds/$t" \
    >"$log" 2>&1
  rc=$?
  execs=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+)/\1/p' "$log" | tail -n 1)
  [ -n "$execs" ] || execs=$(grep -oE '^#[0-9]+' "$log" | tail -n 1 | tr -d '#')
  echo "$t: ${execs:-?} executions in $(( $(date +%s) - start )) s, exit $rc$([ $rc -ne 0 ] &&
    echo " ($(grep -m1 -E 'ERROR|escaped|ALARM|out-of-memory|leak' "$log"))")" >"$out/$t.long.result"
  return $rc
}

nice_cmd=""
failed=0
if [ $parallel -eq 1 ]; then
  nice_cmd="nice -n 19"
  pids=()
  for t in "${targets[@]}"; do
    fuzz_one "$t" &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid" || failed=$((failed + 1)); done
  for t in "${targets[@]}"; do cat "$out/$t.long.result"; done
else
  for t in "${targets[@]}"; do
    fuzz_one "$t" || failed=$((failed + 1))
    cat "$out/$t.long.result"
  done
fi
[ $failed -eq 0 ]
