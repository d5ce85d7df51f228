#!/usr/bin/env bash
# e2e of the tiny-LM table's tools with the real SmolLM2-135M GGUF teacher on one fortune file:
# 1. `retort teach --from-cache`: top-8 and top-2 caches truncated from a top-32 cache are byte for
#    byte the caches `retort teach` writes for top-8 / top-2 (index.json and every shard), and a
#    narrower, a sampled or a missing source is refused (exit 2, naming it).
# 2. `retort export hf` of a tiny student trained on GGUF-tokenized shards writes tokenizer.json
#    and tokenizer_config.json; the Python `tokenizers` package (test reference only) encodes text,
#    digits, Unicode and special tokens with that tokenizer.json exactly as Retort's GGUF tokenizer.
# 3. The HF directory scores (examples/tiny_lm/score_ppl.sh, `retort score` per test window) the
#    same test perplexity as the checkpoint, which agrees with `retort eval --split test`; `retort
#    eval` of the HF directory (its tokenizer hash checked against the shards') gives the same figure.
source "$(dirname "$0")/../lib.sh"
root=${2:?usage: test_lm_table_export.sh RETORT ROOT}
gguf=$("$root/tests/support/smollm2.sh") || { echo "FAIL: no SmolLM2 GGUF"; exit 1; }
corpus=/usr/share/games/fortunes/goedel
[ -f "$corpus" ] || { echo "FAIL: $corpus missing (apt-get install fortunes)"; exit 1; }
json() { sed -nE "s/.*\"$2\": *([-0-9.e+]+).*/\1/p" "$1" | head -n 1; }
export OMP_NUM_THREADS=2
"$retort" tokenize --tokenizer "$gguf" --out "$tmp/shards" --separator % --val-fraction 0.2 --test-fraction 0.25 --seed 0 "$corpus" \
  >"$tmp/tok.log" 2>&1 || { fail "tokenize: $(tail -3 "$tmp/tok.log")"; finish e2e_lm_table_export; }
cat >"$tmp/row.yaml" <<YAML
run: {name: tiny, out_dir: $tmp/run, seed: 1}
teacher: {source: cache, cache_dir: $tmp/unused, checkpoint: $gguf}
distill: {targets: topk, topk: 32, divergence: fkl, temperature: 1.0, alpha: 0.1}
data: {dataset: tokens, dir: $tmp/shards, seq_len: 32}
student: {arch: llama, dim: 32, n_layers: 1, n_heads: 2, n_kv_heads: 1, ffn_dim: 64, tie_embeddings: true}
optim: {name: adamw, lr: 0.003}
train: {batch_size: 4, epochs: 1, max_steps: 3, log_every_steps: 3, eval_batch_size: 4}
YAML
teach() {  # DIR ARGS...: retort teach of row.yaml into DIR
  local dir=$1; shift
  timeout 300 "$retort" teach "$tmp/row.yaml" --set teacher.cache_dir="$dir" --set run.out_dir="$dir.run" "$@" >"$dir.log" 2>&1 ||
    { fail "retort teach $*: $(tail -n 3 "$dir.log")"; finish e2e_lm_table_export; }
}
same_cache() {  # A B: the same files, byte for byte
  local a=$1 b=$2 f
  [ "$(cd "$a" && ls)" = "$(cd "$b" && ls)" ] || { fail "$a and $b hold different files"; return; }
  for f in "$a"/*; do cmp -s "$f" "$b/$(basename "$f")" || fail "$(basename "$f") differs between $a and $b"; done
}

# 1. Truncated caches equal their own teach.
teach "$tmp/top32"
for k in 8 2; do
  teach "$tmp/top$k" --set distill.topk=$k
  teach "$tmp/top$k-derived" --set distill.topk=$k --from-cache "$tmp/top32"
  same_cache "$tmp/top$k" "$tmp/top$k-derived"
  grep -q "bytes/token" "$tmp/top$k-derived.log" || fail "--from-cache printed no bytes/token: $(cat "$tmp/top$k-derived.log")"
done
cmp -s "$tmp/top8/shard-00000.rlt" "$tmp/top2/shard-00000.rlt" && fail "top-8 and top-2 shards are identical (vacuous)"
expect 2 "" -- "$retort" teach "$tmp/row.yaml" --set teacher.cache_dir="$tmp/wider" --from-cache "$tmp/top8"
grep -q "top-8.*fewer than distill.topk 32" "$tmp/err" || fail "a narrower source not named: $(cat "$tmp/err")"
teach "$tmp/sampled" --set distill.targets=sampled --set distill.samples=4 --set distill.topk=0
expect 2 "" -- "$retort" teach "$tmp/row.yaml" --set teacher.cache_dir="$tmp/from-sampled" --from-cache "$tmp/sampled"
grep -q "sampled targets, not topk" "$tmp/err" || fail "a sampled source not named: $(cat "$tmp/err")"
expect 2 "" -- "$retort" teach "$tmp/row.yaml" --set teacher.cache_dir="$tmp/none" --from-cache "$tmp/missing"
grep -q "$tmp/missing/index.json" "$tmp/err" || fail "a missing source not named: $(cat "$tmp/err")"
# A student reads the truncated cache (another seed than the cache was taught with).
timeout 300 "$retort" train "$tmp/row.yaml" --set distill.topk=8 --set teacher.cache_dir="$tmp/top8-derived" --set run.seed=7 \
  >"$tmp/train.log" 2>&1 || { fail "training from the truncated cache: $(tail -n 3 "$tmp/train.log")"; finish e2e_lm_table_export; }
ckpt=$tmp/run/final.safetensors

# 2. Export, and the tokenizer.json against the Python tokenizers package.
timeout 300 "$retort" export hf "$ckpt" "$tmp/hf" >"$tmp/export.log" 2>&1 || fail "export hf: $(cat "$tmp/export.log")"
for f in config.json model.safetensors tokenizer.json tokenizer_config.json; do [ -f "$tmp/hf/$f" ] || fail "export wrote no $f"; done
grep -q '"eos_token_id"' "$tmp/hf/config.json" || fail "config.json lacks eos_token_id"
{
  grep -v '^%$' "$corpus" | head -n 60
  printf '%s\n' "  leading spaces and   runs of   spaces" "digits 1234567 and 3.14159, 2026-12-01" "tabs	and	more	tabs" \
    "Unicode: café naïve Größe 日本語 Ελληνικά 🙂👍" "<|im_start|>user" "Hi there<|im_end|><|endoftext|>" "don't won't I'll we've"
} >"$tmp/texts.txt"
"$retort" tokenizer encode "$gguf" --file "$tmp/texts.txt" --lines >"$tmp/retort.ids" 2>"$tmp/enc.err" || fail "retort tokenizer encode: $(cat "$tmp/enc.err")"
PY=$("$root/tests/support/python_env.sh") || { fail "no Python reference environment"; finish e2e_lm_table_export; }
"$PY" - "$tmp/hf/tokenizer.json" "$tmp/texts.txt" "$tmp/retort.ids" <<'PYEOF' || fail "tokenizers disagrees with Retort (above)"
import json, sys
from tokenizers import Tokenizer
tok = Tokenizer.from_file(sys.argv[1])
texts = open(sys.argv[2], encoding="utf-8").read().split("\n")[:-1]
ours = [json.loads(line) for line in open(sys.argv[3])]
assert len(texts) == len(ours), (len(texts), len(ours))
bad = 0
for text, want in zip(texts, ours):
    got = tok.encode(text, add_special_tokens=False).ids
    if got != want:
        bad += 1
        print("MISMATCH", repr(text), got, want)
    elif tok.decode(got, skip_special_tokens=False) != text:
        bad += 1
        print("DECODE", repr(text), repr(tok.decode(got, skip_special_tokens=False)))
print(f"{len(texts) - bad} of {len(texts)} lines encode identically ({sum(map(len, ours))} tokens)")
sys.exit(1 if bad else 0)
PYEOF

# 3. The same test perplexity from the HF directory and from the checkpoint.
hf=$("$root/examples/tiny_lm/score_ppl.sh" "$retort" "$tmp/hf" "$tmp/shards/test" 32) || fail "score_ppl.sh of the HF directory"
ck=$("$root/examples/tiny_lm/score_ppl.sh" "$retort" "$ckpt" "$tmp/shards/test" 32) || fail "score_ppl.sh of the checkpoint"
echo "HF directory: $hf; checkpoint: $ck"
[ -n "$hf" ] && [ "$hf" = "$ck" ] || fail "the exported student scores '$hf', its checkpoint '$ck'"
"$retort" eval --config "$tmp/row.yaml" --set teacher.checkpoint="$gguf" --checkpoint "$ckpt" --checkpoint "$tmp/hf" --split test \
  --json "$tmp/eval.jsonl" >"$tmp/eval.log" 2>&1 || fail "eval of the checkpoint and the HF directory: $(tail -n 3 "$tmp/eval.log")"
[ "$(wc -l < "$tmp/eval.jsonl")" -eq 2 ] || fail "eval of 2 checkpoints wrote $(wc -l < "$tmp/eval.jsonl") records"
e_ck=$(sed -n 1p "$tmp/eval.jsonl" | sed -nE 's/.*"student_perplexity":([-0-9.e+]+).*/\1/p')
e_hf=$(sed -n 2p "$tmp/eval.jsonl" | sed -nE 's/.*"student_perplexity":([-0-9.e+]+).*/\1/p')
[ -n "$e_ck" ] && [ "$e_ck" = "$e_hf" ] || fail "retort eval: checkpoint $e_ck, HF directory $e_hf"
p=$(sed -E 's/^perplexity ([0-9.]+) .*/\1/' <<<"$ck")
awk -v a="$p" -v b="${e_ck:-0}" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(b > 0 && d <= 1e-5 * b) }' ||
  fail "score_ppl.sh's perplexity $p differs from retort eval's $e_ck"
finish e2e_lm_table_export
