#!/usr/bin/env bash
# Tunes the tiny-LM table's distillation alpha (CE weight) and temperature T on the VALIDATION split
# only: the main row (top-32 + tail) at the table's student, schedule and token budget, one seed,
# for every (alpha, T) of the grid, against the scratch student and the teacher on the same split.
# Writes examples/tiny_lm/tune.md (the grid, each point's validation perplexity and gap closed, the
# choice: the lowest validation perplexity). The test split is never read here. The grid's runs of
# one temperature train side by side (--jobs, default all of them; each is single-rank). Runs live
# under OUT/PROTOCOL (learning rate, warmup, batch, steps and student dim of the table's yamls), so
# a changed protocol never reuses another's runs; tune.md also lists every protocol found there.
# Usage: examples/tiny_lm/tune.sh [--alphas "0.1 0.5"] [--temperatures "1 2"] [--seed 1] [--jobs N]
#   [--out DIR] [--retort BIN]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
here=examples/tiny_lm
tables=$here/table
retort=build/bin/retort
out=runs/tiny_lm/tune
alphas="0.1 0.5"
temperatures="1"
seed=1
jobs=0
row=topk32
while [ $# -gt 0 ]; do
  case "$1" in
    --alphas) alphas=${2:?}; shift ;;
    --temperatures) temperatures=${2:?}; shift ;;
    --seed) seed=${2:?}; shift ;;
    --jobs) jobs=${2:?}; shift ;;
    --out) out=${2:?}; shift ;;
    --retort) retort=${2:?}; shift ;;
    -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "tune.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done
[ -x "$retort" ] || { echo "tune.sh: no retort binary at $retort" >&2; exit 2; }
mkdir -p "$out"
log=$out/tune.log
start=$(date +%s) load_start=$(cut -d' ' -f1-3 /proc/loadavg)
say() { echo "[$(date -u +%H:%M:%S)] $*" | tee -a "$log"; }
field() { sed -nE "s/.*\"$2\": *([-0-9.e+]+).*/\1/p" "$1" | head -n 1; }
cfgval() {  # resolved.yaml section key
  awk -v s="$2:" -v k="$3:" '$0 ~ "^[a-z]" { in_s = ($1 == s) } in_s && $1 == k { print $2; exit }' "$1"
}
gap() {  # SCRATCH TEACHER PPL -> the share of the scratch -> teacher gap closed
  awk -v s="$1" -v t="$2" -v p="$3" 'BEGIN { printf "%.1f%%", 100 * (s - p) / (s - t) }'
}
# The table's data (run_table.sh's files and split fractions).
gguf=$("$here/prepare.sh" "$out" --files "computers science" --val-fraction 0.05 --test-fraction 0.1 --retort "$retort" 2>>"$log")
common=(--set data.dir="$out/shards" --set logging.progress=never --set run.seed="$seed")
teacher_set=(--set teacher.checkpoint="$gguf")
# The protocol every row shares (the table's yamls): its runs live under $out/$protocol.
"$retort" config check "$tables/scratch.yaml" "${common[@]}" > "$out/scratch.resolved.yaml"
resolved=$out/scratch.resolved.yaml
lr=$(cfgval "$resolved" optim lr) warmup=$(cfgval "$resolved" schedule warmup_steps)
batch=$(cfgval "$resolved" train batch_size) max_steps=$(cfgval "$resolved" train max_steps)
dim=$(cfgval "$resolved" student dim)
protocol=lr$lr-wu$warmup-b$batch-s$max_steps-d$dim
runs=$out/$protocol
mkdir -p "$runs"
run() {  # NAME CONFIG ARGS...: one training run, skipped when its summary exists
  local name=$1 config=$2; shift 2
  local dir=$runs/$name
  [ -f "$dir/summary.json" ] && return
  rm -rf "$dir"
  say "train  $name"
  "$retort" train "$config" "${common[@]}" --set run.out_dir="$dir" "$@" > "$dir.log" 2>&1 || {
    say "FAILED $name: see $dir.log"; tail -n 20 "$dir.log" >&2; exit 1; }
}
for t in $temperatures; do
  cache=$out/cache-$row-T$t
  if [ ! -f "$cache/index.json" ]; then
    rm -rf "$cache" "$cache.run"
    say "teach  $row at T = $t"
    "$retort" teach "$tables/$row.yaml" "${common[@]}" "${teacher_set[@]}" --set distill.temperature="$t" \
      --set teacher.cache_dir="$cache" --set run.out_dir="$cache.run" > "$cache.log" 2>&1 || {
      say "FAILED teach: see $cache.log"; exit 1; }
  fi
  running=0
  for a in $alphas; do
    run "$row-a$a-T$t" "$tables/$row.yaml" "${teacher_set[@]}" --set distill.temperature="$t" --set distill.alpha="$a" \
      --set teacher.cache_dir="$cache" &
    running=$((running + 1))
    if [ "$jobs" -gt 0 ] && [ "$running" -ge "$jobs" ]; then wait -n || exit 1; running=$((running - 1)); fi
  done
  while [ "$running" -gt 0 ]; do wait -n || exit 1; running=$((running - 1)); done
done
run "scratch-seed$seed" "$tables/scratch.yaml"
# The teacher's validation perplexity (retort eval --split val; the student there is scratch).
if [ ! -f "$out/teacher_val.json" ]; then
  "$retort" eval --config "$tables/eval.yaml" --set data.dir="$out/shards" "${teacher_set[@]}" --split val \
    --checkpoint "$runs/scratch-seed$seed/final.safetensors" --json "$out/teacher_val.json.part" > "$out/teacher_val.log" 2>&1
  mv "$out/teacher_val.json.part" "$out/teacher_val.json"
fi
teacher=$(field "$out/teacher_val.json" teacher_perplexity)
scratch=$(field "$runs/scratch-seed$seed/summary.json" test_perplexity)
steps=$(field "$runs/scratch-seed$seed/summary.json" steps)
wall_of() { printf '%.0f' "$(field "$1/summary.json" wall_s)"; }
best="" best_ppl=""
{
  echo "# Tuning alpha and T of the tiny-LM table (validation split only)"
  echo
  echo "Written by \`examples/tiny_lm/tune.sh --alphas \"$alphas\" --temperatures \"$temperatures\" --seed $seed\` on $(date -u +%Y-%m-%d) at commit $(git rev-parse --short HEAD) with $retort,"
  echo "$(nproc) cores, load average $load_start at the start and $(cut -d' ' -f1-3 /proc/loadavg) at the end; $(( $(date +%s) - start )) s (finished runs reused)."
  echo
  echo "Row $row (top-32 + tail, forward KL), the table's student, data and schedule (protocol $protocol: AdamW lr $lr, cosine"
  echo "with $warmup warmup steps, $steps steps of $batch windows × $(cfgval "$resolved" data seq_len) tokens, student dim $dim), seed $seed. Every figure is"
  echo "the validation split's (\`summary.json\` of each run, the trainer's final evaluation; the teacher's by \`retort eval --split val\`);"
  echo "the held-out test split is never read. Gap closed = (ppl_scratch − ppl) / (ppl_scratch − ppl_teacher)."
  echo
  echo "| alpha (CE weight) | T | validation perplexity | gap closed | train wall s |"
  echo "|---|---|---|---|---|"
  printf '| teacher | — | %.2f | — | — |\n' "$teacher"
  printf '| scratch (CE only) | — | %.2f | — | %s |\n' "$scratch" "$(wall_of "$runs/scratch-seed$seed")"
  for t in $temperatures; do
    for a in $alphas; do
      ppl=$(field "$runs/$row-a$a-T$t/summary.json" test_perplexity)
      printf '| %s | %s | %.2f | %s | %s |\n' "$a" "$t" "$ppl" "$(gap "$scratch" "$teacher" "$ppl")" "$(wall_of "$runs/$row-a$a-T$t")"
      if [ -z "$best_ppl" ] || awk -v p="$ppl" -v b="$best_ppl" 'BEGIN { exit !(p < b) }'; then best="alpha = $a, T = $t" best_ppl=$ppl; fi
    done
  done
  echo
  echo "Chosen: $best (the lowest validation perplexity); the table's distilled rows use it."
  echo
  echo "Every protocol with runs under \`$out\` (its scratch run and each $row run of seed $seed; validation perplexity, gap closed):"
  echo
  echo "| protocol | scratch | $row runs: alpha, T → perplexity (gap closed) |"
  echo "|---|---|---|"
  for dir in "$out"/lr*; do
    [ -f "$dir/scratch-seed$seed/summary.json" ] || continue
    s=$(field "$dir/scratch-seed$seed/summary.json" test_perplexity) cells=""
    for r in "$dir/$row"-a*; do
      [ -f "$r/summary.json" ] || continue
      p=$(field "$r/summary.json" test_perplexity) name=${r##*/$row-a}
      cells+="${cells:+; }${name%-T*}, ${name##*-T} → $(printf '%.2f' "$p") ($(gap "$s" "$teacher" "$p"))"
    done
    printf '| %s | %.2f | %s |\n' "${dir##*/}" "$s" "${cells:-—}"
  done
} > "$here/tune.md"
say "wrote $here/tune.md: $best"
