#!/usr/bin/env bash
# The Fashion-MNIST distillation table (Hinton, Vinyals & Dean 2015, §3 on this data): teacher
# 784-1200-1200-10, students 800-800 and 30-30 trained from scratch on hard labels and distilled,
# with all labels and with 5% of them, over several seeds; a temperature sweep; SVG plots; and
# results.md written from the runs' summary.json files (never by hand).
# Usage: examples/fashion_mnist/run_table.sh [--quick] [--out DIR] [--retort BIN] [--seeds "1 2 3"]
#   [--all-seeds "1"] [--all-epochs N] [--sweep "1 2 4 8 20"] [--sweep-seeds "1"] [--no-online-check]
#   [--baselines-only]   (only the from-scratch runs, which need no teacher: start them while it trains)
# Finished runs (summary.json present) are reused, so an interrupted table resumes where it stopped.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
here=examples/fashion_mnist
retort=build/bin/retort
out=runs/fmnist-table
seeds="1 2 3"           # 5% regime
all_seeds="1 2 3"       # all-labels regime (seeds after the first run last)
all_epochs=3
all_fraction=1          # the "all labels" regime (the quick smoke test uses a tenth)
small_epochs=60
sweep="1 2 4 8 20"
sweep_seeds="1"
online_check=1
quick=0
baselines_only=0
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --out) out=${2:?--out needs a directory}; shift ;;
    --retort) retort=${2:?--retort needs a path}; shift ;;
    --seeds) seeds=${2:?}; shift ;;
    --all-seeds) all_seeds=${2:?}; shift ;;
    --all-epochs) all_epochs=${2:?}; shift ;;
    --sweep) sweep=${2:?}; shift ;;
    --sweep-seeds) sweep_seeds=${2:?}; shift ;;
    --no-online-check) online_check=0 ;;
    --baselines-only) baselines_only=1 ;;
    -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run_table.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done
results=$here/results.md
plots=$here/plots
if [ $quick = 1 ]; then  # smoke test of the script itself: tiny schedules, nothing committed is touched
  [ "$out" = runs/fmnist-table ] && out=runs/fmnist-table-quick
  seeds="1 2"; all_seeds="1"; all_epochs=1; all_fraction=0.1; small_epochs=2; sweep="1 4"; sweep_seeds="1"
  results=$out/results.md
  plots=$out/plots
fi
[ -x "$retort" ] || { echo "run_table.sh: no retort binary at $retort (build first: launch/setup.sh)" >&2; exit 2; }
mkdir -p "$out" "$plots"
log=$out/run_table.log
start=$(date +%s)
say() { echo "[$(date -u +%H:%M:%S)] $*" | tee -a "$log"; }

# --- summary.json and resolved-config readers ---------------------------------------------------
field() { sed -nE "s/.*\"$2\": *([-0-9.e+]+).*/\1/p" "$1" | head -n 1; }
cfgval() {  # resolved.yaml section key
  awk -v s="$2:" -v k="$3:" '$0 ~ "^[a-z]" { in_s = ($1 == s) } in_s && $1 == k { print $2; exit }' "$1"
}

# --- running -------------------------------------------------------------------------------------
# run_job NAME CONFIG LAUNCH_ARGS... -- OVERRIDES...: one retort launch --emulate, skipped when done.
run_job() {
  local name=$1 config=$2; shift 2
  local launch_args=()
  while [ "$1" != -- ]; do launch_args+=("$1"); shift; done
  shift
  local dir=$out/$name
  if [ -f "$dir/summary.json" ]; then say "reuse  $name"; return; fi
  rm -rf "$dir"
  mkdir -p "$dir"
  "$retort" config check "$config" --set run.out_dir="$dir" "$@" > "$dir.resolved.yaml"
  say "start  $name"
  "$retort" launch --emulate "$config" "${launch_args[@]}" --set run.out_dir="$dir" \
    --set logging.progress=never "$@" > "$dir.log" 2>&1 || {
    say "FAILED $name (exit $?): see $dir.log"; tail -n 20 "$dir.log" >&2; exit 1; }
  say "done   $name: $(field "$dir/summary.json" test_errors) errors, $(field "$dir/summary.json" wall_s) s"
}

# teach_cache DIR CONFIG OVERRIDES...: the teacher's logits for the run's data subset, written once.
teach_cache() {
  local dir=$1 config=$2; shift 2
  if [ -f "$dir/index.json" ]; then return; fi
  rm -rf "$dir"
  mkdir -p "$(dirname "$dir")"
  say "teach  $dir"
  "$retort" teach "$config" --set teacher.cache_dir="$dir" --set teacher.checkpoint="$teacher" \
    --set run.out_dir="$dir.run" --set logging.progress=never "$@" > "$dir.log" 2>&1 || {
    say "FAILED teach $dir: see $dir.log"; tail -n 20 "$dir.log" >&2; exit 1; }
}

# student SIZE REGIME SEED [T]: scratch and distilled runs of one student size, data regime and seed.
# regime_args REGIME SEED: sets `common`, the overrides every run of that regime and seed gets.
regime_args() {
  local fraction=$all_fraction epochs=$all_epochs
  [ "$1" = 5pct ] && { fraction=0.05; epochs=$small_epochs; }
  common=(--set run.seed="$2" --set data.train_fraction="$fraction" --set train.epochs="$epochs")
}
# scratch SIZE REGIME SEED: the student trained on hard labels only.
scratch() {
  local common; regime_args "$2" "$3"
  run_job "$1-$2-scratch-seed$3" "$here/student-$1-scratch.yaml" --students 2 -- "${common[@]}"
}
student() {
  local size=$1 regime=$2 seed=$3 temp=${4:-}
  local common; regime_args "$regime" "$seed"
  local dcfg=$here/student-$size-distill.yaml
  [ -n "$temp" ] || temp=$(cfgval <("$retort" config check "$dcfg" --set teacher.checkpoint="$teacher") distill temperature)
  local cache=$out/cache/$regime-seed$seed-T$temp
  [ -n "${4:-}" ] || scratch "$size" "$regime" "$seed"
  teach_cache "$cache" "$dcfg" "${common[@]}" --set distill.temperature="$temp"
  local name="$size-$regime-distill-seed$seed"
  if [ -n "${4:-}" ]; then  # sweep: lr·min(1, T0/T) against the T² factor
    name="sweep-$size-$regime-T$temp-seed$seed"
    local resolved; resolved=$("$retort" config check "$dcfg" --set teacher.checkpoint="$teacher")
    local t0 lr0
    t0=$(cfgval <(echo "$resolved") distill temperature); lr0=$(cfgval <(echo "$resolved") optim lr)
    common+=(--set optim.lr="$(awk "BEGIN { printf \"%g\", $lr0 * ($temp > $t0 ? $t0 / $temp : 1) }")")
  fi
  run_job "$name" "$dcfg" --teachers 0 --students 2 -- "${common[@]}" --set teacher.source=cache \
    --set teacher.cache_dir="$cache" --set teacher.checkpoint="$teacher" --set distill.temperature="$temp"
}

# --- results.md ----------------------------------------------------------------------------------
stats() {  # values... -> "mean std n" (sample std; 0 when n = 1)
  printf '%s\n' "$@" | awk 'NF { x[n++] = $1; s += $1 } END {
    if (n == 0) { print "nan nan 0"; exit } m = s / n; v = 0
    for (i = 0; i < n; i++) v += (x[i] - m) ^ 2
    printf "%.6f %.6f %d\n", m, (n > 1 ? sqrt(v / (n - 1)) : 0), n }'
}
collect() {  # NAME_PATTERN FIELD -> values of FIELD in the matching finished runs
  local f
  for f in $out/$1/summary.json; do [ -f "$f" ] && field "$f" "$2"; done
  return 0
}
collect_best() {  # NAME_PATTERN -> the lowest test_errors of any evaluation during each matching run
  local f
  for f in $out/$1/metrics.jsonl; do
    [ -f "$f" ] && sed -nE '/"kind":"eval"/ s/.*"test_errors":([0-9]+).*/\1/p' "$f" | sort -n | head -n 1
  done
  return 0
}
pm() { awk -v m="$1" -v s="$2" -v n="$3" -v scale="$4" -v d="$5" 'BEGIN {
  if (n == 0) { print "—"; exit } fmt = "%." d "f"
  if (n > 1) printf(fmt " ± " fmt, m * scale, s * scale); else printf(fmt, m * scale) }'; }

write_results() {
  local now; now=$(date +%s)
  local cpu; cpu=$(sed -nE 's/^model name\s*: //p' /proc/cpuinfo | head -n 1)
  local t_err t_acc t_wall
  t_err=$(field "$teacher_dir/summary.json" test_errors); t_acc=$(field "$teacher_dir/summary.json" test_accuracy)
  t_wall=$(field "$teacher_dir/summary.json" wall_s)
  {
    echo "# Fashion-MNIST: distillation table"
    echo
    echo "Written by \`examples/fashion_mnist/run_table.sh\` from the runs' \`summary.json\` files"
    echo "($(date -u '+%Y-%m-%d %H:%M UTC'); do not edit by hand — rerun the script)."
    echo
    echo "- Machine: $(nproc) CPU cores ($cpu), $(awk '/MemTotal/ { printf "%.0f GB", $2 / 1048576 }' /proc/meminfo)," \
         "shared with other jobs while this ran; $("$retort" version)."
    echo "- Wall time of this table: $(( (now - start) / 60 )) min $(( (now - start) % 60 )) s" \
         "(runs reused from an earlier invocation are not included)."
    echo "- Test set: 10,000 images. Errors and accuracy: mean ± sample std over seeds (seed = data subset and init)."
    echo "- Teacher 784-1200-1200-10 (\`teacher.yaml\`, $teacher_note): **$t_err errors," \
         "$(awk "BEGIN { printf \"%.2f\", 100 * $t_acc }")%** test accuracy, trained in ${t_wall%.*} s."
    echo
    echo "| student | labels | epochs | seeds | scratch errors | scratch acc % | scratch best-eval errors | distilled errors | distilled acc % | fewer errors | gap recovered | T | α | lr scratch / distilled | wall scratch / distilled (s) |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    local size regime
    for regime in 5pct all; do
      for size in 800x800 30x30; do
        local se sa de da sw dw n
        read -r se_m se_s n <<< "$(stats $(collect "$size-$regime-scratch-seed*" test_errors))"
        read -r de_m de_s dn <<< "$(stats $(collect "$size-$regime-distill-seed*" test_errors))"
        read -r sa_m sa_s _ <<< "$(stats $(collect "$size-$regime-scratch-seed*" test_accuracy))"
        read -r da_m da_s _ <<< "$(stats $(collect "$size-$regime-distill-seed*" test_accuracy))"
        read -r sb_m sb_s _ <<< "$(stats $(collect_best "$size-$regime-scratch-seed*"))"
        read -r sw _ _ <<< "$(stats $(collect "$size-$regime-scratch-seed*" wall_s))"
        read -r dw _ _ <<< "$(stats $(collect "$size-$regime-distill-seed*" wall_s))"
        [ "$n" = 0 ] && [ "$dn" = 0 ] && continue
        local resolved; resolved=$(ls $out/$size-$regime-distill-seed*.resolved.yaml 2>/dev/null | head -n 1 || true)
        local sresolved; sresolved=$(ls $out/$size-$regime-scratch-seed*.resolved.yaml 2>/dev/null | head -n 1 || true)
        local SLR=—
        [ -n "$sresolved" ] && SLR=$(cfgval "$sresolved" optim lr)
        local T=— A=— LR=— EP=— labels=—
        if [ -n "$resolved" ]; then
          labels=$(awk -v f="$(cfgval "$resolved" data train_fraction)" 'BEGIN { printf "%s (%d)", (f == 1 ? "all" : 100 * f "%"), 60000 * f }')
          T=$(cfgval "$resolved" distill temperature); A=$(cfgval "$resolved" distill alpha)
          LR=$(cfgval "$resolved" optim lr); EP=$(cfgval "$resolved" train epochs)
        fi
        local fewer=— gap=—
        if [ "$n" != 0 ] && [ "$dn" != 0 ]; then
          fewer=$(awk "BEGIN { printf \"%.0f\", $se_m - $de_m }")
          gap=$(awk "BEGIN { g = $se_m - $t_err; if (g <= 0) print \"—\"; else printf \"%.0f%%\", 100 * ($se_m - $de_m) / g }")
        fi
        echo "| ${size/x/-} | $labels | $EP | $n / $dn | $(pm "$se_m" "$se_s" "$n" 1 0) | $(pm "$sa_m" "$sa_s" "$n" 100 2) | $(pm "$sb_m" "$sb_s" "$n" 1 0) |" \
             "$(pm "$de_m" "$de_s" "$dn" 1 0) | $(pm "$da_m" "$da_s" "$dn" 100 2) | $fewer | $gap | $T | $A | $SLR / $LR |" \
             "$(pm "$sw" 0 $((n > 0)) 1 0) / $(pm "$dw" 0 $((dn > 0)) 1 0) |"
      done
    done
    echo
    echo "Targets (issue 8): teacher ≥ 89.5% accuracy; at 5% of the labels the distilled student has ≥ 150"
    echo "fewer errors than the scratch student for both sizes (mean over 3 seeds)."
    for size in 800x800 30x30; do
      read -r se_m _ n <<< "$(stats $(collect "$size-5pct-scratch-seed*" test_errors))"
      read -r de_m _ dn <<< "$(stats $(collect "$size-5pct-distill-seed*" test_errors))"
      [ "$n" != 0 ] && [ "$dn" != 0 ] || continue
      echo "- ${size/x/-} at 5%: $(awk "BEGIN { d = $se_m - $de_m; printf \"%.0f fewer errors over %d/%d seeds: %s\", d, $n, $dn, (d >= 150 ? \"met\" : \"NOT met\") }")."
    done
    echo "- Teacher: $(awk "BEGIN { print ($t_acc >= 0.895 ? \"met\" : \"NOT met\") }") ($(awk "BEGIN { printf \"%.2f\", 100 * $t_acc }")%)."
    echo
    if ls $out/sweep-30x30-5pct-T*-seed*/summary.json > /dev/null 2>&1; then
      echo "## Temperature sweep: 30-30 student, 5% of the labels (seeds: $sweep_seeds)"
      echo
      echo "| T | errors | accuracy % | α | lr | wall (s) |"
      echo "|---|---|---|---|---|---|"
      local t
      for t in $sweep; do
        read -r e_m e_s n <<< "$(stats $(collect "sweep-30x30-5pct-T$t-seed*" test_errors))"
        read -r a_m a_s _ <<< "$(stats $(collect "sweep-30x30-5pct-T$t-seed*" test_accuracy))"
        read -r w _ _ <<< "$(stats $(collect "sweep-30x30-5pct-T$t-seed*" wall_s))"
        [ "$n" = 0 ] && continue
        local r; r=$(ls $out/sweep-30x30-5pct-T$t-seed*.resolved.yaml | head -n 1)
        echo "| $t | $(pm "$e_m" "$e_s" "$n" 1 0) | $(pm "$a_m" "$a_s" "$n" 100 2) | $(cfgval "$r" distill alpha) | $(cfgval "$r" optim lr) | ${w%.*} |"
      done
      echo
    fi
    if [ -n "${online_result:-}" ]; then echo "$online_result"; echo; fi
    echo "## How the runs were made"
    echo
    echo "- Every student run is \`retort launch --emulate\` with 2 data-parallel student ranks; the exact"
    echo "  command, the resolved config and the log of each run are under \`$out/\` (\`NAME.log\`,"
    echo "  \`NAME.resolved.yaml\`, \`NAME/{summary.json,metrics.jsonl}\`)."
    echo "- Distilled runs read the teacher's logits from a cache written once per data subset and"
    echo "  temperature by \`retort teach\` (\`teacher.source: cache\`): with no jitter an online teacher"
    echo "  recomputes the same logits every epoch (${small_epochs}× the teacher work of a cached 5% run), which this"
    echo "  shared 2-core machine cannot afford for every entry. A cached student is bitwise-equal to the"
    echo "  online one (tests/e2e/distill); the online check above reruns one entry with 1 teacher + 2"
    echo "  student ranks and compares."
    echo "- Temperature sweep: the learning rate is scaled as lr·min(1, T₀/T) (T₀ = the 30-30 config's"
    echo "  temperature) because the T²-scaled soft-target gradient makes high temperatures unstable at"
    echo "  the base rate."
    echo "- Every number is the final model's (no early stopping). \"scratch best-eval errors\" is the lowest"
    echo "  test-set count among the scratch run's periodic evaluations (every \`train.eval_every_steps\`): what"
    echo "  an oracle early stop would have kept, shown so the part of the gap that is the scratch student"
    echo "  overfitting 3,000 images is visible."
    echo "- Epochs: $all_epochs in the all-labels regime, $small_epochs in the 5% regime (to fit the compute budget)."
    echo "- Plots (written by \`retort plot\`): \`plots/loss_*.svg\` (training loss and test accuracy, scratch vs"
    echo "  distilled, seed 1) and \`plots/temperature_sweep.svg\`."
  } > "$results.tmp"
  mv "$results.tmp" "$results"
}

# --- the table -----------------------------------------------------------------------------------
say "run_table.sh: out=$out seeds=[$seeds] all-labels seeds=[$all_seeds] epochs 5%=$small_epochs all=$all_epochs sweep=[$sweep]"
if [ $baselines_only = 1 ]; then
  for seed in $seeds; do for size in 800x800 30x30; do scratch "$size" 5pct "$seed"; done; done
  for seed in $all_seeds; do for size in 30x30 800x800; do scratch "$size" all "$seed"; done; done
  say "baselines done in $(( $(date +%s) - start )) s; rerun without --baselines-only for the rest"
  exit 0
fi
teacher=runs/fmnist-teacher/final.safetensors
teacher_dir=runs/fmnist-teacher
if [ -f "$teacher" ] && [ $quick = 0 ]; then  # --quick trains its own 1-epoch teacher (tests that path too)
  teacher_note="reused from $teacher_dir/"
  say "teacher: reusing $teacher"
else
  teacher_dir=$out/teacher
  teacher=$teacher_dir/final.safetensors
  t_over=()
  [ $quick = 1 ] && t_over=(--set train.epochs=1 --set train.eval_every_steps=0)
  run_job teacher "$here/teacher.yaml" --students 2 -- "${t_over[@]}"
  teacher_note="trained by this script"
fi

s1=$(echo $seeds | awk '{ print $1 }')
a1=$(echo $all_seeds | awk '{ print $1 }')
# Order: what the targets need first, so a stopped table still has its key rows (results.md is
# rewritten after every run).
for seed in $seeds; do
  for size in 800x800 30x30; do student "$size" 5pct "$seed"; write_results; done
done
for t in $sweep; do
  for seed in $sweep_seeds; do student 30x30 5pct "$seed" "$t"; write_results; done
done
for size in 30x30 800x800; do student "$size" all "$a1"; write_results; done

# --- plots ---------------------------------------------------------------------------------------
for size in 800x800 30x30; do
  "$retort" plot "$out/$size-5pct-scratch-seed$s1" "$out/$size-5pct-distill-seed$s1" --label scratch --label distilled \
    --title "${size/x/-} student, 5% of the labels (seed $s1)" -o "$plots/loss_${size}_5pct.svg" 2>> "$log"
done
"$retort" plot "$out/30x30-all-scratch-seed$a1" "$out/30x30-all-distill-seed$a1" --label scratch --label distilled \
  --title "30-30 student, all labels (seed $a1)" -o "$plots/loss_30x30_all.svg" 2>> "$log"
sweep_jsonl=$out/temperature_sweep.jsonl
: > "$sweep_jsonl"
for t in $sweep; do
  for f in $out/sweep-30x30-5pct-T$t-seed*/summary.json; do
    [ -f "$f" ] && echo "{\"temperature\": $t, \"test_errors\": $(field "$f" test_errors)}" >> "$sweep_jsonl"
  done
done
scratch_ref=$(stats $(collect "30x30-5pct-scratch-seed*" test_errors) | awk '{ printf "%.0f", $1 }')
: > "$out/scratch_ref.jsonl"
for t in $sweep; do echo "{\"temperature\": $t, \"test_errors\": $scratch_ref}" >> "$out/scratch_ref.jsonl"; done
"$retort" plot "$sweep_jsonl" "$out/scratch_ref.jsonl" --x temperature --y test_errors \
  --label "distilled 30-30 (5%)" --label "scratch 30-30 (5%, mean)" \
  --title "Temperature sweep: 30-30 student, 5% of the labels" -o "$plots/temperature_sweep.svg" 2>> "$log"
say "plots written to $plots/"

# --- one entry with online teachers: 1 teacher + 2 students -------------------------------------
if [ $online_check = 1 ]; then
  run_job "30x30-5pct-distill-online-seed$s1" "$here/student-30x30-distill.yaml" --teachers 1 --students 2 -- \
    --set run.seed="$s1" --set data.train_fraction=0.05 --set train.epochs="$small_epochs" \
    --set teacher.checkpoint="$teacher"
  a=$(field "$out/30x30-5pct-distill-online-seed$s1/summary.json" test_errors)
  b=$(field "$out/30x30-5pct-distill-seed$s1/summary.json" test_errors)
  online_result="Online check (30-30, 5%, seed $s1, 1 teacher + 2 student ranks, teacher in the loop): $a errors in"
  online_result+=" $(field "$out/30x30-5pct-distill-online-seed$s1/summary.json" wall_s | cut -d. -f1) s; the cached run: $b errors"
  online_result+=" ($([ "$a" = "$b" ] && echo identical || echo DIFFERENT))."
  write_results
fi

# --- the remaining all-labels seeds --------------------------------------------------------------
for seed in $all_seeds; do
  [ "$seed" = "$a1" ] && continue
  for size in 30x30 800x800; do student "$size" all "$seed"; write_results; done
done
write_results
say "wrote $results and $plots/ in $(( $(date +%s) - start )) s"
cat "$results"
