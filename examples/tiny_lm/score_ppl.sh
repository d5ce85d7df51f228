#!/usr/bin/env bash
# Perplexity of a language model over a token-shard split through `retort score`: window w holds
# tokens [w·SEQ_LEN, w·SEQ_LEN + SEQ_LEN] of the split's stream (the windows `retort eval` walks),
# each window scored on its own and the next-token NLLs summed over all of them.
# Prints "perplexity P over N tokens (W windows)".
# Usage: examples/tiny_lm/score_ppl.sh RETORT MODEL SPLIT_DIR SEQ_LEN [MAX_WINDOWS]
#   MODEL: anything `retort score` takes (HF directory, Retort weights); SPLIT_DIR: a directory of
#   token shards whose "val" split is scored (data.dir/test for the test split).
set -euo pipefail
retort=${1:?usage: score_ppl.sh RETORT MODEL SPLIT_DIR SEQ_LEN [MAX_WINDOWS]}
model=${2:?} dir=${3:?} seq_len=${4:?} max_windows=${5:-0}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
shards=("$dir"/val-*.tok)
[ -f "${shards[0]}" ] || { echo "score_ppl.sh: no val-*.tok shards in $dir" >&2; exit 2; }
# The split's ids, one per line: each shard's 64-byte header says the id width (offset 12).
for shard in "${shards[@]}"; do
  width=$(od -An -tu4 -j12 -N4 "$shard" | tr -d ' ')
  od -An -v -tu"$width" -w"$width" -j64 "$shard" | tr -d ' '
done > "$work/ids"
tokens=$(wc -l < "$work/ids")
windows=$(((tokens - 1) / seq_len))
[ "$max_windows" -gt 0 ] && [ "$max_windows" -lt "$windows" ] && windows=$max_windows
[ "$windows" -gt 0 ] || { echo "score_ppl.sh: $dir holds $tokens tokens, fewer than one window of $((seq_len + 1))" >&2; exit 2; }
for ((w = 0; w < windows; ++w)); do
  sed -n "$((w * seq_len + 1)),$((w * seq_len + seq_len + 1))p" "$work/ids" | paste -sd, | sed 's/^/[/; s/$/]/' > "$work/window.json"
  "$retort" score "$model" --tokens "$work/window.json" | tail -n 1
done | sed -nE 's/.*"mean_nll":([-0-9.e+]+).*"tokens":([0-9]+).*/\1 \2/p' |
  awk -v w="$windows" '{ nll += $1 * $2; n += $2 } END {
    if (n == 0) exit 1
    printf "perplexity %.6f over %d tokens (%d windows)\n", exp(nll / n), n, w }'
