#!/usr/bin/env bash
# e2e: malformed or unsupported tokenizer files, each refused with its one-line message and
# exit code 2: missing path, directory without a tokenizer, unknown extension, broken JSON,
# unsupported normalizer/model/pre-tokenizer, bad merges, a SentencePiece file that is not one,
# a GGUF with an unsupported tokenizer.ggml.pre, bad ids to decode, invalid UTF-8 to encode.
source "$(dirname "$0")/lib.sh"
python_env
e="retort: error:"
expect 2 "$e $tmp/none.json: tokenizer file does not exist" -- "$retort" tokenizer encode "$tmp/none.json"
mkdir -p "$tmp/emptydir"
expect 2 "$e $tmp/emptydir: directory holds neither tokenizer.json nor tokenizer.model" -- "$retort" tokenizer encode "$tmp/emptydir"
echo hi >"$tmp/tok.txt"
expect 2 "$e $tmp/tok.txt: not a tokenizer (expected tokenizer.json, a SentencePiece .model, a .gguf or a model directory)" -- \
  "$retort" tokenizer encode "$tmp/tok.txt"
echo '{"model": ' >"$tmp/broken.json"
expect 2 "" -- "$retort" tokenizer encode "$tmp/broken.json"
grep -q "^$e $tmp/broken.json: not valid JSON" "$tmp/err" || fail "broken JSON message: $(cat "$tmp/err")"
echo 'not a model' >"$tmp/bad.model"
expect 2 "" -- "$retort" tokenizer encode "$tmp/bad.model"
grep -q "^$e $tmp/bad.model: not a SentencePiece model" "$tmp/err" || fail "bad .model message: $(cat "$tmp/err")"

# tokenizer.json variants made from a small trained one.
printf 'the cat sat on the mat. the dog ate 12345 bones!\n%.0s' $(seq 200) >"$tmp/corpus.txt"
"$PY" "$here/reference.py" train-bpe "$tmp/corpus.txt" "$tmp/good.json" || { echo "FAIL: training"; exit 1; }
variant() {  # variant NAME PYTHON-EXPRESSION-ON-j
  "$PY" -c "import json,sys; j=json.load(open('$tmp/good.json')); $2; json.dump(j, open('$tmp/$1.json','w'))"
}
variant nfc "j['normalizer']={'type':'NFC'}"
expect 2 "$e $tmp/nfc.json: normalizer NFC is not supported (only none)" -- "$retort" tokenizer encode "$tmp/nfc.json"
variant wordpiece "j['model']['type']='WordPiece'"
expect 2 "$e $tmp/wordpiece.json: model type WordPiece is not supported (only byte-level BPE; use a SentencePiece .model for Unigram)" -- \
  "$retort" tokenizer encode "$tmp/wordpiece.json"
variant metaspace "j['pre_tokenizer']={'type':'Metaspace','replacement':'_'}"
expect 2 "$e $tmp/metaspace.json: pre_tokenizer Metaspace is not supported (Sequence, Split, Digits, ByteLevel are)" -- \
  "$retort" tokenizer encode "$tmp/metaspace.json"
variant badmerge "j['model']['merges'].insert(0, 'a b c')"
expect 2 "$e $tmp/badmerge.json: merge 0 'a b c' is not of the form 'a b'" -- "$retort" tokenizer encode "$tmp/badmerge.json"
variant dupid "j['model']['vocab']['zzzz']=5"
expect 2 "" -- "$retort" tokenizer encode "$tmp/dupid.json"
grep -q "^$e $tmp/dupid.json: model.vocab id 5 is used twice$" "$tmp/err" || fail "duplicate id message: $(cat "$tmp/err")"
variant dropout "j['model']['dropout']=0.1"
expect 2 "$e $tmp/dropout.json: BPE dropout is not supported" -- "$retort" tokenizer encode "$tmp/dropout.json"

# A GGUF whose tokenizer.ggml.pre is not supported.
"$PY" - "$tmp/odd.gguf" <<'PY'
import sys
from gguf import GGUFWriter
w = GGUFWriter(sys.argv[1], "llama")
w.add_tokenizer_model("gpt2")
w.add_tokenizer_pre("deepseek-coder")
w.add_token_list(["a", "b", "ab"])
w.add_token_merges(["a b"])
w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()
PY
expect 2 "$e $tmp/odd.gguf: tokenizer.ggml.pre 'deepseek-coder' is not supported (gpt2, smollm, llama-bpe, qwen2 and their aliases are)" -- \
  "$retort" tokenizer encode "$tmp/odd.gguf"

# decode: bad ids; encode: invalid UTF-8.
echo '[1, 99999]' >"$tmp/ids.json"
vocab=$("$PY" -c "from tokenizers import Tokenizer; print(Tokenizer.from_file('$tmp/good.json').get_vocab_size())")
expect 2 "$e $tmp/ids.json: element 1 (99999) is not a token id in [0, $vocab)" -- "$retort" tokenizer decode "$tmp/good.json" --file "$tmp/ids.json"
echo '{"a": 1}' >"$tmp/ids.json"
expect 2 "$e $tmp/ids.json: not a JSON array of token ids" -- "$retort" tokenizer decode "$tmp/good.json" --file "$tmp/ids.json"
printf 'abc\xc3' >"$tmp/bad.txt"
expect 2 "$e $tmp/bad.txt: not valid UTF-8 at byte offset 3" -- "$retort" tokenizer encode "$tmp/good.json" --file "$tmp/bad.txt"
finish test_tokenizer_errors
