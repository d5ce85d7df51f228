#!/usr/bin/env bash
# Tunes the tiny-LM table's distillation alpha (CE weight) and temperature T on the VALIDATION split
# only: the main row (top-32 + tail) at the table's student, schedule and token budget, one seed,
# for every (alpha, T) of the grid, against the scratch student and the teacher on the same split.
# Writes examples/tiny_lm/tune.md (the grid, each point's validation perplexity and gap closed, the
# choice: the lowest validation perplexity). The test split is never read here. The grid's runs of
# one temperature train side by side (--jobs, default all of them; each is single-rank).
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
# The table's data (run_table.sh's files and split fractions).
gguf=$("$here/prepare.sh" "$out" --files "computers science" --val-fraction 0.05 --test-fraction 0.1 --retort "$retort" 2>>"$log")
common=(--set data.dir="$out/shards" --set logging.progress=never --set run.seed="$seed")
teacher_set=(--set teacher.checkpoint="$gguf")
run() {  # NAME CONFIG ARGS...: one training run, skipped when its summary exists
  local name=$1 config=$2; shift 2
  local dir=$out/$name
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
    --checkpoint "$out/scratch-seed$seed/final.safetensors" --json "$out/teacher_val.json.part" > "$out/teacher_val.log" 2>&1
  mv "$out/teacher_val.json.part" "$out/teacher_val.json"
fi
teacher=$(field "$out/teacher_val.json" teacher_perplexity)
scratch=$(field "$out/scratch-seed$seed/summary.json" test_perplexity)
steps=$(field "$out/scratch-seed$seed/summary.json" steps)
best="" best_ppl=""
{
  echo "# Tuning alpha and T of the tiny-LM table (validation split only)"
  echo
  echo "Written by \`examples/tiny_lm/tune.sh --alphas \"$alphas\" --temperatures \"$temperatures\" --seed $seed\` on $(date -u +%Y-%m-%d) at commit $(git rev-parse --short HEAD) with $retort,"
  echo "$(nproc) cores, load average $load_start at the start and $(cut -d' ' -f1-3 /proc/loadavg) at the end; $(( $(date +%s) - start )) s (finished runs reused)."
  echo
  echo "Row $row (top-32 + tail, forward KL), the table's student, data and schedule ($steps steps), seed $seed. Every figure is"
  echo "the validation split's (\`summary.json\` of each run, the trainer's final evaluation; the teacher's by \`retort eval --split val\`);"
  echo "the held-out test split is never read. Gap closed = (ppl_scratch − ppl) / (ppl_scratch − ppl_teacher)."
  echo
  echo "| alpha (CE weight) | T | validation perplexity | gap closed |"
  echo "|---|---|---|---|"
  printf '| teacher | — | %.2f | — |\n' "$teacher"
  printf '| scratch (CE only) | — | %.2f | — |\n' "$scratch"
  for t in $temperatures; do
    for a in $alphas; do
      ppl=$(field "$out/$row-a$a-T$t/summary.json" test_perplexity)
      printf '| %s | %s | %.2f | %s |\n' "$a" "$t" "$ppl" "$(awk -v s="$scratch" -v t="$teacher" -v p="$ppl" 'BEGIN { printf "%.1f%%", 100 * (s - p) / (s - t) }')"
      if [ -z "$best_ppl" ] || awk -v p="$ppl" -v b="$best_ppl" 'BEGIN { exit !(p < b) }'; then best="alpha = $a, T = $t" best_ppl=$ppl; fi
    done
  done
  echo
  echo "Chosen: $best (the lowest validation perplexity); the table's distilled rows use it."
} > "$here/tune.md"
say "wrote $here/tune.md: $best"
