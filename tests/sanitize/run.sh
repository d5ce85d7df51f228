#!/usr/bin/env bash
# The sanitize suite: the unit and mpi suites built with -fsanitize=address,undefined in their
# own tree (CUDA off) and run through CTest. Any ASan/UBSan report fails the test that made it
# (UBSan does not recover). LeakSanitizer runs everywhere, with lsan.supp naming Open MPI's own
# allocations, which it leaves to process exit by design.
# Usage: tests/sanitize/run.sh [-b BUILD_DIR] [LABEL...]     (default labels: unit mpi)
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build="$root/build-sanitize"
while getopts "b:" opt; do
  case $opt in
    b) build=$OPTARG ;;
    *) sed -n '2,6p' "$0"; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
labels=("$@")
[ ${#labels[@]} -gt 0 ] || labels=(unit mpi)

flags="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g"
mkdir -p "$build"
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DRETORT_CUDA=OFF \
    -DCMAKE_C_FLAGS="$flags" -DCMAKE_CXX_FLAGS="$flags" \
    -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" >"$build/configure.log" 2>&1 ||
    { tail -n 30 "$build/configure.log"; echo "sanitize: configure failed"; exit 1; }
fi
# Every test executable (not the benchmarks: they are not run here).
start=$(date +%s)
cmake --build "$build" -j "$(nproc)" >"$build/build.log" 2>&1 ||
  { grep -E "error" -A3 "$build/build.log" | head -n 40; echo "sanitize: build failed"; exit 1; }
echo "sanitize: build took $(( $(date +%s) - start )) s"

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:detect_stack_use_after_return=0"
export LSAN_OPTIONS="suppressions=$root/tests/sanitize/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
rc=0
for label in "${labels[@]}"; do
  start=$(date +%s)
  ctest --test-dir "$build" -L "^${label}\$" --output-on-failure --no-tests=ignore || rc=1
  echo "sanitize: label $label took $(( $(date +%s) - start )) s"
done
exit $rc
