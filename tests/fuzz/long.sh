#!/usr/bin/env bash
# Long fuzzing: each target (default: all built) for RUNS executions or SECONDS of wall time,
# whichever comes first, on the suite's corpus (tests/fuzz/run.sh builds the tree and the seeds
# first, with a 1 s budget). With -o DIR the binaries, seeds and corpus are copied into DIR and
# the run works there (logs, artifacts), so a rebuild of the fuzz tree does not disturb it; with
# -p all targets run at once, each under `nice -n 19` (they use the cycles others leave idle).
# libFuzzer's -timeout is wall time, so a starved process (a busy machine, nice 19) looks hung:
# the per-input limit here is -T (default 120 s, the suite's is 10 s), and a timeout input is
# replayed at normal priority with the suite's 10 s limit (its time is printed with the outcome).
# Prints executions, time and the outcome per target; any crash, leak, timeout or OOM input is
# kept under OUT/artifacts/TARGET/ and fails the run. -m SECONDS measures instead: each target
# alone at normal priority for SECONDS, its executions per wall second and per CPU second, and
# the wall time the campaign (RUNS executions or 2 h per target, one target per core) would take.
# Usage: tests/fuzz/long.sh [-n RUNS (default 10000000)] [-t SECONDS (default 3600)] [-T SECONDS]
#                           [-b BUILD_DIR] [-o OUT_DIR (default BUILD_DIR)] [-p] [-m SECONDS] [TARGET...]
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build="$root/build-fuzz"
out=""
runs=10000000
secs=3600
parallel=0
input_timeout=120
measure=0
while getopts "n:t:T:b:o:pm:" opt; do
  case $opt in
    n) runs=$OPTARG ;;
    t) secs=$OPTARG ;;
    T) input_timeout=$OPTARG ;;
    b) build=$OPTARG ;;
    o) out=$OPTARG ;;
    p) parallel=1 ;;
    m) measure=$OPTARG ;;
    *) sed -n '2,16p' "$0"; exit 2 ;;
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

executions() {  # LOG: the executions libFuzzer reported
  local execs
  execs=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+)/\1/p' "$1" | tail -n 1)
  [ -n "$execs" ] || execs=$(grep -oE '^#[0-9]+' "$1" | tail -n 1 | tr -d '#')
  echo "${execs:-?}"
}

# A timeout input replayed at normal priority under the suite's 10 s limit: "replayed: ...".
replay_timeouts() {  # TARGET
  local input start
  for input in "$out/artifacts/$1"/timeout-*; do
    [ -e "$input" ] || continue
    start=$(date +%s%N)
    if "$out/bin/$1" -timeout=10 -rss_limit_mb=2048 "$input" >"$input.replay.log" 2>&1; then
      echo -n "; $(basename "$input") replayed in $(( ($(date +%s%N) - start) / 1000000 )) ms, exit 0 (starved, not hung)"
    else
      echo -n "; $(basename "$input") fails on replay too (log $input.replay.log)"
    fi
  done
}

# One target's run; its outcome line goes to OUT/TARGET.long.result.
fuzz_one() {
  local t=$1 log="$out/$t.long.log" start rc
  start=$(date +%s)
  mkdir -p "$out/artifacts/$t"
  $nice_cmd "$out/bin/$t" -runs="$runs" -max_total_time="$secs" -rss_limit_mb=2048 -timeout="$input_timeout" \
    -print_final_stats=1 -artifact_prefix="$out/artifacts/$t/" "$out/corpus/$t" "$out/seeds/$t" \
    >"$log" 2>&1
  rc=$?
  echo "$t: $(executions "$log") executions in $(( $(date +%s) - start )) s, exit $rc$([ $rc -ne 0 ] &&
    echo " ($(grep -m1 -E 'ERROR|escaped|ALARM|out-of-memory|leak' "$log"))$(replay_timeouts "$t")")" \
    >"$out/$t.long.result"
  return $rc
}

# -m: one target alone for $measure s at normal priority, fuzzing a scratch copy of its corpus.
measure_one() {
  local t=$1 log="$out/$t.rate.log" corpus="$out/rate-corpus/$t" execs wall user sys
  rm -rf "$corpus" && mkdir -p "$corpus" && cp "$out/corpus/$t/"* "$corpus/" 2>/dev/null
  /usr/bin/time -o "$log.time" -f "%e %U %S" "$out/bin/$t" -max_total_time="$measure" -rss_limit_mb=2048 \
    -timeout="$input_timeout" -print_final_stats=1 -artifact_prefix="$out/artifacts/$t/" "$corpus" \
    "$out/seeds/$t" >"$log" 2>&1
  execs=$(executions "$log")
  read -r wall user sys <"$log.time"
  awk -v t="$t" -v n="$execs" -v w="$wall" -v u="$user" -v s="$sys" -v runs="$runs" -v load="$(cut -d' ' -f1 /proc/loadavg)" 'BEGIN {
    cpu = u + s; per_cpu = n / cpu; need = runs / per_cpu; if (need > 7200) need = 7200
    printf "%s: %d executions in %.1f s wall, %.1f CPU-s: %.0f exec/s wall, %.0f exec/CPU-s; %d executions: %.0f s of one core (capped at 7200 s); load %s\n", t, n, w, cpu, n / w, per_cpu, runs, need, load }'
}

if [ "$measure" -gt 0 ]; then
  needs=()
  for t in "${targets[@]}"; do
    line=$(measure_one "$t")
    echo "$line"
    needs+=("$(sed -nE 's/.*executions: ([0-9]+) s of one core.*/\1/p' <<<"$line")")
  done
  # At least the longest target's time, and the total shared by the cores.
  printf '%s\n' "${needs[@]}" | awk -v cores="$(nproc)" '{ total += $1; if ($1 > longest) longest = $1 }
    END { wall = total / cores; if (longest > wall) wall = longest
          printf "campaign: %.0f core-seconds in all, the longest target %.0f s; on %d idle cores about %.0f s (%.1f h) of wall time\n", total, longest, cores, wall, wall / 3600 }'
  exit 0
fi

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
