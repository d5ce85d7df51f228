#!/usr/bin/env bash
# Kill anywhere: `retort launch --emulate --max-restarts` runs a 1-teacher + 2-student
# distillation while this script kill -9s a random rank (teacher or student) at random steps,
# KILLS times; the supervisor restarts the job from its newest good checkpoint each time, and
# the final student must be bitwise equal to an uninterrupted run.
# Usage: random_kill.sh path/to/retort [KILLS (default 3)] [SEED (default: random)]
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
kills=${2:-3}
seed=${3:-$((RANDOM * 32768 + RANDOM))}
RANDOM=$seed
steps=$((40 * kills + 80))
echo "random_kill: $kills kills, seed $seed, $steps steps"

train_small_teacher 32 20
cat >"$tmp/distill.yaml" <<YAML
run: {name: kill-anywhere}
student: {hidden: [256]}
data: {train_fraction: 0.05}
teacher: {checkpoint: $tmp/teacher/final.safetensors}
cluster: {teachers: 1, students: 2}
train: {batch_size: 60, epochs: 1000, max_steps: $steps, log_every_steps: 1, checkpoint_every_steps: 7,
        eval_every_steps: 0, eval_batch_size: 5000}
YAML
export RETORT_RESTART_BACKOFF_S=0.2 OMP_NUM_THREADS=1
timeout 600 "$retort" launch --emulate "$tmp/distill.yaml" --set run.out_dir="$tmp/whole" >"$tmp/whole.log" 2>&1 ||
  { fail "the uninterrupted run failed: $(tail -n 5 "$tmp/whole.log")"; finish random_kill; }

last_step() { tail -n 1 "$1" 2>/dev/null | sed -nE 's/.*"step": *([0-9]+).*/\1/p'; }
# rank_pid LAUNCHER RANK: the pid of world rank RANK of the launcher's current attempt.
rank_pid() {
  local m p
  for m in $(pgrep -P "$1"); do
    for p in $(pgrep -P "$m"); do
      tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$2" && { echo "$p"; return; }
    done
  done
}

out="$tmp/killed"
"$retort" launch --emulate --max-restarts $((kills + 2)) "$tmp/distill.yaml" --set run.out_dir="$out" \
  >"$tmp/killed.out" 2>"$tmp/killed.err" &
launcher=$!
done_kills=0
target=0
for k in $(seq "$kills"); do
  # The next kill point: a random step past the previous kill, leaving room to finish.
  room=$(( (steps - 20 - target) / (kills - k + 1) ))
  target=$((target + 2 + RANDOM % (room > 2 ? room - 1 : 1)))
  victim_rank=$((RANDOM % 3))
  deadline=$((SECONDS + 120))
  victim=""
  while [ $SECONDS -lt $deadline ] && kill -0 $launcher 2>/dev/null; do
    s=$(last_step "$out/metrics.jsonl")
    if [ -n "$s" ] && [ "$s" -ge "$target" ]; then
      victim=$(rank_pid $launcher $victim_rank)
      [ -n "$victim" ] && break
    fi
    sleep 0.01
  done
  if [ -z "$victim" ]; then
    fail "kill $k: rank $victim_rank never ran at step >= $target"
    break
  fi
  attempt=$(ps -o ppid= -p "$victim" | tr -d ' ')
  kill -9 "$victim"
  at=$(last_step "$out/metrics.jsonl")
  echo "kill $k: rank $victim_rank (pid $victim) at step ${at:-?} (target $target)"
  target=${at:-$target}
  done_kills=$((done_kills + 1))
  # Wait for this attempt to end before looking for the next one's ranks.
  while [ -n "$attempt" ] && kill -0 "$attempt" 2>/dev/null; do sleep 0.01; done
done
wait $launcher; rc=$?
[ "$rc" -eq 0 ] || fail "launch --max-restarts exited $rc: $(tail -n 5 "$tmp/killed.err")"
restarts=$(grep -c "retort launch: job failed: .*restart [0-9]* of" "$tmp/killed.err")
[ "$restarts" -eq "$done_kills" ] || fail "$done_kills kills but $restarts restarts: $(grep 'retort launch' "$tmp/killed.err")"
cmp -s "$tmp/whole/final.safetensors" "$out/final.safetensors" ||
  fail "after $done_kills kills the final student differs from the uninterrupted run"
steps_logged=$(grep -c '"kind": *"train"' "$out/metrics.jsonl")
dupes=$(sed -nE 's/.*"kind": *"train".*"step": *([0-9]+).*/\1/p' "$out/metrics.jsonl" | sort | uniq -d | wc -l)
[ "$dupes" -eq 0 ] || fail "metrics.jsonl repeats $dupes step(s) after the restarts"
echo "random_kill: $done_kills kills, $restarts restarts, seed $seed, $steps_logged train records"
finish random_kill
