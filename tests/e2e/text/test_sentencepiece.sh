#!/usr/bin/env bash
# e2e: SentencePiece through the library. A BPE model (byte fallback) trained by Debian's
# spm_train and one trained by `retort tokenizer train`, each on 1 MB of fortunes: ids identical
# to Debian's spm_encode line by line on the Jargon File (1.7 MB) and on hard strings; decode
# equals spm_decode.
source "$(dirname "$0")/lib.sh"
command -v spm_encode >/dev/null || { echo "FAIL: spm_encode missing (apt-get install sentencepiece; launch/setup.sh does)"; exit 1; }
fortunes_corpus "$tmp/fortunes-all.txt"
head -c 1000000 "$tmp/fortunes-all.txt" >"$tmp/fortunes.txt"
jargon_corpus "$tmp/jargon.txt"
mkdir -p "$tmp/hard"
printf 'Hello world! \xf0\x9f\x91\x8b\xf0\x9f\x8f\xbd caf\xc3\xa9\n\xe4\xb8\xad\xe6\x96\x87 e\xcc\x81   spaces\ttab\n' >"$tmp/hard/a.txt"
printf "I'm sure you'll see 1234567890123 <s> </s> <unk> \xe2\x80\xa8 \xc2\x85 x\n" >"$tmp/hard/b.txt"

spm_train --input="$tmp/fortunes.txt" --model_prefix="$tmp/spm" --vocab_size=2000 --model_type=bpe \
  --byte_fallback=true --minloglevel=2 >"$tmp/spm_train.log" 2>&1 || { cat "$tmp/spm_train.log"; echo "FAIL: spm_train"; exit 1; }
"$retort" tokenizer train --vocab 2000 --out "$tmp/retort-spm" "$tmp/fortunes.txt" >"$tmp/train.out" 2>"$tmp/train.err" ||
  { cat "$tmp/train.err"; echo "FAIL: retort tokenizer train"; exit 1; }
[ "$(cat "$tmp/train.out")" = "$tmp/retort-spm/tokenizer.model" ] || fail "train printed '$(cat "$tmp/train.out")'"

for model in "$tmp/spm.model" "$tmp/retort-spm"; do
  file=$model; [ -d "$model" ] && file=$model/tokenizer.model
  for text in "$tmp/jargon.txt" "$tmp/hard/a.txt" "$tmp/hard/b.txt"; do
    name=$(basename "$text")
    spm_encode --model="$file" --output_format=id <"$text" >"$tmp/want" || { fail "spm_encode $name"; continue; }
    "$retort" tokenizer encode "$model" --lines --file "$text" 2>"$tmp/err" | sed -e 's/^\[//; s/\]$//; s/,/ /g' >"$tmp/got"
    cmp -s "$tmp/want" "$tmp/got" || fail "$(basename "$file") $name: ids differ from spm_encode ($(diff "$tmp/want" "$tmp/got" | head -n 4))"
  done
  # decode of one line's ids equals spm_decode of them
  spm_encode --model="$file" --output_format=id <"$tmp/hard/a.txt" | head -n 1 >"$tmp/ids"
  spm_decode --model="$file" --input_format=id <"$tmp/ids" >"$tmp/want"
  "$retort" tokenizer decode "$model" --file <(sed -e 's/ /,/g; s/^/[/; s/$/]/' "$tmp/ids") >"$tmp/got" && echo >>"$tmp/got"
  cmp -s "$tmp/want" "$tmp/got" || fail "$(basename "$file"): decode differs from spm_decode"
done
lines=$(wc -l <"$tmp/jargon.txt")
echo "compared $lines lines of the Jargon File per model"
finish test_sentencepiece
