#!/usr/bin/env bash
# e2e of teacher-vs-student LM evaluation with the real SmolLM2-135M GGUF: retort tokenize
# --test-fraction writes a held-out test split (disjoint documents, deterministic, counts add up);
# a tiny student trains a few steps; retort eval --split val agrees with the trainer's own final
# evaluation; --split test with the GGUF teacher prints both perplexities, KL and agreement (and
# --json them); the student compared with itself has KL 0 and agreement 1; bad splits exit 2.
source "$(dirname "$0")/../lib.sh"
root=${2:?usage: test_lm_eval.sh RETORT ROOT}
gguf=$("$root/tests/support/smollm2.sh") || { echo "FAIL: no SmolLM2 GGUF"; exit 1; }
corpus=/usr/share/games/fortunes/goedel
[ -f "$corpus" ] || { echo "FAIL: $corpus missing (apt-get install fortunes)"; exit 1; }
json() { sed -nE "s/.*\"$2\": *([-0-9.e+]+).*/\1/p" "$1" | head -n 1; }
count() { sed -nE "s/^$2: .* ([0-9]+) documents, ([0-9]+) tokens$/\1 \2/p" "$1"; }

# 1. Three-way split by document.
tokenize() { "$retort" tokenize --tokenizer "$gguf" --out "$1" --separator % --val-fraction 0.2 --test-fraction 0.25 --seed 0 "$corpus"; }
tokenize "$tmp/shards" >"$tmp/tok.log" 2>&1 || { fail "tokenize: $(tail -3 "$tmp/tok.log")"; finish e2e_lm_eval; }
"$retort" shards check "$tmp/shards" >"$tmp/main.txt" || fail "shards check of the main directory"
"$retort" shards check "$tmp/shards/test" >"$tmp/test.txt" || fail "shards check of the test directory"
read -r train_docs _ <<<"$(count "$tmp/main.txt" train)"
read -r val_docs _ <<<"$(count "$tmp/main.txt" val)"
read -r test_docs test_tokens <<<"$(count "$tmp/test.txt" val)"
read -r empty_docs _ <<<"$(count "$tmp/test.txt" train)"
all_docs=$(grep -c '^%$' "$corpus")
[ $((train_docs + val_docs + test_docs)) -eq "$all_docs" ] || fail "splits hold $train_docs + $val_docs + $test_docs documents, the file $all_docs"
[ "$test_docs" -gt 0 ] && [ "$val_docs" -gt 0 ] || fail "an empty validation ($val_docs) or test ($test_docs) split"
[ "${empty_docs:-1}" -eq 0 ] || fail "the test directory's train split holds $empty_docs documents"
tokenize "$tmp/again" >/dev/null 2>&1
cmp -s "$tmp/shards/test/val-00000.tok" "$tmp/again/test/val-00000.tok" || fail "the test split differs between two runs"
# The plain train/validation split is unchanged by --test-fraction: the same validation documents.
"$retort" tokenize --tokenizer "$gguf" --out "$tmp/two" --separator % --val-fraction 0.2 --seed 0 "$corpus" >/dev/null 2>&1
cmp -s "$tmp/shards/val-00000.tok" "$tmp/two/val-00000.tok" || fail "--test-fraction changed the validation split"
[ ! -e "$tmp/two/test" ] || fail "a test directory without --test-fraction"
expect 2 "" -- "$retort" tokenize --tokenizer "$gguf" --out "$tmp/bad" --val-fraction 0.5 --test-fraction 0.5 "$corpus"
grep -q "test-fraction" "$tmp/err" || fail "--val-fraction 0.5 --test-fraction 0.5 not named: $(cat "$tmp/err")"

# 2. A tiny student on the shards.
cat >"$tmp/student.yaml" <<YAML
run: {name: tiny, out_dir: $tmp/run, seed: 1}
data: {dataset: tokens, dir: $tmp/shards, seq_len: 32}
student: {arch: llama, dim: 32, n_layers: 1, n_heads: 2, n_kv_heads: 1, ffn_dim: 64, tie_embeddings: true}
optim: {name: adamw, lr: 0.003}
train: {batch_size: 4, epochs: 1, max_steps: 3, log_every_steps: 3, eval_batch_size: 4}
YAML
timeout 300 "$retort" train "$tmp/student.yaml" >"$tmp/train.log" 2>&1 || { fail "training: $(tail -3 "$tmp/train.log")"; finish e2e_lm_eval; }
ckpt=$tmp/run/final.safetensors

# 3. --split val equals the trainer's final validation perplexity (two implementations).
"$retort" eval --config "$tmp/student.yaml" --checkpoint "$ckpt" --json "$tmp/val.json" >"$tmp/val.out" 2>&1 ||
  fail "eval --split val: $(cat "$tmp/val.out")"
grep -q "validation perplexity" "$tmp/val.out" || fail "eval printed no validation perplexity: $(cat "$tmp/val.out")"
awk -v a="$(json "$tmp/val.json" student_perplexity)" -v b="$(json "$tmp/run/summary.json" test_perplexity)" \
  'BEGIN { d = a - b; if (d < 0) d = -d; exit !(a > 0 && d <= 1e-4 * b) }' ||
  fail "eval's validation perplexity $(json "$tmp/val.json" student_perplexity) != the trainer's $(json "$tmp/run/summary.json" test_perplexity)"

# 4. --split test against the real teacher.
cat "$tmp/student.yaml" >"$tmp/compare.yaml"
echo "teacher: {source: online, checkpoint: $gguf}" >>"$tmp/compare.yaml"
timeout 300 "$retort" eval --config "$tmp/compare.yaml" --checkpoint "$ckpt" --split test --json "$tmp/test.json" >"$tmp/test.out" 2>&1 ||
  fail "eval --split test with the teacher: $(cat "$tmp/test.out")"
cat "$tmp/test.out"
grep -q "test perplexity" "$tmp/test.out" || fail "no test perplexity line"
grep -q "^teacher .*KL(teacher || student)" "$tmp/test.out" || fail "no teacher line"
tp=$(json "$tmp/test.json" teacher_perplexity) sp=$(json "$tmp/test.json" student_perplexity)
kl=$(json "$tmp/test.json" kl_teacher_student) agree=$(json "$tmp/test.json" top1_agreement) n=$(json "$tmp/test.json" tokens)
awk -v t="${tp:-0}" -v s="${sp:-0}" -v k="${kl:-0}" -v a="${agree:--1}" \
  'BEGIN { exit !(t > 1 && t < 200 && s > t && k > 0.5 && a >= 0 && a < 1) }' ||
  fail "implausible test metrics: teacher ppl $tp, student ppl $sp, KL $kl, agreement $agree"
# Every test window: floor((tokens − 1) / 32) windows of 32 counted tokens.
[ "$n" -eq $(((test_tokens - 1) / 32 * 32)) ] || fail "$n tokens evaluated, the test split has $(((test_tokens - 1) / 32)) windows of 32"

# 5. The student as its own teacher: KL 0, agreement 1, equal perplexities.
sed "s|checkpoint: $gguf|checkpoint: $ckpt|" "$tmp/compare.yaml" >"$tmp/self.yaml"
"$retort" eval --config "$tmp/self.yaml" --checkpoint "$ckpt" --split test --json "$tmp/self.json" >"$tmp/self.out" 2>&1 ||
  fail "eval against itself: $(cat "$tmp/self.out")"
awk -v k="$(json "$tmp/self.json" kl_teacher_student)" -v a="$(json "$tmp/self.json" top1_agreement)" 'BEGIN { exit !(k == 0 && a == 1) }' ||
  fail "the student against itself: KL $(json "$tmp/self.json" kl_teacher_student), agreement $(json "$tmp/self.json" top1_agreement)"

# 6. Refusals: no test split, an unknown split, --split for an MLP.
cp -r "$tmp/two" "$tmp/notest"
sed "s|dir: $tmp/shards|dir: $tmp/notest|" "$tmp/student.yaml" >"$tmp/notest.yaml"
expect 2 "" -- "$retort" eval --config "$tmp/notest.yaml" --checkpoint "$ckpt" --split test
grep -q "test-fraction" "$tmp/err" || fail "a missing test split does not say how to make one: $(cat "$tmp/err")"
expect 2 "" -- "$retort" eval --config "$tmp/student.yaml" --checkpoint "$ckpt" --split train
finish e2e_lm_eval
