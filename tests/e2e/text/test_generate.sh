#!/usr/bin/env bash
# e2e: `retort generate` with the real SmolLM2-135M-Instruct GGUF: the greedy chat answer to
# "What is the capital of France?" names Paris; greedy and seeded sampling repeat exactly;
# bad options and a chat template of another form are refused with their one-line messages.
source "$(dirname "$0")/lib.sh"
python_env
GGUF=$("$root/tests/support/smollm2.sh") || { echo "FAIL: no SmolLM2 GGUF"; exit 1; }
e="retort: error:"
expect 0 "" -- "$retort" generate "$GGUF" --chat --greedy --max-new-tokens 24 --prompt "What is the capital of France?"
grep -q "Paris" "$tmp/out" || fail "greedy chat answer lacks Paris: $(cat "$tmp/out")"
for run in 1 2; do
  "$retort" generate "$GGUF" --max-new-tokens 12 --temperature 0.8 --top-p 0.9 --top-k 40 --seed 5 \
    --prompt "Once upon a time" >"$tmp/sampled$run" 2>"$tmp/err" || fail "sampled run $run: $(cat "$tmp/err")"
done
cmp -s "$tmp/sampled1" "$tmp/sampled2" || fail "seeded sampling differs between runs"
[ -s "$tmp/sampled1" ] || fail "sampling printed nothing"
expect 2 "$e --top-p 0.000000 must be in (0, 1]" -- "$retort" generate "$GGUF" --top-p 0 --prompt x
expect 2 "$e --max-new-tokens must be at least 1" -- "$retort" generate "$GGUF" --max-new-tokens 0 --prompt x
# A GGUF with a Llama-2 style chat template: --chat refuses it before loading any model.
"$PY" - "$tmp/llama2chat.gguf" <<'PY'
import sys
from gguf import GGUFWriter
w = GGUFWriter(sys.argv[1], "llama")
w.add_tokenizer_model("gpt2")
w.add_tokenizer_pre("gpt2")
w.add_token_list(["a", "b", "ab"])
w.add_token_merges(["a b"])
w.add_chat_template("{{ bos_token }}{% for message in messages %}[INST] {{ message['content'] }} [/INST]{% endfor %}")
w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()
PY
expect 2 "$e $tmp/llama2chat.gguf: the chat template is not the ChatML form retort generate implements (<|im_start|>role\\ncontent<|im_end|>\\n per message, optional default system message)" -- \
  "$retort" generate "$tmp/llama2chat.gguf" --chat --prompt ab
finish test_generate
