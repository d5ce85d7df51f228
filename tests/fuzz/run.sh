#!/usr/bin/env bash
# The fuzz suite: builds the libFuzzer targets (clang-16, -fsanitize=fuzzer,address,undefined) in
# the instrumented tree it shares with the sanitize suite (tests/fuzz/tree.sh), replays the
# committed regression inputs (tests/fuzz/regressions/TARGET/), then fuzzes each target for a
# fixed budget from seed corpora made from real files. Any crash, leak, timeout (> 10 s per
# input) or out-of-memory (> 2 GB) fails the target; the input that did it is kept under
# BUILD/artifacts/TARGET/. Prints one line per target in CTest's format.
# Usage: tests/fuzz/run.sh [-t SECONDS_PER_TARGET (default 25)] [-b BUILD_DIR] [TARGET...]
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build="$root/build-fuzz"
secs=25
while getopts "t:b:" opt; do
  case $opt in
    t) secs=$OPTARG ;;
    b) build=$OPTARG ;;
    *) sed -n '2,8p' "$0"; exit 2 ;;
  esac
done
shift $((OPTIND - 1))

source "$root/tests/fuzz/tree.sh"
prepare_instrumented_tree "$root" "$build" fuzz || exit 1
read -r -a all_targets <<<"$(tr ';' ' ' <"$build/targets.txt")"
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all_targets[@]}")
cmake --build "$build" -j "$(nproc)" --target "${targets[@]}" >"$build/build.log" 2>&1 ||
  { grep -E "error" -A3 "$build/build.log" | head -n 40; echo "fuzz: build failed"; exit 1; }

# Seeds: real files written by the targets themselves (RETORT_FUZZ_SEED_DIR), the example
# configs, Fashion-MNIST and GGUF files (make_seeds.py).
seeds="$build/seeds"
rm -rf "$seeds"
mkdir -p "$seeds"
python3 "$root/tests/fuzz/make_seeds.py" "$seeds" "$root"
for t in fuzz_manifest fuzz_logits_cache fuzz_wire fuzz_lm_cache; do
  [ -x "$build/bin/$t" ] || continue
  mkdir -p "$seeds/$t" "$build/empty"
  RETORT_FUZZ_SEED_DIR="$seeds/$t" "$build/bin/$t" -runs=0 "$build/empty" >/dev/null 2>&1
done
mkdir -p "$seeds/fuzz_config" "$seeds/fuzz_safetensors"
find "$root/examples" -name '*.yaml' -exec cp {} "$seeds/fuzz_config/" \;
[ -d "$seeds/fuzz_manifest" ] && cp "$seeds/fuzz_manifest/"*.safetensors "$seeds/fuzz_safetensors/" 2>/dev/null

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
failed=0
n=0
for t in "${targets[@]}"; do
  n=$((n + 1))
  bin="$build/bin/$t"
  log="$build/$t.log"
  corpus="$build/corpus/$t"
  artifacts="$build/artifacts/$t"
  mkdir -p "$corpus" "$artifacts" "$seeds/$t"
  status=Passed
  detail=""
  regressions=("$root/tests/fuzz/regressions/$t"/*)
  if [ -e "${regressions[0]}" ]; then
    if ! "$bin" -rss_limit_mb=2048 -timeout=10 "${regressions[@]}" >"$log.regressions" 2>&1; then
      status=Failed
      detail="a committed regression input fails again (log $log.regressions)"
    fi
  fi
  if [ "$status" = Passed ]; then
    start=$(date +%s)
    # -t 0: replay the seeds and the corpus only (deterministic); else fuzz for that many seconds.
    if [ "$secs" -eq 0 ]; then limit=(-runs=0); else limit=(-max_total_time="$secs"); fi
    "$bin" "${limit[@]}" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
      -artifact_prefix="$artifacts/" "$corpus" "$seeds/$t" >"$log" 2>&1
    rc=$?
    execs=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+)/\1/p' "$log" | tail -n 1)
    detail="${execs:-?} executions in $(( $(date +%s) - start )) s, corpus $(ls "$corpus" | wc -l) inputs"
    if [ $rc -ne 0 ]; then
      status=Failed
      detail="$detail; exit $rc: $(grep -m1 -E "ERROR|SUMMARY|escaped|ALARM|out-of-memory|leak" "$log"); input kept in $artifacts"
    fi
  fi
  if [ "$status" = Passed ]; then
    printf "      Test #%d: %s ....   Passed  (%s)\n" "$n" "$t" "$detail"
  else
    printf "      Test #%d: %s ....***Failed  (%s)\n" "$n" "$t" "$detail"
    failed=$((failed + 1))
  fi
done
[ $failed -eq 0 ]
