#!/usr/bin/env bash
# `retort score` on the real SmolLM2-135M-Instruct Q4_1 GGUF against the float64 numpy reference
# (score_reference.py: GGUF tensors as stored, llama.cpp's pairwise RoPE), plain and
# batch-invariant; and its input errors (exit 2 naming the file).
# Usage: score_smollm2.sh path/to/retort
source "$(dirname "$0")/../../e2e/lib.sh"
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
PY=$("$root/tests/support/python_env.sh") || exit 1
GGUF=$("$root/tests/support/smollm2.sh") || exit 1
# "The quick brown fox jumps over the lazy dog. The capital of France is Paris. One, two, three, four,"
echo '[504, 2365, 6354, 16438, 27003, 690, 260, 23790, 2767, 30, 378, 3575, 282, 4649, 314, 7042, 30, 1963, 28, 827, 28, 1296, 28, 1876, 28]' >"$tmp/tokens.json"
"$PY" "$here/score_reference.py" "$GGUF" "$tmp/tokens.json" >"$tmp/ref.json" || { fail "reference"; finish score_smollm2; }
for mode in plain batch-invariant; do
  flag=(); [ "$mode" = plain ] || flag=(--batch-invariant)
  if ! "$retort" score "$GGUF" --tokens "$tmp/tokens.json" "${flag[@]}" >"$tmp/$mode.jsonl" 2>"$tmp/$mode.err"; then
    fail "retort score ($mode)"; cat "$tmp/$mode.err"; continue
  fi
  # Tolerance |got − ref| ≤ 1e-4 + 1e-4·|ref| per log-probability (float32 over 30 layers vs float64).
  "$PY" - "$tmp/$mode.jsonl" "$tmp/ref.json" "$tmp/tokens.json" <<'PYEOF' || fail "score ($mode) vs the reference"
import json, math, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
ref = json.load(open(sys.argv[2])); tokens = json.load(open(sys.argv[3]))
rows, summary = lines[:-1], lines[-1]
assert len(rows) == len(ref) == len(tokens) - 1, (len(rows), len(ref))
worst = 0.0
for i, (r, want) in enumerate(zip(rows, ref)):
    assert r["pos"] == i and r["token"] == tokens[i + 1], r
    worst = max(worst, abs(r["logprob"] - want) / (1e-4 + 1e-4 * abs(want)))
mean_nll = -sum(ref) / len(ref)
assert summary["tokens"] == len(ref), summary
assert abs(summary["mean_nll"] - mean_nll) <= 1e-4 * (1 + mean_nll), (summary, mean_nll)
assert abs(summary["perplexity"] - math.exp(summary["mean_nll"])) <= 1e-9 * summary["perplexity"]
print(f"max error / tolerance {worst:.3f}; mean_nll {summary['mean_nll']:.5f} (reference {mean_nll:.5f})")
assert worst <= 1.0
PYEOF
done

expect_input_error() {  # NAME PATTERN ARGS...: exit 2 and PATTERN on stderr
  local name=$1 pattern=$2; shift 2
  "$retort" score "$@" >"$tmp/err.out" 2>"$tmp/err.txt"; local rc=$?
  [ "$rc" -eq 2 ] && grep -q -- "$pattern" "$tmp/err.txt" || { fail "$name: rc $rc, $(cat "$tmp/err.txt")"; }
}
expect_input_error "missing token file" "cannot open token file '$tmp/none.json'" "$GGUF" --tokens "$tmp/none.json"
echo '[1, "a"]' >"$tmp/bad.json"
expect_input_error "not token ids" "$tmp/bad.json: element 1 is not a token id" "$GGUF" --tokens "$tmp/bad.json"
echo '[1, 49152]' >"$tmp/oov.json"
expect_input_error "outside the vocabulary" "$tmp/oov.json: token 49152 at index 1 is outside the vocabulary" \
  "$GGUF" --tokens "$tmp/oov.json"
# 8,193 tokens are 8,192 inputs (the last token is only a target): the longest accepted; one more is refused.
"$PY" -c "import json; print(json.dumps([1] * 8194))" >"$tmp/long.json"
expect_input_error "too long" "8194 tokens are 8193 inputs, more than the max_seq_len 8192" "$GGUF" --tokens "$tmp/long.json"
# --max-tokens scores a prefix: the first 9 log-probabilities of the full run.
"$retort" score "$GGUF" --tokens "$tmp/tokens.json" --max-tokens 10 >"$tmp/prefix.jsonl" || fail "--max-tokens"
"$PY" -c "
import json, sys
a = [json.loads(l) for l in open('$tmp/prefix.jsonl')][:-1]
b = [json.loads(l) for l in open('$tmp/plain.jsonl')][:9]
assert len(a) == 9 and all(abs(x['logprob'] - y['logprob']) <= 1e-4 for x, y in zip(a, b)), (a, b)
" || fail "--max-tokens prefix differs"
finish score_smollm2
