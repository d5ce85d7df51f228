#!/usr/bin/env bash
# e2e: SIGTERM to one rank of a 2-rank `retort teach` (its watchdog relays the stop to the
# other), for the MLP logits cache and the LM targets cache: the job stops at a shard boundary,
# exit 75, only whole shards (each equal to the uninterrupted run's) and no index.json; the rerun
# on that directory writes the same bytes.
source "$(dirname "$0")/../lib.sh"
export OMP_NUM_THREADS=1

teach() {  # teach CONFIG CACHE_DIR LOG: the 2-rank job, its exit code returned
  timeout 300 "${mpirun[@]}" -np 2 -x OMP_NUM_THREADS "$retort" teach "$1" \
    --set teacher.cache_dir="$2" >"$3" 2>&1
}

# check_stop NAME CONFIG SHARDS WRITTEN: the uninterrupted teach of CONFIG ($tmp/NAME-whole, SHARDS
# shard files), then one SIGTERMed once a log line matches WRITTEN (a shard written), then its rerun.
summary=""
check_stop() {
  local name=$1 config=$2 shards=$3 written_line=$4
  local whole=$tmp/$name-whole stopped=$tmp/$name-stopped start whole_s files job rank rc written
  start=$(date +%s%N)
  teach "$config" "$whole" "$whole.log" || { fail "$name: uninterrupted teach: $(tail -n 5 "$whole.log")"; return; }
  whole_s=$(awk -v ms=$(( ($(date +%s%N) - start) / 1000000 )) 'BEGIN { printf "%.1f", ms / 1000 }')
  files=$(ls "$whole" | grep -vc '^index.json$')
  [ "$files" -eq "$shards" ] || fail "$name: the uninterrupted cache has $files shard files, expected $shards"
  [ -s "$whole/index.json" ] || fail "$name: the uninterrupted teach wrote no index.json"

  # SIGTERM to one rank once the first shard is written.
  teach "$config" "$stopped" "$stopped.log" &
  job=$!
  for _ in $(seq 600); do
    grep -q "$written_line" "$stopped.log" 2>/dev/null && break
    sleep 0.05
  done
  rank=$(pgrep -f "^$retort teach $config --set teacher.cache_dir=$stopped" | tail -n 1)  # a rank (not mpirun)
  if [ -z "$rank" ]; then
    fail "$name: no teach rank to signal (the job ended within $(tail -n 2 "$stopped.log"))"
  else
    kill -TERM "$rank"
  fi
  wait "$job"
  rc=$?
  written=$(ls "$stopped" 2>/dev/null | grep -vc '^index.json$')
  if [ "$rc" -ne 75 ]; then
    fail "$name: SIGTERM to a teach rank: exit $rc, expected 75 (uninterrupted run: ${whole_s} s; $(tail -n 3 "$stopped.log"))"
  else
    grep -q "stop requested by a signal" "$stopped.log" || fail "$name: the signalled rank logged no relayed stop"
    [ "$(grep -c "stopped on request after" "$stopped.log")" -eq 2 ] || fail "$name: not both ranks logged their stop"
    [ ! -e "$stopped/index.json" ] || fail "$name: a stopped teach wrote index.json"
    [ "$written" -ge 1 ] && [ "$written" -lt "$shards" ] ||
      fail "$name: the stopped teach left $written shard files (expected 1..$((shards - 1)))"
    for f in "$stopped"/*; do  # whole shards only, and nothing else (no temporary files)
      cmp -s "$f" "$whole/$(basename "$f")" || fail "$name: $(basename "$f") of the stopped teach is not the uninterrupted one's"
    done
  fi

  # The rerun on the stopped directory: the same cache, byte for byte.
  teach "$config" "$stopped" "$tmp/$name-rerun.log" || fail "$name: the rerun after the stop: $(tail -n 5 "$tmp/$name-rerun.log")"
  diff -r "$whole" "$stopped" >/dev/null || fail "$name: the rerun cache differs from the uninterrupted one"
  summary+="${summary:+; }$name: SIGTERM after shard 1 of $shards, $written shard files left, uninterrupted ${whole_s} s"
}

# MLP: a 784-512-512-10 teacher (wide, so a shard of 4096 rows takes a while) trained for 5
# steps; its cache of all 60,000 training images is 15 shards, dense fp32, on 2 teacher ranks.
cat >"$tmp/mlp-teacher.yaml" <<YAML
run: {name: mlp-teacher, out_dir: $tmp/mlp-teacher, seed: 3}
student: {hidden: [512, 512]}
data: {train_fraction: 0.05}
train: {batch_size: 60, epochs: 1, max_steps: 5, log_every_steps: 5}
YAML
timeout 120 "$retort" train "$tmp/mlp-teacher.yaml" >"$tmp/mlp-teacher.log" 2>&1 ||
  { fail "MLP teacher training"; tail "$tmp/mlp-teacher.log"; exit 1; }
cat >"$tmp/mlp-teach.yaml" <<YAML
run: {name: mlp-teach, seed: 5}
student: {hidden: [12]}
teacher: {checkpoint: $tmp/mlp-teacher/final.safetensors, source: cache, cache_dir: $tmp/unused}
cluster: {teachers: 2, students: 1}
distill: {temperature: 3}
train: {batch_size: 60, epochs: 1}
YAML
check_stop mlp "$tmp/mlp-teach.yaml" 15 "] cache shard [0-9]* (samples .*) written"

# LM: a tiny Llama trained for 20 steps of the copy task.
cat >"$tmp/teacher.yaml" <<YAML
run: {name: lm-teacher, out_dir: $tmp/teacher, seed: 3}
data: {dataset: copy_task, seq_len: 16, copy_train_size: 2048}
student: {arch: llama, vocab_size: 16, dim: 48, n_layers: 2, n_heads: 4, n_kv_heads: 2, ffn_dim: 96}
optim: {name: adamw, lr: 0.003}
train: {batch_size: 32, epochs: 1, max_steps: 20, log_every_steps: 20}
YAML
timeout 120 "$retort" train "$tmp/teacher.yaml" >"$tmp/teacher.log" 2>&1 || { fail "LM teacher training"; tail "$tmp/teacher.log"; exit 1; }

# Its cache: 16 shards of 4096 windows (65,536 tokens each), top-4, on 2 teacher ranks.
cat >"$tmp/teach.yaml" <<YAML
run: {name: lm-teach, out_dir: $tmp/run, seed: 5}
data: {dataset: copy_task, seq_len: 16, copy_train_size: 65536}
student: {arch: llama, vocab_size: 16, dim: 32, n_layers: 1, n_heads: 2, ffn_dim: 64}
teacher: {checkpoint: $tmp/teacher/final.safetensors, source: cache, cache_dir: $tmp/unused}
cluster: {teachers: 2, students: 1}
distill: {temperature: 2, topk: 4, wire_dtype: bf16}
train: {batch_size: 256, epochs: 1}
YAML
check_stop lm "$tmp/teach.yaml" 16 "LM cache shard .* written"
finish "e2e_teach_stop ($summary)"
