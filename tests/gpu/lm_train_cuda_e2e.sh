#!/usr/bin/env bash
# A Llama student on device: cuda through the real binary: the copy task trained 24 steps on the
# GPU and on the CPU, the per-step loss within 1e-3 relative (cuBLAS and the CUDA attention sum
# in other orders; the SIMT-emulated kernels stayed within 4.9e-7 over 3 steps in
# lm_task_device_unit); then LM distillation into a CUDA student from a CPU teacher (logits over
# MPI) against the same job on the CPU, and with 2 GPUs from a GPU teacher (targets over NCCL,
# downloaded for the LM loss), each loss curve within 1e-3 relative of the CPU job's.
# Exits 77 without a GPU.
# Usage: lm_train_cuda_e2e.sh path/to/retort
source "$(dirname "$0")/../e2e/lib.sh"
gpus=$(nvidia-smi -L 2>/dev/null | grep -c GPU)
if [ "${gpus:-0}" -eq 0 ]; then echo "skipped: no GPU"; exit 77; fi
losses() { grep '"kind":"train"' "$1" | sed -E 's/.*"loss":([^,}]+).*/\1/' | head -n 24; }
# close NAME A B: the loss curves of runs A and B agree within 1e-3 relative at every logged step.
close() {
  paste <(losses "$tmp/$2/metrics.jsonl") <(losses "$tmp/$3/metrics.jsonl") >"$tmp/$1.curves"
  [ "$(wc -l <"$tmp/$1.curves")" -eq 24 ] || { fail "$1: expected 24 logged steps, got $(wc -l <"$tmp/$1.curves")"; return; }
  awk '{ d = $1 - $2; if (d < 0) d = -d; m = $1 < 0 ? -$1 : $1; if (d > 1e-3 * m) { print "step " NR ": " $1 " vs " $2; bad = 1 } } END { exit bad }' \
    "$tmp/$1.curves" || fail "$1: loss curves differ by more than 1e-3 relative"
  echo "$1: first and last losses $(head -n 1 "$tmp/$1.curves" | tr '\t' ' ') / $(tail -n 1 "$tmp/$1.curves" | tr '\t' ' ')"
}

cat >"$tmp/copy.yaml" <<YAML
run: {name: copy, seed: 3}
data: {dataset: copy_task, seq_len: 16, copy_train_size: 2048}
student: {arch: llama, vocab_size: 16, dim: 48, n_layers: 2, n_heads: 4, n_kv_heads: 2, ffn_dim: 96}
optim: {name: adamw, lr: 0.003}
train: {batch_size: 32, epochs: 1, max_steps: 24, log_every_steps: 1}
YAML
for device in cpu cuda; do
  timeout 300 "$retort" train "$tmp/copy.yaml" --set device=$device --set run.out_dir="$tmp/lm-$device" \
    >"$tmp/lm-$device.log" 2>&1 || { fail "llama training on $device"; tail -n 20 "$tmp/lm-$device.log"; }
done
close llama-train lm-cpu lm-cuda

cat >"$tmp/distill.yaml" <<YAML
run: {name: lm-distill, seed: 5}
data: {dataset: copy_task, seq_len: 16, copy_train_size: 2048}
student: {arch: llama, vocab_size: 16, dim: 32, n_layers: 1, n_heads: 2, ffn_dim: 64}
teacher: {checkpoint: $tmp/lm-cpu/final.safetensors}
cluster: {teachers: 1, students: 1}
distill: {temperature: 2, alpha: 0.1, topk: 4, wire_dtype: bf16, lookahead: 2}
optim: {name: adamw, lr: 0.003}
train: {batch_size: 8, epochs: 1, max_steps: 24, log_every_steps: 1}
YAML
distill() {  # distill NAME OVERRIDES...: one teacher rank + one student rank
  local name=$1; shift
  timeout 300 "${mpirun[@]}" -np 2 "$retort" train "$tmp/distill.yaml" --set run.out_dir="$tmp/$name" "$@" \
    >"$tmp/$name.log" 2>&1 || { fail "$name"; tail -n 20 "$tmp/$name.log"; return 1; }
}
distill lmd-cpu --set device=cpu
distill lmd-cuda-cpu-teacher --set device=cuda --set teacher.device=cpu && close lm-distill-cpu-teacher lmd-cpu lmd-cuda-cpu-teacher
if [ "$gpus" -lt 2 ]; then
  echo "skipped: an LM GPU teacher over NCCL needs 2 GPUs (teacher + student), $gpus visible"
else
  distill lmd-cuda --set device=cuda && close lm-distill-gpu-teacher lmd-cpu lmd-cuda
  grep -q "logits teacher 0 (rank 0) -> student 0 (rank 1): nccl" "$tmp/lmd-cuda.log" || fail "the LM pair is not over nccl"
fi
finish lm_train_cuda_e2e
