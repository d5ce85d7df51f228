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
