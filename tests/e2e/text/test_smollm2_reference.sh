#!/usr/bin/env bash
# e2e: the real SmolLM2-135M-Instruct GGUF's tokenizer (tokenizer.ggml.*, pre "smollm") read by
# retort, against `tokenizers` fed the same tokens + merges with llama.cpp's smollm
# pre-tokenizer (written independently in reference.py): identical ids on the Jargon File and
# the fortunes (4.2 MB) and on hard strings with special tokens; decode(encode(x)) == x.
source "$(dirname "$0")/lib.sh"
python_env
GGUF=$("$root/tests/support/smollm2.sh") || { echo "FAIL: no SmolLM2 GGUF"; exit 1; }
jargon_corpus "$tmp/jargon.txt"
fortunes_corpus "$tmp/fortunes.txt"
"$PY" "$here/reference.py" gguf-to-json "$GGUF" "$tmp/reference.json" || { echo "FAIL: GGUF conversion"; exit 1; }
"$PY" "$here/hard_strings.py" "$tmp/hard"
for text in "$tmp/jargon.txt" "$tmp/fortunes.txt" "$tmp"/hard/*.txt; do
  check_ids "$GGUF" "$tmp/reference.json" "$text"
done
# The specials and ids the chat template needs.
echo '[1,2,0]' | "$retort" tokenizer decode "$GGUF" >"$tmp/specials" 2>&1 || fail "decode specials"
[ "$(cat "$tmp/specials")" = "<|im_start|><|im_end|><|endoftext|>" ] || fail "specials decode to '$(cat "$tmp/specials")'"
finish test_smollm2_reference
