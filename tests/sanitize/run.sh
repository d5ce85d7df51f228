#!/usr/bin/env bash
# The sanitize suite: Retort's unit tests and the multi-rank tests that matter most (the logits
# channel, roles and reducer on 3 ranks, the rank-killed fault, data-parallel training on 2 ranks),
# built with clang-16 and -fsanitize=address,undefined in the tree the fuzz suite uses
# (tests/fuzz/tree.sh: the same instrumented libraries, so the two suites share one compile), run
# through CTest. Any ASan/UBSan report fails the test that made it (UBSan does not recover).
# LeakSanitizer runs everywhere, with lsan.supp naming Open MPI's own allocations, which it
# leaves to process exit by design.
# Usage: tests/sanitize/run.sh [-b BUILD_DIR] [-a (every unit and mpi test)]
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build="$root/build-fuzz"
# CTest names, as regular expressions over the test names of each label.
unit_tests="."
mpi_tests="^(comm_mpi_np3|comm_fault_rank_killed|core_train_mpi_np2)$"
while getopts "b:a" opt; do
  case $opt in
    b) build=$OPTARG ;;
    a) mpi_tests="." ;;
    *) sed -n '2,9p' "$0"; exit 2 ;;
  esac
done
shift $((OPTIND - 1))

source "$root/tests/fuzz/tree.sh"
prepare_instrumented_tree "$root" "$build" sanitize || exit 1
tests_dir="$build/retort"
# What the chosen tests run: the build targets named like a test (retort_unit_test) or like a
# build-tree file in a test's command (mpirun ... exe, the retort binary). CTest leaves out the
# command of a test whose executable is not built yet (bench_list: retort_bench), so commands are
# read from the CTestTestfile.cmake files instead.
make_targets=$(cmake --build "$build" --target help | sed -nE 's/^\.\.\. ([A-Za-z0-9_]+).*/\1/p')
test_targets() {  # LABEL REGEX
  ctest --test-dir "$tests_dir" -L "^$1\$" -R "$2" --show-only=json-v1 | python3 -c '
import glob, json, os, re, sys
build, targets = os.path.realpath(sys.argv[1]), set(sys.argv[2].split())
commands = {}
for testfile in glob.glob(os.path.join(sys.argv[3], "**", "CTestTestfile.cmake"), recursive=True):
    for name, args in re.findall(r"^add_test\(\[=\[(.+?)\]=\] (.*)\)$", open(testfile).read(), re.M):
        commands[name] = re.findall(r"\"([^\"]*)\"", args)
for test in json.load(sys.stdin).get("tests", []):
    words = [test["name"]] + [w for a in commands.get(test["name"], []) for w in a.split()]
    for w in words:
        name = os.path.basename(w)
        if name in targets and (w == test["name"] or os.path.realpath(w).startswith(build + os.sep)):
            print(name)' "$build" "$make_targets" "$tests_dir"
}
targets=$( (test_targets unit "$unit_tests"; test_targets mpi "$mpi_tests") | sort -u | tr '\n' ' ')
[ -n "$targets" ] || { echo "sanitize: no tests found in $tests_dir"; exit 1; }
start=$(date +%s)
# shellcheck disable=SC2086
cmake --build "$build" -j "$(nproc)" --target $targets >"$build/sanitize-build.log" 2>&1 ||
  { grep -E "error" -A3 "$build/sanitize-build.log" | head -n 40; echo "sanitize: build failed"; exit 1; }
echo "sanitize: build of $(wc -w <<<"$targets") test executables took $(( $(date +%s) - start )) s"

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
# Open MPI's libraries have no frame pointers and it unloads its components in MPI_Finalize, so
# a leak report's fast-unwound stack is one "<unknown module>" frame no suppression can name:
# components stay loaded and stacks are unwound in full, so lsan.supp names their libraries.
export OMPI_MCA_mca_base_component_disable_dlclose=1
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:detect_stack_use_after_return=0:fast_unwind_on_malloc=0"
export LSAN_OPTIONS="suppressions=$root/tests/sanitize/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
rc=0
for label in unit mpi; do
  regex=$unit_tests
  [ $label = mpi ] && regex=$mpi_tests
  start=$(date +%s)
  ctest --test-dir "$tests_dir" -L "^$label\$" -R "$regex" --output-on-failure --no-tests=error || rc=1
  echo "sanitize: label $label took $(( $(date +%s) - start )) s"
done
exit $rc
