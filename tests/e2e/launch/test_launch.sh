#!/usr/bin/env bash
# e2e: `retort launch` with the real binary and mpirun: the printed command is exact (replaying
# it gives the same weights), bad input exits 2 and is never retried, emulate_nodes=2 with 2:4
# gives a node-local assignment table, and a kill -9 of a student
# or a teacher rank, or a SIGSTOP of a student (ended by the step watchdog within step_timeout_s +
# 10 s), is restarted by --max-restarts, resumes from its checkpoint and ends with
# weights bitwise-equal to an uninterrupted run; SIGTERM to the launcher stops the job with no
# restart, and launching again (newest checkpoint corrupted) resumes to the same weights.
set -uo pipefail
retort=${1:?usage: test_launch.sh path/to/retort}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
# Nothing here may hang the suite: every run gets 150 s (a run takes a few seconds; rc 124 = hung).
bounded() { timeout -k 10 150 "$@"; }
# watchdog PID: SIGTERM to PID after 150 s; prints the watchdog's PID (kill it once PID ended).
watchdog() { (sleep 150 && kill -TERM "$1" 2>/dev/null) >/dev/null 2>&1 & echo $!; }
unguard() { pkill -P "$1" -x sleep 2>/dev/null; kill "$1" 2>/dev/null; }
note() { echo "--- $*"; }

cat >"$tmp/sup.yaml" <<EOF
run: {name: sup, out_dir: $tmp/sup}
cluster: {students: 1}
data: {train_fraction: 0.02}
student: {hidden: [32]}
train: {batch_size: 32, max_steps: 40, checkpoint_every_steps: 10}
logging: {progress: never}
EOF

note "emulation: the printed command runs the job, and is exact"
bounded "$retort" launch --emulate --students 2 "$tmp/sup.yaml" >"$tmp/out" 2>"$tmp/err"; rc=$?
[ "$rc" -eq 0 ] || fail "launch --emulate exited $rc: $(tail -5 "$tmp/err")"
line=$(grep '^retort launch: mpirun ' "$tmp/out" | head -1)
[ -n "$line" ] || fail "no 'retort launch: mpirun ...' line in stdout: $(head -c 500 "$tmp/out")"
command=${line#retort launch: }
for word in "-np 2" "--oversubscribe" "--bind-to none" "-x OMP_NUM_THREADS=" "train $tmp/sup.yaml" "--set cluster.students=2"; do
  [[ "$command" == *"$word"* ]] || fail "command lacks '$word': $command"
done
if [ "$(id -u)" -eq 0 ]; then
  [[ "$command" == *"--allow-run-as-root"* ]] || fail "running as root but the command lacks --allow-run-as-root"
else
  [[ "$command" != *"--allow-run-as-root"* ]] || fail "not root but the command has --allow-run-as-root"
fi
[ -f "$tmp/sup/final.safetensors" ] || fail "launch --emulate wrote no final.safetensors"
ls -d "$tmp"/sup/checkpoints/step-* >/dev/null 2>&1 || fail "launch --emulate wrote no checkpoint"
# Replaying the printed line (into another out_dir) must train the same weights.
bounded sh -c "$command --set run.out_dir=$tmp/replay" >"$tmp/replay.out" 2>&1 || fail "replaying the printed command failed: $(tail -3 "$tmp/replay.out")"
cmp -s "$tmp/sup/final.safetensors" "$tmp/replay/final.safetensors" || fail "the replayed command trained different weights"

note "bad input: exit 2 from the launcher itself and from the ranks, never retried"
bounded "$retort" launch --emulate --max-restarts 3 "$tmp/sup.yaml" --set cluster.studnets=2 >"$tmp/out" 2>"$tmp/err"; rc=$?
[ "$rc" -eq 2 ] || fail "a misspelled key exited $rc, expected 2"
grep -q "cluster.studnets: unknown key" "$tmp/err" || fail "no message naming cluster.studnets: $(cat "$tmp/err")"
grep -q "^retort launch: mpirun" "$tmp/out" && fail "a config the launcher rejects still started mpirun"
# The launcher accepts the config; the ranks find no data files in the (existing) data.dir.
mkdir "$tmp/empty-data"
bounded "$retort" launch --emulate --max-restarts 3 "$tmp/sup.yaml" --set data.dir="$tmp/empty-data" >"$tmp/out" 2>"$tmp/err"; rc=$?
[ "$rc" -eq 2 ] || fail "missing data under --max-restarts exited $rc, expected 2 ($(tail -3 "$tmp/err"))"
grep -q "train-images-idx3-ubyte.* found in" "$tmp/err" || fail "the ranks did not report the missing data: $(head -3 "$tmp/err")"
[ "$(grep -c '^retort launch: .*mpirun ' "$tmp/out")" -eq 1 ] || fail "a job failing with exit 2 was started more than once"
grep -q "job stopped: exit code 2 (bad config or input; not retried)" "$tmp/err" || fail "no 'not retried' line: $(tail -3 "$tmp/err")"

# Distillation, 1 teacher + 2 students, long enough (~1500 steps) to be killed mid-run.
teacher=$tmp/sup/final.safetensors
cat >"$tmp/distill.yaml" <<EOF
run: {name: distill, out_dir: $tmp/reference}
cluster: {teachers: 1, students: 2}
data: {train_fraction: 0.02}
teacher: {checkpoint: $teacher}
student: {hidden: [16]}
train: {batch_size: 32, epochs: 100, max_steps: 1500, checkpoint_every_steps: 100, keep_checkpoints: 2}
logging: {progress: never}
EOF
note "emulate_nodes 2, T:S = 2:4: node-local placement in the assignment table"
bounded "$retort" launch --emulate --teachers 2 --students 4 "$tmp/distill.yaml" --set cluster.emulate_nodes=2 \
  --set train.max_steps=4 --set run.out_dir="$tmp/placement" >"$tmp/placement.out" 2>&1 || fail "2:4 emulation failed: $(tail -5 "$tmp/placement.out")"
cat >"$tmp/placement.expected" <<EOF
rank 0 teacher 0 node 0 serves student 0 (rank 1) student 1 (rank 2)
rank 1 student 0 node 0 served by teacher 0 (rank 0)
rank 2 student 1 node 0 served by teacher 0 (rank 0)
rank 3 teacher 1 node 1 serves student 2 (rank 4) student 3 (rank 5)
rank 4 student 2 node 1 served by teacher 1 (rank 3)
rank 5 student 3 node 1 served by teacher 1 (rank 3)
EOF
grep -E '^ +rank [0-9]+ ' "$tmp/placement.out" | tr -s ' ' | sed 's/^ //' >"$tmp/placement.table"
diff "$tmp/placement.expected" "$tmp/placement.table" >/dev/null ||
  fail "assignment table for emulate_nodes=2, 2:4 is not node-local: $(diff "$tmp/placement.expected" "$tmp/placement.table")"
grep -q -- "-np 6 .*--set cluster.teachers=2 --set cluster.students=4" "$tmp/placement.out" || fail "2:4 command is not -np 6 with the counts passed through"

note "uninterrupted reference run"
bounded "$retort" launch --emulate "$tmp/distill.yaml" >"$tmp/ref.out" 2>&1 || fail "reference run failed: $(tail -5 "$tmp/ref.out")"

# signal_rank_and_resume NAME RANK SIGNAL [--set ...]: send SIGNAL to world rank RANK after the
# first checkpoint appears; the supervisor must restart the job and the run end bitwise-equal.
signal_rank_and_resume() {
  local name=$1 rank=$2 sig=$3 out=$tmp/$1
  shift 3
  "$retort" launch --emulate --max-restarts 2 "$tmp/distill.yaml" --set run.out_dir="$out" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" &
  local launcher=$! victim="" deadline=$((SECONDS + 60)) guard
  guard=$(watchdog $launcher)
  while [ -z "$victim" ] && [ $SECONDS -lt $deadline ] && kill -0 $launcher 2>/dev/null; do
    if ls -d "$out"/checkpoints/step-* >/dev/null 2>&1; then
      for mpirun_pid in $(pgrep -P $launcher); do
        for pid in $(pgrep -P "$mpirun_pid"); do
          tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$rank" && victim=$pid
        done
      done
    fi
    [ -n "$victim" ] || sleep 0.02
  done
  signalled_at=$SECONDS
  if [ -z "$victim" ]; then
    fail "$name: never found rank $rank running after a checkpoint (job ended or never checkpointed)"
  else
    kill "-$sig" "$victim"
  fi
  failed_after=-1  # seconds from the signal to the supervisor's first "job failed" line
  while [ $((SECONDS - signalled_at)) -lt 120 ] && kill -0 $launcher 2>/dev/null; do
    if grep -q "retort launch: job failed" "$tmp/$name.err"; then failed_after=$((SECONDS - signalled_at)); break; fi
    sleep 0.1
  done
  wait $launcher; local rc=$?
  unguard "$guard"
  [ "$rc" -eq 0 ] || fail "$name: launch --max-restarts 2 exited $rc: $(tail -5 "$tmp/$name.err")"
  grep -Eq "job failed: exit code [0-9]+ \(.*\); newest good checkpoint: step [1-9][0-9]* \(.*\); restart 1 of 2 in 1 s" "$tmp/$name.err" ||
    fail "$name: no restart line naming cause and checkpoint step: $(grep 'retort launch' "$tmp/$name.err")"
  grep -q "^retort launch: (restart 1) mpirun " "$tmp/$name.out" || fail "$name: the restarted command was not printed"
  grep -q "job finished after 1 restart(s)" "$tmp/$name.err" || fail "$name: no 'finished after 1 restart(s)' line"
  cmp -s "$tmp/reference/final.safetensors" "$out/final.safetensors" ||
    fail "$name: final student weights differ from the uninterrupted run"
  grep 'retort launch: job' "$tmp/$name.err" | sed "s/^/    [$name] /"
}
note "kill -9 a student rank (world rank 2)"
signal_rank_and_resume student 2 KILL
note "kill -9 the teacher rank (world rank 0)"
signal_rank_and_resume teacher 0 KILL
note "SIGSTOP a student rank: the watchdog ends the job within step_timeout_s + 10 s naming the step"
signal_rank_and_resume stopped-rank 1 STOP --set train.step_timeout_s=10
[ "$failed_after" -ge 0 ] && [ "$failed_after" -le 20 ] ||
  fail "SIGSTOP: the job failed ${failed_after} s after the stop, expected within step_timeout_s (10) + 10 s"
echo "    [stopped-rank] the job ended ${failed_after} s after SIGSTOP (step_timeout_s 10)"
first_failure=$(grep -n "retort launch: job failed" "$tmp/stopped-rank.err" | head -1 | cut -d: -f1)
grep -Eq "step [0-9]+ .*no progress|no progress .*step [0-9]+|at step [0-9]+ \(no progress" <(head -n "${first_failure:-0}" "$tmp/stopped-rank.err") ||
  fail "SIGSTOP: no message naming the step that made no progress: $(head -c 600 "$tmp/stopped-rank.err")"

note "SIGTERM to retort launch: every rank stops, no restart; launching again resumes to the same weights"
"$retort" launch --emulate --max-restarts 2 "$tmp/distill.yaml" --set run.out_dir="$tmp/stopped" >"$tmp/stop.out" 2>"$tmp/stop.err" &
launcher=$!
guard=$(watchdog $launcher)
deadline=$((SECONDS + 60))
until ls -d "$tmp"/stopped/checkpoints/step-* >/dev/null 2>&1 || [ $SECONDS -ge $deadline ] || ! kill -0 $launcher 2>/dev/null; do sleep 0.02; done
ranks=$(for p in $(pgrep -P $launcher); do pgrep -P "$p"; done)
kill -TERM $launcher
wait $launcher; rc=$?
unguard "$guard"
[ "$rc" -ne 0 ] || fail "SIGTERM: the job finished with exit 0 before the stop took effect"
[ "$(grep -c '^retort launch: .*mpirun ' "$tmp/stop.out")" -eq 1 ] || fail "SIGTERM: the job was restarted"
if [ "$rc" -eq 75 ]; then  # the ranks checkpointed on the stop request
  grep -q "job stopped: exit code 75 (preempted: checkpoint written; not retried)" "$tmp/stop.err" || fail "SIGTERM: exit 75 without the preempted line"
else
  grep -q "not restarted: the launcher was told to stop" "$tmp/stop.err" || fail "SIGTERM: exit $rc without the 'told to stop' line: $(tail -3 "$tmp/stop.err")"
fi
[ -n "$ranks" ] || fail "SIGTERM: found no rank processes before the signal"
for pid in $ranks; do  # orphaned ranks may take a moment to be reaped after mpirun exits
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && fail "SIGTERM: rank process $pid still alive 5 s after the launcher ended"
done
grep 'retort launch: job' "$tmp/stop.err" | sed "s/^/    [sigterm] /"
# Flip a byte in the newest checkpoint: the resume must fall back to the previous one.
mapfile -t ckpts < <(ls -d "$tmp"/stopped/checkpoints/step-* 2>/dev/null)
if [ "${#ckpts[@]}" -ge 2 ]; then
  newest=${ckpts[-1]}
  printf '\x5a' | dd of="$newest/model.safetensors" bs=1 seek=200 conv=notrunc status=none
fi
bounded "$retort" launch --emulate "$tmp/distill.yaml" --set run.out_dir="$tmp/stopped" >"$tmp/resume.out" 2>&1 || fail "resume after SIGTERM failed: $(tail -3 "$tmp/resume.out")"
if [ "${#ckpts[@]}" -ge 2 ]; then
  grep -q "skipping checkpoint that does not verify: .*$(basename "$newest")" "$tmp/resume.out" ||
    fail "resume did not report skipping the corrupted $(basename "$newest")"
fi
cmp -s "$tmp/reference/final.safetensors" "$tmp/stopped/final.safetensors" ||
  fail "SIGTERM then resume: final student weights differ from the uninterrupted run"

if [ "$failures" -gt 0 ]; then echo "$failures failure(s)"; exit 1; fi
echo "launch: all checks passed"
