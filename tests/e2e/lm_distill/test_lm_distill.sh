#!/usr/bin/env bash
# e2e of LM distillation through real mpirun: a tiny Llama teacher trained on the copy task with
# `retort train`, distilled online into a smaller student by 2 students and 1, 2, 3 teachers
# (bitwise-identical students, top-k and sampled targets; `retort launch --emulate` gives the same
# student), a stopped-and-resumed and a killed-and-resumed job bitwise equal to the uninterrupted
# one, online == cached (`retort teach`) bitwise, the metrics, and the refusals (exit 2, one line
# naming both sides): a cache made at another temperature, tokenizer mismatch, a padded teacher
# head without vocab_truncate, sampled targets with rkl.
source "$(dirname "$0")/../lib.sh"
export OMP_NUM_THREADS=1
run() {  # run NP ARGS... : a job that must succeed
  local np=$1; shift
  if ! timeout 180 "${mpirun[@]}" -np "$np" -x OMP_NUM_THREADS "$retort" "$@" >"$tmp/last.log" 2>&1; then
    fail "mpirun -np $np retort $*"; tail -n 20 "$tmp/last.log"; return 1
  fi
}
same() { cmp -s "$1" "$2" || fail "$3: $1 and $2 differ"; }

# The teacher: 40 steps of the copy task.
cat >"$tmp/teacher.yaml" <<YAML
run: {name: lm-teacher, out_dir: $tmp/teacher, seed: 3}
data: {dataset: copy_task, seq_len: 16, copy_train_size: 2048}
student: {arch: llama, vocab_size: 16, dim: 48, n_layers: 2, n_heads: 4, n_kv_heads: 2, ffn_dim: 96}
optim: {name: adamw, lr: 0.003}
train: {batch_size: 32, epochs: 1, max_steps: 40, log_every_steps: 40}
YAML
timeout 120 "$retort" train "$tmp/teacher.yaml" >"$tmp/teacher.log" 2>&1 || { fail "LM teacher training"; tail "$tmp/teacher.log"; exit 1; }

# The student: smaller, distilled from the teacher's final weights.
cat >"$tmp/distill.yaml" <<YAML
run: {name: lm-distill, seed: 5}
data: {dataset: copy_task, seq_len: 16, copy_train_size: 2048}
student: {arch: llama, vocab_size: 16, dim: 32, n_layers: 1, n_heads: 2, ffn_dim: 64}
teacher: {checkpoint: $tmp/teacher/final.safetensors}
cluster: {teachers: 1, students: 2}
distill: {temperature: 2, alpha: 0.1, topk: 4, wire_dtype: bf16, lookahead: 2}
optim: {name: adamw, lr: 0.003}
train: {batch_size: 8, epochs: 1, max_steps: 12, log_every_steps: 1, checkpoint_every_steps: 4}
YAML

# 1. Teachers 1, 2, 3 with two students: bitwise-identical students (top-k targets).
for t in 1 2 3; do
  run $((t + 2)) train "$tmp/distill.yaml" --set cluster.teachers=$t --set run.out_dir="$tmp/t$t"
done
same "$tmp/t1/final.safetensors" "$tmp/t2/final.safetensors" "top-k: teachers 1 vs 2"
same "$tmp/t1/final.safetensors" "$tmp/t3/final.safetensors" "top-k: teachers 1 vs 3"
# The metrics of an LM distillation record.
rec=$(grep '"kind":"train"' "$tmp/t1/metrics.jsonl" | tail -n 1)
for key in kd ce teacher_agreement tokens_per_s teacher_wait_fraction teacher_bytes_per_token; do
  grep -q "\"$key\":" <<<"$rec" || fail "metrics.jsonl train record lacks $key: $rec"
done
# top-4 in bf16 over the wire: 4 ids (4 B) + 4 values (2 B) + lse (4 B) = 28 bytes per token.
bpt=$(sed -E 's/.*"teacher_bytes_per_token":([0-9.e+-]+).*/\1/' <<<"$rec")
awk -v b="$bpt" 'BEGIN { exit !(b >= 27.9 && b <= 28.1) }' || fail "top-4 bytes per token $bpt, expected 28"
grep -q '"windows_served"' "$tmp/t1/teacher-0.metrics.jsonl" || fail "teacher metrics lack windows_served"

# retort launch --emulate runs the same job (1 teacher + 2 students): the same student.
timeout -k 10 150 "$retort" launch --emulate "$tmp/distill.yaml" --set run.out_dir="$tmp/launched" >"$tmp/launch.log" 2>&1 ||
  fail "retort launch --emulate of the LM distillation: $(tail -n 5 "$tmp/launch.log")"
grep -q '^retort launch: .*mpirun .*-np 3 ' "$tmp/launch.log" || fail "launch --emulate printed no mpirun -np 3 line"
same "$tmp/t1/final.safetensors" "$tmp/launched/final.safetensors" "retort launch --emulate vs mpirun"

# 2. Sampled targets (n 8): teachers 1 vs 2 bitwise, and different from top-k (the test can fail).
run 3 train "$tmp/distill.yaml" --set distill.topk=0 --set distill.targets=sampled --set distill.samples=8 \
  --set run.out_dir="$tmp/s1"
run 4 train "$tmp/distill.yaml" --set distill.topk=0 --set distill.targets=sampled --set distill.samples=8 \
  --set cluster.teachers=2 --set run.out_dir="$tmp/s2"
same "$tmp/s1/final.safetensors" "$tmp/s2/final.safetensors" "sampled: teachers 1 vs 2"
cmp -s "$tmp/s1/final.safetensors" "$tmp/t1/final.safetensors" && fail "sampled and top-k students are identical (vacuous)"

# 3. Stopped after step 6 (checkpointed), resumed with 2 teachers: equal to the uninterrupted run.
run 3 train "$tmp/distill.yaml" --set run.out_dir="$tmp/stopped" --stop-after-step 6
[ ! -e "$tmp/stopped/final.safetensors" ] || fail "a run stopped at step 6 wrote final weights"
run 4 train "$tmp/distill.yaml" --set run.out_dir="$tmp/stopped" --set cluster.teachers=2
grep -q "resumed from step 6" "$tmp/last.log" || fail "the stopped LM distillation did not resume from step 6"
same "$tmp/t1/final.safetensors" "$tmp/stopped/final.safetensors" "stopped + resumed vs uninterrupted"

# 4. SIGKILL to a rank after the first checkpoint, then resumed.
long=(--set train.epochs=10 --set train.max_steps=1200 --set train.checkpoint_every_steps=100)  # ~8 s here
( timeout 180 "${mpirun[@]}" -np 3 -x OMP_NUM_THREADS "$retort" train "$tmp/distill.yaml" "${long[@]}" \
    --set run.out_dir="$tmp/killed" >"$tmp/killed.log" 2>&1 ) &
job=$!
for _ in $(seq 1 1200); do [ -d "$tmp/killed/checkpoints/step-00000200" ] && break; sleep 0.05; done
rank=$(pgrep -f "^$retort train $tmp/distill.yaml .*run.out_dir=$tmp/killed" | tail -n 1)
if [ -n "$rank" ] && [ ! -f "$tmp/killed/final.safetensors" ]; then kill -9 "$rank"; else fail "no rank to kill (run too fast?)"; fi
wait $job && fail "the killed LM distillation exited 0"
[ -f "$tmp/killed/final.safetensors" ] && fail "the killed job finished before the kill"
run 3 train "$tmp/distill.yaml" "${long[@]}" --set run.out_dir="$tmp/killed"
grep -q "resumed from step" "$tmp/last.log" || fail "the killed LM distillation did not resume"
run 3 train "$tmp/distill.yaml" "${long[@]}" --set run.out_dir="$tmp/whole"
same "$tmp/whole/final.safetensors" "$tmp/killed/final.safetensors" "killed + resumed vs uninterrupted"

# 5. Offline: `retort teach` writes the LM targets cache; students reading it equal the online
#    ones bitwise (top-k and sampled); `retort teach --stats` reports bytes per token.
run 1 teach "$tmp/distill.yaml" --set teacher.cache_dir="$tmp/cache"
run 2 train "$tmp/distill.yaml" --set teacher.source=cache --set teacher.cache_dir="$tmp/cache" --set run.out_dir="$tmp/cached"
same "$tmp/t1/final.safetensors" "$tmp/cached/final.safetensors" "top-k: online vs cached"
sampled=(--set distill.topk=0 --set distill.targets=sampled --set distill.samples=8)
run 1 teach "$tmp/distill.yaml" "${sampled[@]}" --set teacher.cache_dir="$tmp/cache-sampled"
run 2 train "$tmp/distill.yaml" "${sampled[@]}" --set teacher.source=cache --set teacher.cache_dir="$tmp/cache-sampled" \
  --set run.out_dir="$tmp/cached-sampled"
same "$tmp/s1/final.safetensors" "$tmp/cached-sampled/final.safetensors" "sampled: online vs cached"
"$retort" teach --stats "$tmp/cache" >"$tmp/stats.out" 2>&1 || fail "retort teach --stats: $(tail -n 2 "$tmp/stats.out")"
grep -qi "bytes" "$tmp/stats.out" || fail "retort teach --stats printed no bytes per token: $(cat "$tmp/stats.out")"

# 6. Refusals: exit 2 and one line naming both sides.
refused() {  # refused NP MESSAGE_REGEX ARGS...
  local np=$1 want=$2; shift 2
  timeout 120 "${mpirun[@]}" -np "$np" -x OMP_NUM_THREADS "$retort" "$@" >"$tmp/refused.log" 2>&1; local rc=$?
  [ "$rc" -eq 2 ] || fail "retort $* exited $rc, expected 2: $(tail -n 3 "$tmp/refused.log")"
  grep -Eq "$want" "$tmp/refused.log" || fail "retort $*: no line matching '$want': $(tail -n 3 "$tmp/refused.log")"
}
refused 2 "made at temperature 2, this job distills at 4" train "$tmp/distill.yaml" --set teacher.source=cache \
  --set teacher.cache_dir="$tmp/cache" --set distill.temperature=4 --set run.out_dir="$tmp/r3"
"$retort" config check "$tmp/distill.yaml" --set distill.topk=0 --set distill.targets=sampled \
  --set distill.divergence=rkl >/dev/null 2>"$tmp/rkl.err"; rc=$?
[ "$rc" -eq 2 ] && grep -q "sampled targets estimate only fkl (jsd with beta 0), but distill.divergence is rkl" "$tmp/rkl.err" ||
  fail "sampled + rkl not refused (exit $rc): $(cat "$tmp/rkl.err")"
# Token shards of two tokenizers; a teacher with a head padded past the first's vocabulary.
corpus=(/usr/share/games/fortunes/computers)
for v in 420 380; do
  "$retort" tokenizer train --vocab $v --out "$tmp/tok$v" "${corpus[@]}" >/dev/null 2>&1 || fail "tokenizer train $v"
  "$retort" tokenize --tokenizer "$tmp/tok$v/tokenizer.model" --out "$tmp/shards$v" --separator % --val-fraction 0.1 \
    "${corpus[@]}" >/dev/null 2>&1 || fail "tokenize $v"
done
cat >"$tmp/text-teacher.yaml" <<YAML
run: {name: text-teacher, out_dir: $tmp/text-teacher, seed: 1}
data: {dataset: tokens, dir: $tmp/shards420, seq_len: 16}
student: {arch: llama, vocab_size: 424, dim: 32, n_layers: 1, n_heads: 2, ffn_dim: 64}
train: {batch_size: 8, epochs: 1, max_steps: 2, log_every_steps: 2}
YAML
timeout 60 "$retort" train "$tmp/text-teacher.yaml" >"$tmp/text-teacher.log" 2>&1 || fail "text teacher: $(tail -n 2 "$tmp/text-teacher.log")"
text=(train "$tmp/distill.yaml" --set data.dataset=tokens --set student.vocab_size=0 --set train.max_steps=2
      --set teacher.checkpoint="$tmp/text-teacher/final.safetensors" --set train.checkpoint_every_steps=0)
refused 3 "teacher.checkpoint .* uses tokenizer [0-9a-f]{16}, but data.dir .*shards380 was tokenized with [0-9a-f]{16}" \
  "${text[@]}" --set data.dir="$tmp/shards380" --set run.out_dir="$tmp/r1"
refused 3 "the teacher's head has 424 rows, the vocabulary of data.dir .*shards420 has 420 .*distill.vocab_truncate: true" \
  "${text[@]}" --set data.dir="$tmp/shards420" --set run.out_dir="$tmp/r2"
run 3 "${text[@]}" --set data.dir="$tmp/shards420" --set distill.vocab_truncate=true --set run.out_dir="$tmp/truncated"
[ -f "$tmp/truncated/final.safetensors" ] || fail "distillation with distill.vocab_truncate: true did not finish"
finish test_lm_distill
