#!/usr/bin/env bash
# e2e failure handling of a distillation job through real mpirun (1 teacher + 2 students):
# NaN teacher logits under nan_policy skip and abort, a SIGSTOPped student caught by the step
# watchdog, SIGUSR1 to mpirun and SIGTERM to the teacher rank alone (checkpoint, exit 75, resume
# bitwise-equal to no stop).
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
field() { sed -nE "s/.*\"$2\": *([-0-9.e+a-z]+).*/\1/p" "$1" | head -n 1; }

cat >"$tmp/distill.yaml" <<YAML
run: {name: distill}
student: {hidden: [8]}
data: {train_fraction: 0.05}
teacher: {checkpoint: $tmp/teacher/final.safetensors}
cluster: {teachers: 1, students: 2}
train: {batch_size: 60, epochs: 1, max_steps: 30, log_every_steps: 10, eval_batch_size: 5000}
YAML
train_small_teacher 32 20

# 1. NaN teacher logits at step 5 under skip: the step is skipped and counted, the run ends well.
timeout 120 "${mpirun[@]}" -np 3 -x RETORT_FAULT_NAN_TEACHER_STEP=5 "$retort" train "$tmp/distill.yaml" \
  --set train.nan_policy=skip --set run.out_dir="$tmp/skip" >"$tmp/skip.log" 2>&1 || fail "nan_policy=skip run failed: $(tail -n 5 "$tmp/skip.log")"
[ "$(field "$tmp/skip/summary.json" skipped_steps)" = "1" ] || fail "skipped_steps is not 1 under nan_policy=skip"
grep -q "step 5 (epoch 0): step skipped on every student" "$tmp/skip.log" || fail "the skipped step is not logged with its number"
loss=$(field "$tmp/skip/summary.json" test_loss)
awk -v l="$loss" 'BEGIN { exit !(l == l + 0 && l < 100) }' || fail "test loss after a skipped step is not finite: $loss"

# 2. The same under abort: a non-zero exit naming the step.
timeout 120 "${mpirun[@]}" -np 3 -x RETORT_FAULT_NAN_TEACHER_STEP=5 "$retort" train "$tmp/distill.yaml" \
  --set train.nan_policy=abort --set run.out_dir="$tmp/abort" >"$tmp/abort.log" 2>&1
rc=$?
[ $rc -ne 0 ] || fail "nan_policy=abort exited 0"
grep -q "non-finite teacher logits or loss at step 5 (epoch 0) (train.nan_policy=abort)" "$tmp/abort.log" ||
  fail "abort message does not name step 5: $(grep error "$tmp/abort.log" | head -n 2)"

# 3. A SIGSTOPped student: a deadline ends the job within step_timeout_s + 10 s, naming the step.
"${mpirun[@]}" -np 3 "$retort" train "$tmp/distill.yaml" --set run.out_dir="$tmp/stop" --set train.max_steps=100000 \
  --set train.epochs=1000 --set train.step_timeout_s=4 >"$tmp/stop.log" 2>&1 &
job=$!
for _ in $(seq 100); do [ -s "$tmp/stop/metrics.jsonl" ] && break; sleep 0.2; done
student=""
for pid in $(pgrep -f "$retort train $tmp/distill.yaml"); do
  grep -qz "^OMPI_COMM_WORLD_RANK=2$" "/proc/$pid/environ" 2>/dev/null && student=$pid
done
if [ -z "$student" ]; then
  fail "could not find student rank 2"; kill -9 $job
else
  kill -STOP "$student"
  start=$(date +%s)
  wait $job; rc=$?
  elapsed=$(( $(date +%s) - start ))
  kill -9 "$student" 2>/dev/null
  [ $rc -ne 0 ] || fail "a job with a stopped student exited 0"
  [ $elapsed -le 14 ] || fail "the stopped job took ${elapsed}s to end (limit: step_timeout_s 4 + 10)"
  # Whichever deadline expires first ends the job: a student's watchdog, or the teacher's wait
  # for the stopped student's credit (both at step_timeout_s); each message names the step.
  grep -qE "step [0-9]+ made no progress for [0-9]+ s \(train.step_timeout_s = 4\)|at step [0-9]+ \(no progress within 4 s\)" "$tmp/stop.log" ||
    fail "no deadline message naming the step: $(grep -i error "$tmp/stop.log" | head -n 3)"
fi

# 4. SIGUSR1 to mpirun (Slurm's --signal): every rank checkpoints at a step boundary, exit 75;
#    the resumed run ends bitwise-equal to one never stopped.
long=(--set train.max_steps=1500 --set train.epochs=40 --set train.checkpoint_every_steps=1000 --set train.log_every_steps=100)
timeout 300 "${mpirun[@]}" -np 3 "$retort" train "$tmp/distill.yaml" "${long[@]}" --set run.out_dir="$tmp/whole" >"$tmp/whole.log" 2>&1 ||
  fail "uninterrupted long run failed"
"${mpirun[@]}" -np 3 "$retort" train "$tmp/distill.yaml" "${long[@]}" --set run.out_dir="$tmp/usr1" >"$tmp/usr1.log" 2>&1 &
job=$!
for _ in $(seq 200); do [ -s "$tmp/usr1/metrics.jsonl" ] && break; sleep 0.05; done
kill -USR1 $job
wait $job; rc=$?
if [ $rc -ne 75 ]; then
  fail "SIGUSR1: exit code $rc, expected 75 ($(tail -n 3 "$tmp/usr1.log"))"
else
  [ ! -e "$tmp/usr1/final.safetensors" ] || fail "a preempted run wrote final weights"
  timeout 300 "${mpirun[@]}" -np 3 "$retort" train "$tmp/distill.yaml" "${long[@]}" --set run.out_dir="$tmp/usr1" >"$tmp/resume.log" 2>&1 ||
    fail "resume after SIGUSR1 failed"
  grep -q "resumed from step" "$tmp/resume.log" || fail "the run after SIGUSR1 did not resume"
  cmp -s "$tmp/whole/final.safetensors" "$tmp/usr1/final.safetensors" || fail "resumed run differs from the uninterrupted one"
fi

# 5. SIGTERM to the teacher rank alone (rank 0; e.g. its container evicted): its stop relay tells
#    the students, which checkpoint at their next step boundary; the job exits 75, and the resumed
#    run ends bitwise-equal to one never stopped. Longer than case 4 (1500 steps take about 1 s on
#    a quiet machine: the job could end before the relayed stop reaches the students).
longer=(--set train.max_steps=8000 --set train.epochs=220 --set train.checkpoint_every_steps=2000 --set train.log_every_steps=100)
timeout 300 "${mpirun[@]}" -np 3 "$retort" train "$tmp/distill.yaml" "${longer[@]}" --set run.out_dir="$tmp/whole-longer" >"$tmp/whole-longer.log" 2>&1 ||
  fail "uninterrupted longer run failed"
"${mpirun[@]}" -np 3 "$retort" train "$tmp/distill.yaml" "${longer[@]}" --set run.out_dir="$tmp/term" >"$tmp/term.log" 2>&1 &
job=$!
for _ in $(seq 200); do [ -s "$tmp/term/metrics.jsonl" ] && break; sleep 0.05; done
teacher=""
for pid in $(pgrep -f "$retort train $tmp/distill.yaml"); do
  grep -qz "^OMPI_COMM_WORLD_RANK=0$" "/proc/$pid/environ" 2>/dev/null && teacher=$pid
done
if [ -z "$teacher" ]; then
  fail "could not find teacher rank 0"; kill -9 $job
else
  kill -TERM "$teacher"
  start=$(date +%s)
  wait $job; rc=$?
  elapsed=$(( $(date +%s) - start ))
  if [ $rc -ne 75 ]; then
    fail "SIGTERM to the teacher: exit code $rc after ${elapsed}s, expected 75 ($(tail -n 3 "$tmp/term.log"))"
  else
    grep -q "teacher 0 (rank 0): stop requested by a signal; telling the other 2 rank(s)" "$tmp/term.log" ||
      fail "the teacher did not relay its stop request: $(grep -iE "warn|error" "$tmp/term.log" | head -n 3)"
    grep -q "checkpointed after step" "$tmp/term.log" || fail "the students did not checkpoint after the teacher's SIGTERM"
    [ ! -e "$tmp/term/final.safetensors" ] || fail "a job whose teacher was sent SIGTERM wrote final weights"
    timeout 300 "${mpirun[@]}" -np 3 "$retort" train "$tmp/distill.yaml" "${longer[@]}" --set run.out_dir="$tmp/term" >"$tmp/term-resume.log" 2>&1 ||
      fail "resume after the teacher's SIGTERM failed"
    grep -q "resumed from step" "$tmp/term-resume.log" || fail "the run after the teacher's SIGTERM did not resume"
    cmp -s "$tmp/whole-longer/final.safetensors" "$tmp/term/final.safetensors" ||
      fail "the run resumed after the teacher's SIGTERM differs from the uninterrupted one"
  fi
fi

finish faults
