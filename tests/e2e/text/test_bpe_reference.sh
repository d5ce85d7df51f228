#!/usr/bin/env bash
# e2e: byte-level BPE from a tokenizer.json that Hugging Face `tokenizers` trains here on the
# fortunes (2.5 MB): ids identical to tokenizers on 1.7 MB of held-out text (the Jargon File),
# on the training text, and on hard strings; decode(encode(x)) == x for every input.
source "$(dirname "$0")/lib.sh"
python_env
fortunes_corpus "$tmp/fortunes.txt"
jargon_corpus "$tmp/jargon.txt"
"$PY" "$here/reference.py" train-bpe "$tmp/fortunes.txt" "$tmp/tokenizer.json" || { echo "FAIL: training"; exit 1; }
"$PY" "$here/hard_strings.py" "$tmp/hard"
for text in "$tmp/jargon.txt" "$tmp/fortunes.txt" "$tmp"/hard/*.txt; do
  check_ids "$tmp/tokenizer.json" "$tmp/tokenizer.json" "$text"
done
finish test_bpe_reference
