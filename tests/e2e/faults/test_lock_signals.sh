#!/usr/bin/env bash
# e2e: one job per run directory (a second `retort train` or `retort launch` on a busy run.out_dir
# exits 2 naming the holder's host and PID; the holder's run is untouched; a killed holder's lock
# does not block), SIGINT/SIGHUP to `retort launch` end in a checkpoint and exit 75, and
# `retort inspect /dev/zero` is an input error.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
export OMP_NUM_THREADS=1
cat >"$tmp/sup.yaml" <<YAML
run: {name: lock}
student: {hidden: [64]}
data: {train_fraction: 0.05}
train: {batch_size: 60, epochs: 200, max_steps: 4000, log_every_steps: 50, checkpoint_every_steps: 500, eval_every_steps: 0}
YAML
wait_for_file() { for _ in $(seq 300); do [ -s "$1" ] && return 0; sleep 0.05; done; return 1; }

# 1. Two `retort train` on one directory: the second exits 2 naming the first.
"$retort" train "$tmp/sup.yaml" --set run.out_dir="$tmp/busy" >"$tmp/first.log" 2>&1 &
first=$!
wait_for_file "$tmp/busy/metrics.jsonl" || fail "the first job wrote no metrics"
timeout 60 "$retort" train "$tmp/sup.yaml" --set run.out_dir="$tmp/busy" >"$tmp/second.log" 2>&1; rc=$?
[ $rc -eq 2 ] || fail "a second job on a busy run.out_dir exited $rc, expected 2: $(tail -n 3 "$tmp/second.log")"
grep -q "run.out_dir: $tmp/busy is in use by another job (host $(hostname), PID $first, lock $tmp/busy/.retort.lock)" \
  "$tmp/second.log" || fail "the refusal does not name the holder: $(cat "$tmp/second.log")"
# The holder is killed once it has a checkpoint to resume from (step 500; not the .tmp being written).
for _ in $(seq 600); do compgen -G "$tmp/busy/checkpoints/step-????????/manifest.json" >/dev/null && break; sleep 0.05; done
kill -9 $first; wait $first 2>/dev/null

# 2. A killed holder leaves its lock file behind; the next job takes it and resumes.
grep -q " $first\$" "$tmp/busy/.retort.lock" || fail "the lock file does not name the killed holder"
timeout 300 "$retort" train "$tmp/sup.yaml" --set run.out_dir="$tmp/busy" --stop-after-step 1200 >"$tmp/third.log" 2>&1 ||
  fail "a job after a killed holder failed: $(tail -n 3 "$tmp/third.log")"
grep -q "resumed from step" "$tmp/third.log" || fail "the job after a killed holder did not resume: $(tail -n 3 "$tmp/third.log")"
dupes=$(sed -nE 's/.*"kind":"train".*"step":([0-9]+).*/\1/p' "$tmp/busy/metrics.jsonl" | sort | uniq -d | wc -l)
[ "$dupes" -eq 0 ] || fail "metrics.jsonl repeats $dupes step(s) after the restart"

# 3. `retort launch` holds the directory for its job; another job is refused naming the launcher.
"$retort" launch --emulate --max-restarts 1 "$tmp/sup.yaml" --set run.out_dir="$tmp/launched" >"$tmp/launch.out" 2>"$tmp/launch.err" &
launcher=$!
wait_for_file "$tmp/launched/metrics.jsonl" || fail "the launched job wrote no metrics"
timeout 60 "$retort" train "$tmp/sup.yaml" --set run.out_dir="$tmp/launched" >"$tmp/intruder.log" 2>&1; rc=$?
[ $rc -eq 2 ] || fail "a job on a launcher's run.out_dir exited $rc, expected 2"
grep -q "is in use by another job (host $(hostname), PID $launcher," "$tmp/intruder.log" ||
  fail "the refusal does not name the launcher (PID $launcher): $(cat "$tmp/intruder.log")"
timeout 60 "$retort" launch --emulate "$tmp/sup.yaml" --set run.out_dir="$tmp/launched" >/dev/null 2>"$tmp/intruder2.log"; rc=$?
[ $rc -eq 2 ] || fail "a second launcher on a busy run.out_dir exited $rc, expected 2"

# 4. SIGINT (then, on the next run, SIGHUP) to the launcher: checkpoint, exit 75.
for sig in INT HUP; do
  [ $sig = INT ] || {
    "$retort" launch --emulate --max-restarts 1 "$tmp/sup.yaml" --set run.out_dir="$tmp/hup" >"$tmp/launch.out" 2>"$tmp/launch.err" &
    launcher=$!
    wait_for_file "$tmp/hup/metrics.jsonl" || fail "the SIGHUP job wrote no metrics"
  }
  kill -$sig $launcher
  wait $launcher; rc=$?
  [ $rc -eq 75 ] || fail "SIG$sig to retort launch: exit $rc, expected 75: $(tail -n 3 "$tmp/launch.err")"
  grep -q "preempted: checkpoint written" "$tmp/launch.err" || fail "SIG$sig: no preemption line: $(tail -n 3 "$tmp/launch.err")"
done

# 5. inspect reads regular files only.
timeout 20 "$retort" inspect /dev/zero >/dev/null 2>"$tmp/inspect.err"; rc=$?
[ $rc -eq 2 ] || fail "retort inspect /dev/zero exited $rc, expected 2"
grep -q "/dev/zero: not a regular file" "$tmp/inspect.err" || fail "inspect /dev/zero: $(cat "$tmp/inspect.err")"
finish lock_signals
