#!/usr/bin/env bash
# e2e: real model files through Retort. (a) every tensor of SmolLM2-135M-Instruct Q4_1 (GGUF)
# dequantized bit for bit as gguf-py does; (b) `retort score` of it on a fixed 53-token text
# (smollm2_tokens.json: the SmolLM2 tokenizer's ids of four English sentences) within 1e-4
# relative of float64 numpy forwards in llama.cpp's and in HF's convention; (c) HF directories
# made here (random weights: bf16 one file, bf16 sharded, f16 Qwen2 tied) score bitwise the same
# before and after `retort export hf` -> re-import, and the export reads back with the
# safetensors package; a broken directory is refused (exit 2, one line naming file and tensor).
# Needs the Python references and the model from PyPI: fails (never skips) without them.
# Usage: test_lm_import.sh RETORT LM_TENSOR_DUMP REPO_ROOT
source "$(dirname "$0")/../lib.sh" "$1"
dump=${2:?lm_tensor_dump}
root=${3:?repo root}
here=$(cd "$(dirname "$0")" && pwd)
PY=$("$root/tests/support/python_env.sh") || { echo "FAIL: no Python reference environment"; exit 1; }
GGUF=$("$root/tests/support/smollm2.sh") || { echo "FAIL: no SmolLM2 GGUF"; exit 1; }

# (a) dequantization, bit for bit; the file must have the three types it is known to have.
"$PY" "$here/compare_gguf_dequant.py" "$dump" "$GGUF" Q4_1 F32 Q8_0 || fail "GGUF dequantization differs from gguf-py"

# (b) retort score vs the float64 references (which also check the q/k un-permutation).
"$retort" score "$GGUF" --tokens "$here/smollm2_tokens.json" >"$tmp/smollm2.score" 2>"$tmp/smollm2.err" ||
  { fail "retort score $GGUF"; cat "$tmp/smollm2.err"; }
nll=$(tail -n 1 "$tmp/smollm2.score" | "$PY" -c 'import json,sys; print(repr(json.load(sys.stdin)["mean_nll"]))')
"$PY" "$here/lm_reference.py" "$dump" "$GGUF" "$here/smollm2_tokens.json" --retort-nll "$nll" ||
  fail "retort score of SmolLM2 vs the float64 reference"

# (c) HF directories: score, export, re-import, score again: the same bits.
"$PY" -c 'import json; json.dump([(7 * i + 3) % 96 for i in range(40)], open("'"$tmp"'/tokens.json", "w"))'
for variant in "bf16 1" "bf16 3" "f16 1 --qwen2 --tied"; do
  set -- $variant
  name="hf_$1_$2${3:+_qwen2}"
  "$PY" "$here/make_hf_dir.py" "$tmp/$name" --dtype "$1" --shards "$2" "${@:3}" || { fail "make $name"; continue; }
  "$retort" score "$tmp/$name" --tokens "$tmp/tokens.json" >"$tmp/$name.score" 2>&1 || { fail "score $name"; cat "$tmp/$name.score"; }
  "$retort" export hf "$tmp/$name" "$tmp/$name.export" >"$tmp/$name.export.log" 2>&1 ||
    { fail "export $name"; cat "$tmp/$name.export.log"; continue; }
  grep -q "^wrote $tmp/$name.export: config.json" "$tmp/$name.export.log" || fail "export $name: summary line"
  "$PY" "$here/check_export.py" "$dump" "$tmp/$name" "$tmp/$name.export" || fail "export $name does not read back"
  "$retort" score "$tmp/$name.export" --tokens "$tmp/tokens.json" >"$tmp/$name.export.score" 2>&1 ||
    { fail "score exported $name"; cat "$tmp/$name.export.score"; }
  cmp -s "$tmp/$name.score" "$tmp/$name.export.score" || fail "$name: scores differ after export and re-import"
  "$dump" import "$tmp/$name" >"$tmp/$name.tensors" && "$dump" import "$tmp/$name.export" >"$tmp/$name.export.tensors" ||
    fail "$name: import for the tensor comparison"
  cmp -s "$tmp/$name.tensors" "$tmp/$name.export.tensors" || fail "$name: config or tensors differ after export and re-import"
done

# (d) A Retort LM trained here (8 steps of the copy task): its final weights and its last
# checkpoint export to the same HF directory, which scores as the Retort weights do.
cat >"$tmp/copy.yaml" <<YAML
run: {name: copy, out_dir: $tmp/lm, seed: 3}
data: {dataset: copy_task, seq_len: 16, copy_train_size: 512}
student: {arch: llama, vocab_size: 16, dim: 32, n_layers: 2, n_heads: 4, n_kv_heads: 2, ffn_dim: 64}
optim: {name: adamw, lr: 0.003}
train: {batch_size: 16, epochs: 1, max_steps: 8, log_every_steps: 8, checkpoint_every_steps: 4}
YAML
"$PY" -c 'import json; json.dump([(5 * i + 1) % 16 for i in range(16)], open("'"$tmp"'/copy_tokens.json", "w"))'
if OMP_NUM_THREADS=1 timeout 120 "$retort" train "$tmp/copy.yaml" >"$tmp/lm.log" 2>&1; then
  "$retort" export hf "$tmp/lm/final.safetensors" "$tmp/lm_final.hf" >/dev/null || fail "export hf of final.safetensors"
  "$retort" export hf "$tmp/lm/checkpoints/step-00000008" "$tmp/lm_ckpt.hf" >/dev/null || fail "export hf of a checkpoint"
  cmp -s "$tmp/lm_final.hf/model.safetensors" "$tmp/lm_ckpt.hf/model.safetensors" || fail "final weights and step-8 checkpoint export differently"
  "$PY" "$here/check_export.py" "$dump" "$tmp/lm/final.safetensors" "$tmp/lm_final.hf" || fail "exported Retort LM does not read back"
  "$retort" score "$tmp/lm/final.safetensors" --tokens "$tmp/copy_tokens.json" >"$tmp/lm.score" &&
    "$retort" score "$tmp/lm_final.hf" --tokens "$tmp/copy_tokens.json" >"$tmp/lm_hf.score" &&
    cmp -s "$tmp/lm.score" "$tmp/lm_hf.score" || fail "the exported Retort LM scores differently"
else
  fail "training the copy-task LM"; tail "$tmp/lm.log"
fi

# Refusals: a missing tensor and a non-empty output directory, exit 2 with one line.
"$PY" "$here/make_hf_dir.py" "$tmp/broken" --dtype f32 --shards 1
"$PY" - "$tmp/broken/model.safetensors" <<'PY'
import sys
from safetensors.numpy import load_file, save_file
t = load_file(sys.argv[1])
del t["model.norm.weight"]
save_file(t, sys.argv[1], metadata={"format": "pt"})
PY
"$retort" export hf "$tmp/broken" "$tmp/broken.export" 2>"$tmp/broken.err"
rc=$?
[ "$rc" = 2 ] || fail "export of a directory without model.norm.weight: exit $rc, expected 2"
[ "$(wc -l <"$tmp/broken.err")" = 1 ] && grep -q "broken/model.safetensors: tensor model.norm.weight is missing" "$tmp/broken.err" ||
  { fail "missing-tensor message"; cat "$tmp/broken.err"; }
"$retort" export hf "$tmp/hf_bf16_1" "$tmp/hf_bf16_1.export" 2>"$tmp/again.err"
rc=$?
[ "$rc" = 2 ] && grep -q "not an empty directory" "$tmp/again.err" || fail "export over a non-empty directory: exit $rc"

finish e2e_lm_import
