#!/usr/bin/env bash
# `retort train` distilling into a CUDA student: 1 CPU teacher rank (teacher.device: cpu) + 1
# student rank with device: cuda, dense and top-k teacher logits, against the same runs with
# device: cpu. The loss curves must agree within 1e-3 relative per logged step over the first 20
# steps (cuBLAS SGEMMs and the CUDA kd_loss reduce in another order than Eigen and the CPU kernel,
# so the runs are not bitwise equal), and the final test accuracy within 0.02. With 2 GPUs: the
# teacher on a GPU too (logits over NCCL) gives the CPU teacher's student bitwise (the teacher's
# widths 784 and 48 are multiples of 8: the invariant kernels' shared contract), and so do the
# cached targets of `retort teach`; with 3 GPUs: 2 GPU teachers give the 1-teacher student's bits.
# Exits 77 without a GPU.
# Usage: distill_cuda_e2e.sh path/to/retort
source "$(dirname "$0")/../e2e/lib.sh"
gpus=$(nvidia-smi -L 2>/dev/null | grep -c GPU)
if [ "${gpus:-0}" -eq 0 ]; then echo "skipped: no GPU"; exit 77; fi
field() { sed -nE "s/.*\"$2\": *([-0-9.e+a-z]+).*/\1/p" "$1" | head -n 1; }
within() { awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= t) }'; }
losses() { grep '"kind":"train"' "$1" | sed -E 's/.*"loss":([^,}]+).*/\1/' | head -n 20; }

train_small_teacher 48 40 3
cat >"$tmp/distill.yaml" <<YAML
run: {name: distill, seed: 5}
student: {hidden: [64], dropout: 0.2}
data: {train_fraction: 0.05}
teacher: {checkpoint: $tmp/teacher/final.safetensors}
cluster: {teachers: 1, students: 1}
distill: {temperature: 3, alpha: 0.2, lookahead: 2}
train: {batch_size: 60, epochs: 2, log_every_steps: 1, eval_batch_size: 2000}
optim: {lr: 0.02}
YAML

# distill NAME OVERRIDES...: one teacher rank + one student rank.
distill() {
  local name=$1; shift
  timeout 600 "${mpirun[@]}" -np 2 "$retort" train "$tmp/distill.yaml" --set run.out_dir="$tmp/$name" "$@" \
    >"$tmp/$name.log" 2>&1 || { fail "$name training"; tail -n 20 "$tmp/$name.log"; return 1; }
}

for variant in dense topk; do
  extra=()
  [ "$variant" = topk ] && extra=(--set distill.topk=4)
  distill "$variant-cpu" --set device=cpu "${extra[@]}" || continue
  distill "$variant-cuda" --set device=cuda --set teacher.device=cpu "${extra[@]}" || continue
  paste <(losses "$tmp/$variant-cpu/metrics.jsonl") <(losses "$tmp/$variant-cuda/metrics.jsonl") >"$tmp/$variant.curves"
  [ "$(wc -l <"$tmp/$variant.curves")" -eq 20 ] || fail "$variant: expected 20 logged steps, got $(wc -l <"$tmp/$variant.curves")"
  awk '{ d = $1 - $2; if (d < 0) d = -d; m = $1 < 0 ? -$1 : $1; if (d > 1e-3 * m) { print "step " NR ": cpu " $1 " vs cuda " $2; bad = 1 } } END { exit bad }' \
    "$tmp/$variant.curves" || fail "$variant: cpu and cuda loss curves differ by more than 1e-3 relative"
  grep -q '"teacher_agreement"' "$tmp/$variant-cuda/metrics.jsonl" || fail "$variant: no teacher_agreement in the cuda metrics"
  acc_cpu=$(field "$tmp/$variant-cpu/summary.json" test_accuracy)
  acc_cuda=$(field "$tmp/$variant-cuda/summary.json" test_accuracy)
  echo "$variant: test accuracy cpu $acc_cpu, cuda $acc_cuda; first losses $(head -n 1 "$tmp/$variant.curves")"
  within "${acc_cuda:-9}" "${acc_cpu:-0}" 0.02 || fail "$variant: cuda accuracy $acc_cuda is not within 0.02 of the cpu's $acc_cpu"
done

# GPU teachers: one rank per GPU (the NCCL logits channel is one communicator of all ranks).
if [ "$gpus" -lt 2 ]; then
  echo "skipped: GPU teachers over NCCL need 2 GPUs (teacher + student), $gpus visible"
else
  for variant in dense topk; do
    extra=()
    [ "$variant" = topk ] && extra=(--set distill.topk=4)
    distill "$variant-gpu-teacher" --set device=cuda "${extra[@]}" || continue
    grep -q "logits teacher 0 (rank 0) -> student 0 (rank 1): nccl" "$tmp/$variant-gpu-teacher.log" ||
      fail "$variant: the role table does not show the pair over nccl"
    cmp -s "$tmp/$variant-cuda/final.safetensors" "$tmp/$variant-gpu-teacher/final.safetensors" ||
      fail "$variant: a GPU teacher over NCCL did not give the CPU teacher's student bits"
    # The same targets from the cache of retort teach (no jitter: cached logits are per image).
    timeout 300 "${mpirun[@]}" -np 1 "$retort" teach "$tmp/distill.yaml" --set teacher.cache_dir="$tmp/$variant-cache" \
      "${extra[@]}" >"$tmp/$variant-teach.log" 2>&1 || { fail "$variant: retort teach"; continue; }
    timeout 300 "${mpirun[@]}" -np 1 "$retort" train "$tmp/distill.yaml" --set run.out_dir="$tmp/$variant-cached" \
      --set device=cuda --set teacher.source=cache --set teacher.cache_dir="$tmp/$variant-cache" "${extra[@]}" \
      >"$tmp/$variant-cached.log" 2>&1 || { fail "$variant: training from the cache"; continue; }
    cmp -s "$tmp/$variant-gpu-teacher/final.safetensors" "$tmp/$variant-cached/final.safetensors" ||
      fail "$variant: online targets over NCCL and cached targets gave different student bits"
    echo "$variant: GPU teacher over NCCL = CPU teacher = cached targets, bitwise"
  done
  if [ "$gpus" -lt 3 ]; then
    echo "skipped: 2 GPU teachers + 1 student need 3 GPUs, $gpus visible"
  else
    timeout 600 "${mpirun[@]}" -np 3 "$retort" train "$tmp/distill.yaml" --set run.out_dir="$tmp/dense-2-teachers" \
      --set device=cuda --set cluster.teachers=2 >"$tmp/dense-2-teachers.log" 2>&1 || fail "2 GPU teachers training"
    cmp -s "$tmp/dense-gpu-teacher/final.safetensors" "$tmp/dense-2-teachers/final.safetensors" ||
      fail "1 and 2 GPU teachers gave different student bits"
  fi
fi
finish distill_cuda_e2e
