#!/usr/bin/env bash
# Retort quickstart: build (installing what is missing), train the Fashion-MNIST teacher when no
# teacher checkpoint exists yet (a short schedule), then train a 784-30-30-10 student on 5% of
# the labels twice — from scratch, and distilled from the teacher with 1 teacher + 2 student
# ranks in single-node emulation — and print the comparison table.
# Usage: launch/quickstart.sh [--out DIR] [--teacher-epochs N]
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
out=runs/quickstart
teacher_epochs=4
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=${2:?--out needs a directory}; shift ;;
    --teacher-epochs) teacher_epochs=${2:?--teacher-epochs needs a number}; shift ;;
    -h|--help) sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "quickstart.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done

echo "== 1/4 build (launch/setup.sh)"
launch/setup.sh
retort=build/bin/retort
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

field() { sed -nE "s/.*\"$2\": *([-0-9.e+]+).*/\1/p" "$1" | head -n 1; }
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
