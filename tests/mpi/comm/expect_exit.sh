#!/bin/sh
# expect_exit.sh RC MAX_SECONDS COUNT PATTERN COMMAND...: runs COMMAND and passes only when it
# exits with RC ("nonzero" = any non-zero code) within MAX_SECONDS and its output contains the
# fixed string PATTERN COUNT times ("some" = at least once).
expected_rc=$1 max_seconds=$2 expected_count=$3 pattern=$4
shift 4
out=$(mktemp)
start=$(date +%s.%N)
"$@" >"$out" 2>&1
rc=$?
elapsed=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
cat "$out"
status=0
if [ "$expected_rc" = nonzero ]; then
  [ "$rc" -ne 0 ] || { echo "expect_exit: exit code 0, expected non-zero"; status=1; }
else
  [ "$rc" -eq "$expected_rc" ] || { echo "expect_exit: exit code $rc, expected $expected_rc"; status=1; }
fi
if awk -v e="$elapsed" -v m="$max_seconds" 'BEGIN { exit !(e > m) }'; then
  echo "expect_exit: took ${elapsed}s, limit ${max_seconds}s"; status=1
fi
count=$(grep -cF -- "$pattern" "$out")
if [ "$expected_count" = some ]; then
  [ "$count" -ge 1 ] || { echo "expect_exit: pattern not found: $pattern"; status=1; }
else
  [ "$count" -eq "$expected_count" ] || { echo "expect_exit: pattern found $count times, expected $expected_count: $pattern"; status=1; }
fi
echo "expect_exit: rc=$rc elapsed=${elapsed}s"
rm -f "$out"
exit $status
