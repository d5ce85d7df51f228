#!/usr/bin/env bash
# e2e: the distillation job through real mpirun. Trains a small teacher once, then checks the
# invariants: teacher count does not change the student (bitwise), S=1 vs S=2 loss curves agree,
# dense fp32 == top-k with k=V, the teacher never runs more than `lookahead` ahead, online ==
# offline (bitwise), and exact resume of a distillation stopped mid-run.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
run() {  # run NP ARGS... : a job that must succeed
  local np=$1; shift
  if ! timeout 300 "${mpirun[@]}" -np "$np" "$retort" "$@" >"$tmp/last.log" 2>&1; then
    fail "mpirun -np $np retort $*"; tail -n 30 "$tmp/last.log"; return 1
  fi
}
same() { cmp -s "$1" "$2" || fail "$3: $1 and $2 differ"; }

cat >"$tmp/distill.yaml" <<YAML
run: {name: distill, seed: 5}
student: {hidden: [12]}
data: {train_fraction: 0.05}
teacher: {checkpoint: $tmp/teacher/final.safetensors}
cluster: {teachers: 1, students: 2}
distill: {temperature: 3, alpha: 0.2, lookahead: 2}
train: {batch_size: 60, epochs: 1, max_steps: 20, log_every_steps: 1, eval_batch_size: 2000}
optim: {lr: 0.02}
YAML
train_small_teacher 48 40 3

# 1. Teachers 1, 2, 3 with two students: bitwise-identical students.
for t in 1 2 3; do
  run $((t + 2)) train "$tmp/distill.yaml" --set cluster.teachers=$t --set run.out_dir="$tmp/t$t"
done
same "$tmp/t1/final.safetensors" "$tmp/t2/final.safetensors" "teachers 1 vs 2"
same "$tmp/t1/final.safetensors" "$tmp/t3/final.safetensors" "teachers 1 vs 3"
# A teacher grouping both students' rows into forwards of 7 rows gives the same student too.
run 3 train "$tmp/distill.yaml" --set distill.teacher_batch=7 --set run.out_dir="$tmp/grouped"
same "$tmp/t1/final.safetensors" "$tmp/grouped/final.safetensors" "teacher_batch 7 vs one forward per message"

# 2. One student vs two at the same global batch: the same loss curve within 1e-5 per step.
run 2 train "$tmp/distill.yaml" --set cluster.students=1 --set run.out_dir="$tmp/s1"
losses() { grep '"kind":"train"' "$1" | sed -E 's/.*"loss":([^,}]+).*/\1/'; }
paste <(losses "$tmp/s1/metrics.jsonl") <(losses "$tmp/t1/metrics.jsonl") >"$tmp/curves"
[ "$(wc -l <"$tmp/curves")" -eq 20 ] || fail "expected 20 logged steps, got $(wc -l <"$tmp/curves")"
awk '{ d = $1 - $2; if (d < 0) d = -d; m = $2 < 0 ? -$2 : $2; if (d > 1e-5 * m) { print "step " NR ": " $1 " vs " $2; bad = 1 } } END { exit bad }' "$tmp/curves" ||
  fail "S=1 and S=2 loss curves differ by more than 1e-5 relative"

# 3. Dense fp32 wire vs top-k with k = V (10 classes): the same loss to 1e-6.
run 3 train "$tmp/distill.yaml" --set distill.topk=10 --set run.out_dir="$tmp/topk"
paste <(losses "$tmp/t1/metrics.jsonl") <(losses "$tmp/topk/metrics.jsonl") |
  awk '{ d = $1 - $2; if (d < 0) d = -d; if (d > 1e-6) { print "step " NR ": " $1 " vs " $2; bad = 1 } } END { exit bad }' ||
  fail "dense and top-k (k=V) losses differ by more than 1e-6"

# 4. The teacher never ran more than lookahead (2) messages ahead of a student.
max=$(sed -E 's/.*"max_in_flight":([0-9]+).*/\1/' "$tmp/t1/teacher-0.metrics.jsonl" | sort -n | tail -n 1)
[ -n "$max" ] && [ "$max" -ge 1 ] && [ "$max" -le 2 ] || fail "teacher max_in_flight $max is outside [1, lookahead=2]"

# 5. Offline: retort teach writes the cache, training from it equals the online student bitwise.
run 1 teach "$tmp/distill.yaml" --set teacher.cache_dir="$tmp/cache"
run 2 train "$tmp/distill.yaml" --set teacher.source=cache --set teacher.cache_dir="$tmp/cache" --set run.out_dir="$tmp/offline"
same "$tmp/t1/final.safetensors" "$tmp/offline/final.safetensors" "online vs offline"
"$retort" inspect "$tmp/cache/index.json" | grep -q "samples 3000" || fail "inspect of the cache index"

# 6. A cache that does not match the job is refused with the field named (exit 2).
timeout 60 "${mpirun[@]}" -np 2 "$retort" train "$tmp/distill.yaml" --set teacher.source=cache \
  --set teacher.cache_dir="$tmp/cache" --set distill.topk=3 --set run.out_dir="$tmp/bad" >"$tmp/bad.log" 2>&1
rc=$?
[ $rc -ne 0 ] || fail "a mismatched cache was accepted"
grep -q "cache has topk (distill.topk) = 0, but this job needs 3" "$tmp/bad.log" || fail "mismatched cache message: $(tail -n 3 "$tmp/bad.log")"

# 7. Exact resume: stopped after step 8 (checkpointed), resumed to the end, equals the run done
#    in one go bitwise; the teacher restarts at the step the students resume from.
run 3 train "$tmp/distill.yaml" --set run.out_dir="$tmp/resume" --set train.checkpoint_every_steps=4 --stop-after-step 8
[ ! -e "$tmp/resume/final.safetensors" ] || fail "a run stopped at step 8 wrote final weights"
run 3 train "$tmp/distill.yaml" --set run.out_dir="$tmp/resume" --set train.checkpoint_every_steps=4
grep -q "resumed from step 8" "$tmp/last.log" || fail "second run did not resume from step 8"
same "$tmp/t1/final.safetensors" "$tmp/resume/final.safetensors" "resumed vs uninterrupted"

finish distill
