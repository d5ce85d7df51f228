#!/usr/bin/env bash
# e2e of language-model training through the real binary: a tiny Llama learns the synthetic copy
# task (>= 99% token accuracy, < 60 s on 2 cores); a 2-rank data-parallel run ends bitwise equal
# to its own rerun; runs stopped at a step, crashed while checkpointing, and killed with SIGKILL
# mid-run each resume to weights bitwise equal to the uninterrupted run.
source "$(dirname "$0")/../lib.sh"

cat >"$tmp/copy.yaml" <<YAML
run: {name: copy, out_dir: $tmp/single, seed: 3}
data: {dataset: copy_task, seq_len: 16, copy_train_size: 8192}
student: {arch: llama, vocab_size: 16, dim: 64, n_layers: 2, n_heads: 4, n_kv_heads: 2, ffn_dim: 128}
optim: {name: adamw, lr: 0.003}
schedule: {name: cosine, warmup_steps: 20}
train: {batch_size: 32, epochs: 1, log_every_steps: 64, checkpoint_every_steps: 40}
YAML
field() { grep -o "\"$2\": [-0-9.e]*" "$1" | head -n 1 | awk '{print $2}'; }

# 1. It learns: one rank, the whole task.
start=$(date +%s)
OMP_NUM_THREADS=1 timeout 120 "$retort" train "$tmp/copy.yaml" >"$tmp/single.log" 2>&1 || { fail "single-rank training"; tail "$tmp/single.log"; }
secs=$(( $(date +%s) - start ))
acc=$(field "$tmp/single/summary.json" test_accuracy)
awk -v a="${acc:-0}" 'BEGIN { exit !(a >= 0.99) }' || fail "copy task token accuracy $acc < 0.99"
[ "$secs" -lt 60 ] || fail "copy task took $secs s (budget 60 s)"
grep -q '"tokens_per_s"' "$tmp/single/metrics.jsonl" || fail "metrics.jsonl has no tokens_per_s"
grep -q '"test_perplexity"' "$tmp/single/summary.json" || fail "summary.json has no test_perplexity"
echo "copy task: token accuracy $acc in $secs s"
"$retort" eval --checkpoint "$tmp/single/final.safetensors" --config "$tmp/copy.yaml" >"$tmp/eval.out" 2>&1 ||
  fail "retort eval of the LM: $(cat "$tmp/eval.out")"
grep -q "validation perplexity" "$tmp/eval.out" || fail "retort eval printed no perplexity: $(cat "$tmp/eval.out")"

# 2. Two data-parallel students, twice: the same bits.
dp() {  # dp OUT_DIR [extra env for the ranks...]
  local out=$1; shift
  timeout 180 "${mpirun[@]}" -np 2 -x OMP_NUM_THREADS=1 "$@" "$retort" train "$tmp/copy.yaml" \
    --set cluster.students=2 --set run.out_dir="$out" --set train.max_steps=120 >"$out.log" 2>&1
}
dp "$tmp/dp1" || { fail "2-rank run"; tail "$tmp/dp1.log"; }
dp "$tmp/dp2" || { fail "2-rank rerun"; tail "$tmp/dp2.log"; }
cmp -s "$tmp/dp1/final.safetensors" "$tmp/dp2/final.safetensors" || fail "2-rank rerun trained different weights"
cmp -s "$tmp/dp1/final.safetensors" "$tmp/single/final.safetensors" && fail "the 120-step run equals the full run (test is vacuous)"

# 3a. Stopped after a step (checkpoint and exit), then resumed.
timeout 180 "${mpirun[@]}" -np 2 -x OMP_NUM_THREADS=1 "$retort" train "$tmp/copy.yaml" --stop-after-step 37 \
  --set cluster.students=2 --set run.out_dir="$tmp/stopped" --set train.max_steps=120 >"$tmp/stopped.log" 2>&1 ||
  fail "stop-after-step run"
[ -f "$tmp/stopped/final.safetensors" ] && fail "a run stopped at step 37 wrote final weights"
dp "$tmp/stopped" || fail "resume after stop"
grep -q "resumed from step 37" "$tmp/stopped.log" || fail "the stopped run did not resume from step 37"
cmp -s "$tmp/dp1/final.safetensors" "$tmp/stopped/final.safetensors" || fail "stopped + resumed differs from the uninterrupted run"

# 3b. Crashed while writing the step-80 checkpoint (before its rename), then resumed from step 40.
dp "$tmp/crashed" -x RETORT_FAULT_CKPT_BEFORE_RENAME=80 && fail "the fault hook did not crash the run"
dp "$tmp/crashed" || fail "resume after crash"
grep -q "resumed from step 40" "$tmp/crashed.log" || fail "the crashed run did not resume from step 40"
cmp -s "$tmp/dp1/final.safetensors" "$tmp/crashed/final.safetensors" || fail "crashed + resumed differs from the uninterrupted run"

# 3c. SIGKILL to a rank mid-run (after the first checkpoint), then resumed.
( timeout 180 "${mpirun[@]}" -np 2 -x OMP_NUM_THREADS=1 "$retort" train "$tmp/copy.yaml" --set cluster.students=2 \
    --set run.out_dir="$tmp/killed" --set train.max_steps=240 >"$tmp/killed.log" 2>&1 ) &
job=$!
for _ in $(seq 1 600); do [ -d "$tmp/killed/checkpoints/step-00000040" ] && break; sleep 0.05; done
rank=$(pgrep -f "^$retort train $tmp/copy.yaml --set cluster.students=2 --set run.out_dir=$tmp/killed" | head -n 1)
if [ -n "$rank" ] && [ ! -f "$tmp/killed/final.safetensors" ]; then kill -9 "$rank"; else fail "no rank to kill (run too fast?)"; fi
wait $job && fail "the killed job exited 0"
[ -f "$tmp/killed/final.safetensors" ] && fail "the killed job finished before the kill"
timeout 180 "${mpirun[@]}" -np 2 -x OMP_NUM_THREADS=1 "$retort" train "$tmp/copy.yaml" --set cluster.students=2 \
  --set run.out_dir="$tmp/killed" --set train.max_steps=240 >"$tmp/killed.log" 2>&1 || fail "resume after kill"
grep -q "resumed from step" "$tmp/killed.log" || fail "the killed run did not resume"
timeout 180 "${mpirun[@]}" -np 2 -x OMP_NUM_THREADS=1 "$retort" train "$tmp/copy.yaml" --set cluster.students=2 \
  --set run.out_dir="$tmp/whole240" --set train.max_steps=240 >"$tmp/whole240.log" 2>&1 || fail "uninterrupted 240-step run"
cmp -s "$tmp/whole240/final.safetensors" "$tmp/killed/final.safetensors" || fail "killed + resumed differs from the uninterrupted run"

# 3d. student.init_from: the trained weights (and their HF export) start a run where they ended.
"$retort" export hf "$tmp/single/final.safetensors" "$tmp/hf" >"$tmp/export.log" 2>&1 || fail "export hf: $(tail -2 "$tmp/export.log")"
for src in "$tmp/single/final.safetensors" "$tmp/hf"; do
  rm -rf "$tmp/init"
  OMP_NUM_THREADS=1 timeout 60 "$retort" train "$tmp/copy.yaml" --set student.init_from="$src" --set run.out_dir="$tmp/init" \
    --set train.max_steps=2 --set optim.lr=1e-6 >"$tmp/init.log" 2>&1 || { fail "init_from $src"; tail -3 "$tmp/init.log"; }
  acc=$(field "$tmp/init/summary.json" test_accuracy)
  awk -v a="${acc:-0}" 'BEGIN { exit !(a >= 0.99) }' || fail "2 steps from $src: token accuracy $acc (the weights were not loaded?)"
done
"$retort" train "$tmp/copy.yaml" --set student.init_from="$tmp/missing" --set run.out_dir="$tmp/init2" >/dev/null 2>"$tmp/init.err"
[ $? -eq 2 ] || fail "a missing student.init_from did not exit 2: $(cat "$tmp/init.err")"

# 5. Real text: a SentencePiece tokenizer trained here, `retort tokenize` shards, training on them.
corpus=(/usr/share/games/fortunes/computers /usr/share/games/fortunes/science)
"$retort" tokenizer train --vocab 512 --out "$tmp/tok" "${corpus[@]}" >"$tmp/tok.log" 2>&1 || fail "tokenizer train: $(tail -2 "$tmp/tok.log")"
"$retort" tokenize --tokenizer "$tmp/tok/tokenizer.model" --out "$tmp/shards" --separator % --val-fraction 0.1 \
  "${corpus[@]}" >"$tmp/tokenize.log" 2>&1 || fail "tokenize: $(tail -2 "$tmp/tokenize.log")"
cat >"$tmp/text.yaml" <<YAML
run: {name: text, out_dir: $tmp/text, seed: 1}
data: {dataset: tokens, dir: $tmp/shards, seq_len: 64}
student: {arch: llama, dim: 64, n_layers: 2, n_heads: 4, ffn_dim: 128}
optim: {name: adamw, lr: 0.003}
schedule: {name: cosine, warmup_steps: 10}
train: {batch_size: 16, epochs: 1, log_every_steps: 50}
YAML
OMP_NUM_THREADS=1 timeout 120 "$retort" train "$tmp/text.yaml" >"$tmp/text.log" 2>&1 || { fail "training on token shards"; tail -3 "$tmp/text.log"; }
ppl=$(field "$tmp/text/summary.json" test_perplexity)
awk -v p="${ppl:-1e9}" 'BEGIN { exit !(p < 154) }' || fail "validation perplexity $ppl on token shards (uniform over 512 tokens is 512)"
echo "token shards: validation perplexity $ppl"
# The export carries the training tokenizer, so the HF directory generates on its own.
"$retort" export hf "$tmp/text/final.safetensors" "$tmp/text-hf" >"$tmp/text-export.log" 2>&1 || fail "export of the text LM"
[ -f "$tmp/text-hf/tokenizer.model" ] || fail "the export lacks the training tokenizer: $(cat "$tmp/text-export.log")"
grep -q '"eos_token_id"' "$tmp/text-hf/config.json" || fail "the exported config.json has no eos_token_id"
"$retort" generate "$tmp/text-hf" --prompt "The computer" --max-new-tokens 4 --greedy >"$tmp/gen.out" 2>&1 ||
  fail "generate from the exported directory: $(cat "$tmp/gen.out")"
# The run records the data's tokenizer; weights under another tokenizer are refused on this data.
grep -aq '"retort.tokenizer_hash"' "$tmp/text/final.safetensors" || fail "the LM weights record no tokenizer hash"
"$retort" tokenizer train --vocab 400 --out "$tmp/tok2" "${corpus[@]}" >/dev/null 2>&1 || fail "second tokenizer train"
"$retort" tokenize --tokenizer "$tmp/tok2/tokenizer.model" --out "$tmp/shards2" --separator % --val-fraction 0.1 \
  "${corpus[@]}" >/dev/null 2>&1 || fail "tokenize with the second tokenizer"
"$retort" train "$tmp/text.yaml" --set data.dir="$tmp/shards2" --set student.init_from="$tmp/text/final.safetensors" \
  --set run.out_dir="$tmp/text2" >/dev/null 2>"$tmp/tok.err"; rc=$?
[ "$rc" -eq 2 ] && grep -q "uses tokenizer .* but data.dir .* was tokenized with" "$tmp/tok.err" ||
  fail "weights of another tokenizer were not refused (exit $rc): $(cat "$tmp/tok.err")"

# 4. What this version refuses, each with one line and exit 2.
refused() {  # refused MESSAGE_PART --set ...
  local want=$1; shift
  "$retort" config check "$tmp/copy.yaml" "$@" >/dev/null 2>"$tmp/refused.err"; local rc=$?
  [ "$rc" -eq 2 ] || fail "config check $* exited $rc, expected 2"
  grep -q "$want" "$tmp/refused.err" || fail "config check $*: message lacks '$want': $(cat "$tmp/refused.err")"
}
refused "sampled targets estimate only fkl" --set teacher.checkpoint="$tmp/none.safetensors" --set distill.targets=sampled --set distill.divergence=rkl
# A llama student on device: cuda (the CUDA transformer kernels; tests/unit/engine_compute
# lm_task_device_unit holds its step to the CPU's) is accepted by a CUDA build, refused by a CPU one.
if "$retort" version | grep -q "cuda/nccl"; then
  "$retort" config check "$tmp/copy.yaml" --set device=cuda >/dev/null || fail "config check of a llama student on device: cuda"
else
  refused "device: cuda, but this build has no CUDA" --set device=cuda
fi
refused "needs data.dataset tokens or copy_task" --set data.dataset=fashion_mnist
refused "copy_task needs student.vocab_size" --set data.seq_len=15
refused "is shorter than data.seq_len" --set student.max_seq_len=8
refused "is not a multiple of n_kv_heads" --set student.n_kv_heads=3
finish test_lm_train
