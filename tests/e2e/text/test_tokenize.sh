#!/usr/bin/env bash
# e2e: `retort tokenize` of the fortunes (separator '%') with the SmolLM2 GGUF's tokenizer:
# shards identical for 1 and 2 threads, `retort shards check` accepts them, check_shards.py
# (numpy + tokenizers, not Retort's reader) finds every document back in its split; invalid
# UTF-8 is an input error naming file and offset, or replaced under --utf8-errors replace;
# malformed shards are each refused with their one-line message (exit 2).
source "$(dirname "$0")/lib.sh"
python_env
GGUF=$("$root/tests/support/smollm2.sh") || { echo "FAIL: no SmolLM2 GGUF"; exit 1; }
"$PY" "$here/reference.py" gguf-to-json "$GGUF" "$tmp/reference.json" || { echo "FAIL: GGUF conversion"; exit 1; }
fortunes_corpus "$tmp/fortunes.txt"

for threads in 1 2; do
  "$retort" tokenize --tokenizer "$GGUF" --out "$tmp/out$threads" --separator % --val-fraction 0.1 --seed 7 \
    --threads $threads --shard-tokens 200000 "$tmp/fortunes.txt" >"$tmp/log$threads" 2>&1 ||
    { cat "$tmp/log$threads"; fail "tokenize --threads $threads"; }
done
grep -q "MB/s" "$tmp/log1" || fail "no throughput line: $(cat "$tmp/log1")"
diff -r "$tmp/out1" "$tmp/out2" >/dev/null || fail "shards differ between 1 and 2 threads"
ls "$tmp/out1"/train-00001.tok >/dev/null 2>&1 || fail "--shard-tokens 200000 made one train shard"
expect 0 "" -- "$retort" shards check "$tmp/out1" --tokenizer "$GGUF"
grep -q "^train: [0-9]* shards" "$tmp/out" || fail "shards check printed: $(cat "$tmp/out")"
"$PY" "$here/check_shards.py" "$tmp/out1" "$tmp/reference.json" "$tmp/fortunes.txt" % 0.1 || fail "check_shards.py"

# Invalid UTF-8: strict names file and offset; replace substitutes U+FFFD.
printf 'ok\n%%\nbad \xff here\n' >"$tmp/bad.txt"
expect 2 "retort: error: $tmp/bad.txt: not valid UTF-8 at byte offset 9 (--utf8-errors replace substitutes U+FFFD)" -- \
  "$retort" tokenize --tokenizer "$GGUF" --out "$tmp/bad" --separator % "$tmp/bad.txt"
expect 0 "" -- "$retort" tokenize --tokenizer "$GGUF" --out "$tmp/bad" --separator % --utf8-errors replace "$tmp/bad.txt"
expect 2 "retort: error: --utf8-errors 'lenient' is neither strict nor replace" -- \
  "$retort" tokenize --tokenizer "$GGUF" --out "$tmp/bad" --utf8-errors lenient "$tmp/bad.txt"
expect 2 "retort: error: --val-fraction 1.000000 is not in [0, 1)" -- \
  "$retort" tokenize --tokenizer "$GGUF" --out "$tmp/bad" --val-fraction 1 "$tmp/bad.txt"

# Malformed shards, one case each.
shard=$tmp/m/train-00000.tok
fresh() { rm -rf "$tmp/m"; cp -r "$tmp/out1" "$tmp/m"; }
fresh; truncate -s -2 "$shard"
n=$(( ($(stat -c %s "$shard") - 64) / 2 ))
expect 2 "retort: error: $shard: truncated token shard (header says $((n + 1)) tokens, file holds $n)" -- "$retort" shards check "$tmp/m"
fresh; printf 'XXXXXXXX' | dd of="$shard" conv=notrunc status=none
expect 2 "retort: error: $shard: not a token shard (wrong magic)" -- "$retort" shards check "$tmp/m"
fresh; printf '\x01\x00' | dd of="$shard" bs=1 seek=100 conv=notrunc status=none
expect 2 "retort: error: $shard: token shard checksum mismatch (corrupt payload)" -- "$retort" shards check "$tmp/m"
fresh; printf '\x02' | dd of="$shard" bs=1 seek=8 conv=notrunc status=none
expect 2 "retort: error: $shard: token shard version 2 is not supported (expected 1)" -- "$retort" shards check "$tmp/m"
fresh
hash=$(sed -n 's/.*"tokenizer_hash": "\([0-9a-f]*\)".*/\1/p' "$tmp/m/manifest.json")
expect 2 "" -- "$retort" shards check "$tmp/m" --tokenizer "$tmp/reference.json"
grep -q "^retort: error: $tmp/m/manifest.json: made with another tokenizer (hash $hash, expected [0-9a-f]*)$" "$tmp/err" ||
  fail "tokenizer mismatch message: $(cat "$tmp/err")"
fresh; rm "$tmp/m/manifest.json"
expect 2 "retort: error: $tmp/m/manifest.json: cannot open (not a token shard directory?)" -- "$retort" shards check "$tmp/m"
finish test_tokenize
