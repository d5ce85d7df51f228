#!/usr/bin/env bash
# e2e: SIGTERM to one rank of a 2-rank LM `retort teach` (its watchdog relays the stop to the
# other): the job stops at a shard boundary, exit 75, only whole shards (each equal to the
# uninterrupted run's) and no index.json; the rerun on that directory writes the same bytes.
source "$(dirname "$0")/../lib.sh"
export OMP_NUM_THREADS=1

# The teacher: a tiny Llama trained for 20 steps of the copy task.
cat >"$tmp/teacher.yaml" <<YAML
run: {name: lm-teacher, out_dir: $tmp/teacher, seed: 3}
data: {dataset: copy_task, seq_len: 16, copy_train_size: 2048}
student: {arch: llama, vocab_size: 16, dim: 48, n_layers: 2, n_heads: 4, n_kv_heads: 2, ffn_dim: 96}
optim: {name: adamw, lr: 0.003}
train: {batch_size: 32, epochs: 1, max_steps: 20, log_every_steps: 20}
YAML
timeout 120 "$retort" train "$tmp/teacher.yaml" >"$tmp/teacher.log" 2>&1 || { fail "LM teacher training"; tail "$tmp/teacher.log"; exit 1; }

# The cache: 16 shards of 4096 windows (65,536 tokens each), top-4, on 2 teacher ranks.
cat >"$tmp/teach.yaml" <<YAML
run: {name: lm-teach, out_dir: $tmp/run, seed: 5}
data: {dataset: copy_task, seq_len: 16, copy_train_size: 65536}
student: {arch: llama, vocab_size: 16, dim: 32, n_layers: 1, n_heads: 2, ffn_dim: 64}
teacher: {checkpoint: $tmp/teacher/final.safetensors, source: cache, cache_dir: $tmp/whole}
cluster: {teachers: 2, students: 1}
distill: {temperature: 2, topk: 4, wire_dtype: bf16}
train: {batch_size: 256, epochs: 1}
YAML
teach() {  # teach CACHE_DIR LOG: the 2-rank job, its exit code returned
  timeout 300 "${mpirun[@]}" -np 2 -x OMP_NUM_THREADS "$retort" teach "$tmp/teach.yaml" \
    --set teacher.cache_dir="$1" >"$2" 2>&1
}
start=$(date +%s%N)
teach "$tmp/whole" "$tmp/whole.log" || { fail "uninterrupted teach: $(tail -n 5 "$tmp/whole.log")"; finish e2e_teach_stop; }
whole_s=$(awk -v ms=$(( ($(date +%s%N) - start) / 1000000 )) 'BEGIN { printf "%.1f", ms / 1000 }')
shards=$(ls "$tmp/whole" | grep -vc '^index.json$')
[ "$shards" -eq 16 ] || fail "the uninterrupted cache has $shards shard files, expected 16"
[ -s "$tmp/whole/index.json" ] || fail "the uninterrupted teach wrote no index.json"

# SIGTERM to one rank once the first shard is written.
teach "$tmp/stopped" "$tmp/stopped.log" &
job=$!
for _ in $(seq 600); do
  grep -q "LM cache shard .* written" "$tmp/stopped.log" 2>/dev/null && break
  sleep 0.05
done
rank=$(pgrep -f "^$retort teach $tmp/teach.yaml --set teacher.cache_dir=$tmp/stopped" | tail -n 1)  # a rank (not mpirun)
if [ -z "$rank" ]; then
  fail "no teach rank to signal (the job ended within $(tail -n 2 "$tmp/stopped.log"))"
else
  kill -TERM "$rank"
fi
wait "$job"
rc=$?
written=$(ls "$tmp/stopped" 2>/dev/null | grep -vc '^index.json$')
if [ "$rc" -ne 75 ]; then
  fail "SIGTERM to a teach rank: exit $rc, expected 75 (uninterrupted run: ${whole_s} s; $(tail -n 3 "$tmp/stopped.log"))"
else
  grep -q "stop requested by a signal" "$tmp/stopped.log" || fail "the signalled rank logged no relayed stop"
  [ "$(grep -c "stopped on request after" "$tmp/stopped.log")" -eq 2 ] || fail "not both ranks logged their stop"
  [ ! -e "$tmp/stopped/index.json" ] || fail "a stopped teach wrote index.json"
  [ "$written" -ge 1 ] && [ "$written" -lt 16 ] || fail "the stopped teach left $written shard files (expected 1..15)"
  for f in "$tmp/stopped"/*; do  # whole shards only, and nothing else (no temporary files)
    cmp -s "$f" "$tmp/whole/$(basename "$f")" || fail "$(basename "$f") of the stopped teach is not the uninterrupted one's"
  done
fi

# The rerun on the stopped directory: the same cache, byte for byte.
teach "$tmp/stopped" "$tmp/rerun.log" || fail "the rerun after the stop: $(tail -n 5 "$tmp/rerun.log")"
diff -r "$tmp/whole" "$tmp/stopped" >/dev/null || fail "the rerun cache differs from the uninterrupted one"
finish "e2e_teach_stop (SIGTERM after shard 1 of 16, $written shard files left, uninterrupted ${whole_s} s)"
