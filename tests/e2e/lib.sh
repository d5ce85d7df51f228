# Shared prelude of the e2e shell tests: sourced with the test's "$@" (first argument: the retort
# binary). Sets retort, tmp (RETORT_TEST_TMP keeps it), mpirun, fail/finish, and trains the small
# supervised teacher the distillation tests start from; expect checks an exit code and message.
set -uo pipefail
retort=${1:?usage: $(basename "$0") path/to/retort}
tmp=${RETORT_TEST_TMP:-$(mktemp -d)}; [ -n "${RETORT_TEST_TMP:-}" ] || trap 'rm -rf "$tmp"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mpirun=(mpirun --oversubscribe --bind-to none)
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# expect CODE "exact stderr line" -- command...: the exit code, and the line when it is not "".
expect() {
  local code=$1 message=$2; shift 3
  "$@" >"$tmp/out" 2>"$tmp/err"; local rc=$?
  [ "$rc" -eq "$code" ] || fail "$* exited $rc, expected $code ($(head -c 300 "$tmp/err"))"
  if [ -n "$message" ] && ! grep -qxF -- "$message" "$tmp/err"; then
    fail "$*: stderr lacks the line: $message  (got: $(head -c 300 "$tmp/err"))"
  fi
}

# finish NAME: the test's closing line and exit code.
finish() {
  if [ "$failures" -gt 0 ]; then echo "$failures failure(s)"; exit 1; fi
  echo "$1: all checks passed"
}

# train_small_teacher HIDDEN MAX_STEPS [SEED]: $tmp/teacher/final.safetensors, on 5% of the data.
train_small_teacher() {
  cat >"$tmp/teacher.yaml" <<YAML
run: {name: teacher, out_dir: $tmp/teacher${3:+, seed: $3}}
student: {hidden: [$1]}
data: {train_fraction: 0.05}
train: {batch_size: 60, epochs: 1, max_steps: $2, log_every_steps: $2}
YAML
  timeout 120 "$retort" train "$tmp/teacher.yaml" >"$tmp/teacher.log" 2>&1 ||
    { fail "teacher training"; cat "$tmp/teacher.log"; exit 1; }
}
