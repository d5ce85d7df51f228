#!/usr/bin/env bash
# Builds Retort (installing missing packages) and runs every test suite: unit, mpi (multi-rank
# through mpirun), e2e (the real binary), slurm (a real one-machine Slurm), gpu (real device,
# skipped when there is none), fuzz (every libFuzzer target for RETORT_FUZZ_SECONDS, default 0 = replay seeds and corpus only,
# after replaying the committed regressions: tests/fuzz/run.sh), sanitize (the unit tests and
# three multi-rank tests under ASan/UBSan: tests/sanitize/run.sh; its cost is in
# docs/reliability.md); fuzz and sanitize share one clang-16 tree, build-fuzz (fuzz runs first and
# builds its libraries). Each of those two runs under a wall-time budget (RETORT_FUZZ_BUDGET_S,
# RETORT_SANITIZE_BUDGET_S) and fails when it overruns.
# Prints one summary line per suite and a closing total.
# Usage: tests/run.sh [SUITE...]     (default: every suite)
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
suites=("$@")
[ ${#suites[@]} -gt 0 ] || suites=(unit mpi e2e slurm gpu fuzz sanitize)
fuzz_seconds=${RETORT_FUZZ_SECONDS:-0}  # 0: replay seeds + regressions only, so CI is deterministic
declare -A budget_s=([fuzz]=${RETORT_FUZZ_BUDGET_S:-1500} [sanitize]=${RETORT_SANITIZE_BUDGET_S:-1800})

launch/setup.sh || { echo "tests/run.sh: set-up failed"; exit 1; }

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
total_pass=0 total_fail=0 total_skip=0
summary=()
for suite in "${suites[@]}"; do
  log="build/tests-$suite.log"
  start=$(date +%s)
  script_rc=0
  case "$suite" in
    fuzz|sanitize)
      args=()
      [ "$suite" = fuzz ] && args=(-t "$fuzz_seconds")
      timeout -k 30 "${budget_s[$suite]}" "tests/$suite/run.sh" "${args[@]}" >"$log" 2>&1 || script_rc=$?
      [ "$script_rc" -ne 124 ] || echo "***Failed: tests/$suite/run.sh overran its budget of ${budget_s[$suite]} s" >>"$log" ;;
    *) ctest --test-dir build -L "^${suite}\$" --output-on-failure --no-tests=ignore >"$log" 2>&1 ;;
  esac
  secs=$(( $(date +%s) - start ))
  pass=$(grep -cE "Test +#[0-9]+: .* Passed" "$log")
  fail=$(grep -cE "Test +#[0-9]+: .*\*\*\*(Failed|Timeout|Exception)|Test +#[0-9]+: .*(Not Run|SEGFAULT|Child aborted)" "$log")
  skip=$(grep -cE "Test +#[0-9]+: .*\*\*\*Skipped" "$log")
  # A suite script that failed before any test line (e.g. its build) is one failure.
  if [ "$script_rc" -ne 0 ] && [ "$fail" -eq 0 ]; then
    fail=1
    echo "***Failed: tests/$suite/run.sh exited $script_rc before reporting a failed test" >>"$log"
  fi
  total_pass=$((total_pass + pass)); total_fail=$((total_fail + fail)); total_skip=$((total_skip + skip))
  line=$(printf "%-6s %3d passed, %d failed, %d skipped  (%ds, log %s)" "$suite:" "$pass" "$fail" "$skip" "$secs" "$log")
  summary+=("$line")
  echo "$line"
  if [ "$fail" -gt 0 ]; then
    grep -E "\*\*\*(Failed|Timeout|Exception)|Not Run|SEGFAULT" "$log"
    # What each failed test printed (ctest --output-on-failure puts it after the test's line),
    # bounded, so a CI log that keeps only this output still shows the assertion and the seed.
    awk '/Test +#[0-9]+: .*(\*\*\*(Failed|Timeout|Exception)|Not Run|SEGFAULT|Child aborted)/ {show = 1; n = 0; print "--- " $0; next}
         /Test +#[0-9]+: / || /^ *Start +[0-9]+: / {show = 0}
         show && n < 80 {print "  | " $0; n++}' "$log"
    sed -n '/The following tests FAILED/,$p' "$log"
  fi
  grep -E "\*\*\*Skipped" "$log" | sed 's/^/  skipped: /'
done
echo "== summary =="
printf '%s\n' "${summary[@]}"
echo "$total_pass passed, $total_fail failed, $total_skip skipped"
[ "$total_fail" -eq 0 ]
