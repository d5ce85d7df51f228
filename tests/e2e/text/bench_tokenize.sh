#!/usr/bin/env bash
# Tokenize throughput, Retort vs Hugging Face tokenizers in the same run, one core each: the
# fortunes + the Jargon File (4.2 MB, ~27k documents: each fortune, each Jargon paragraph) with
# the SmolLM2 GGUF's tokenizer. Retort: `retort tokenize --threads 1` (reading, encoding, writing shards);
# tokenizers: encode_batch of the same documents with RAYON_NUM_THREADS=1 (encoding only).
# Usage: tests/e2e/text/bench_tokenize.sh path/to/retort repo_root [repeats]
source "$(dirname "$0")/lib.sh"
repeats=${3:-3}
python_env
GGUF=$("$root/tests/support/smollm2.sh") || exit 1
"$PY" "$here/reference.py" gguf-to-json "$GGUF" "$tmp/reference.json" >/dev/null
fortunes_corpus "$tmp/corpus.txt"
jargon_corpus "$tmp/jargon.txt"
{ echo %; sed 's/^$/%/' "$tmp/jargon.txt"; } >>"$tmp/corpus.txt"  # a document per paragraph
bytes=$(stat -c %s "$tmp/corpus.txt")
for run in $(seq "$repeats"); do
  "$retort" tokenize --tokenizer "$GGUF" --out "$tmp/out" --separator % --threads 1 "$tmp/corpus.txt" 2>&1 |
    sed -n 's/.* in \([0-9.]*\) s: \([0-9.]*\) MB\/s.*/retort     run '"$run"': \1 s, \2 MB\/s/p'
  RAYON_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false "$PY" - "$tmp/reference.json" "$tmp/corpus.txt" "$run" <<'PY'
import sys, time
from tokenizers import Tokenizer
tok = Tokenizer.from_file(sys.argv[1])
text = open(sys.argv[2], encoding="utf-8", newline="").read()
docs, cur = [], []
for line in text.splitlines(keepends=True):
    if line.rstrip("\r\n") == "%":
        if cur: docs.append("".join(cur))
        cur = []
    else:
        cur.append(line)
if cur: docs.append("".join(cur))
t = time.perf_counter()
tok.encode_batch(docs, add_special_tokens=False)
s = time.perf_counter() - t
print(f"tokenizers run {sys.argv[3]}: {s:.2f} s, {len(text.encode()) / 1e6 / s:.2f} MB/s")
PY
done
echo "corpus: $bytes bytes; $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg)"
