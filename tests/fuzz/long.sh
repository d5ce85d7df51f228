#!/usr/bin/env bash
# Long fuzzing: each target (default: all built) in turn, for RUNS executions or SECONDS of wall
# time, whichever comes first, on the suite's corpus (tests/fuzz/run.sh builds the tree and the
# seeds first, with a 1 s budget). Prints executions, time and the outcome per target; any crash,
# leak, timeout or OOM input is kept under BUILD/artifacts/TARGET/ and fails the run.
# Usage: tests/fuzz/long.sh [-n RUNS (default 10000000)] [-t SECONDS (default 3600)] [TARGET...]
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build="$root/build-fuzz"
runs=10000000
secs=3600
while getopts "n:t:b:" opt; do
  case $opt in
    n) runs=$OPTARG ;;
    t) secs=$OPTARG ;;
    b) build=$OPTARG ;;
    *) sed -n '2,7p' "$0"; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
"$root/tests/fuzz/run.sh" -t 1 -b "$build" "$@" >/dev/null || { echo "long.sh: the fuzz suite fails already"; exit 1; }
read -r -a targets <<<"$(tr ';' ' ' <"$build/targets.txt")"
[ $# -eq 0 ] || targets=("$@")
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
failed=0
for t in "${targets[@]}"; do
  log="$build/$t.long.log"
  start=$(date +%s)
  "$build/bin/$t" -runs="$runs" -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
    -artifact_prefix="$build/artifacts/$t/" "$build/corpus/$t" "$build/seeds/$t" \
    >"$log" 2>&1
  rc=$?
  execs=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+)/\1/p' "$log" | tail -n 1)
  [ -n "$execs" ] || execs=$(grep -oE '^#[0-9]+' "$log" | tail -n 1 | tr -d '#')
  echo "$t: ${execs:-?} executions in $(( $(date +%s) - start )) s, exit $rc$([ $rc -ne 0 ] && echo " ($(grep -m1 -E 'ERROR|escaped|ALARM|out-of-memory|leak' "$log"))")"
  [ $rc -eq 0 ] || failed=$((failed + 1))
done
[ $failed -eq 0 ]
