#!/usr/bin/env bash
# e2e: byte-level BPE from tokenizer.json files that Hugging Face `tokenizers` trains here on
# the fortunes (2.5 MB), GPT-2 style (ByteLevel's regex) and Llama 3 style (Split regex with
# (?i:...), ByteLevel without regex, ignore_merges): ids identical to tokenizers on 1.7 MB of
# held-out text (the Jargon File), on the training text, and on hard strings;
# decode(encode(x)) == x for every input.
source "$(dirname "$0")/lib.sh"
python_env
fortunes_corpus "$tmp/fortunes.txt"
jargon_corpus "$tmp/jargon.txt"
"$PY" "$here/hard_strings.py" "$tmp/hard"
for style in gpt2 llama3; do
  mkdir -p "$tmp/$style"
  "$PY" "$here/reference.py" train-bpe "$tmp/fortunes.txt" "$tmp/$style/tokenizer.json" $style || { echo "FAIL: training $style"; exit 1; }
  for text in "$tmp/jargon.txt" "$tmp/fortunes.txt" "$tmp"/hard/*.txt; do
    check_ids "$tmp/$style/tokenizer.json" "$tmp/$style/tokenizer.json" "$text"
  done
done
finish test_bpe_reference
