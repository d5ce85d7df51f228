#!/usr/bin/env bash
# `retort train` with device: cuda on real GPUs. A small supervised run (dropout, max-norm) on 5%
# of Fashion-MNIST must finish, land within 2 accuracy points of the same run on the CPU, and
# write a final.safetensors (copied from the device) whose CPU evaluation (`retort eval`) agrees
# with the device's own final evaluation within 3 errors. With 2 visible GPUs, the same run on 2
# ranks (NCCL gradient reducer) too. Exits 77 without a GPU.
# Usage: train_cuda_e2e.sh path/to/retort
source "$(dirname "$0")/../e2e/lib.sh"
gpus=$(nvidia-smi -L 2>/dev/null | grep -c GPU)
if [ "${gpus:-0}" -eq 0 ]; then echo "skipped: no GPU"; exit 77; fi
field() { sed -nE "s/.*\"$2\": *([-0-9.e+a-z]+).*/\1/p" "$1" | head -n 1; }
within() { awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= t) }'; }

# config NAME DEVICE STUDENTS
config() {
  cat >"$tmp/$1.yaml" <<YAML
run: {name: $1, out_dir: $tmp/$1, seed: 3}
device: $2
cluster: {students: $3}
student: {hidden: [256, 128], dropout: 0.5, input_dropout: 0.2, max_norm: 3.0}
data: {train_fraction: 0.05}
train: {batch_size: 64, epochs: 3, log_every_steps: 20}
YAML
}
# train NAME [mpirun -np N]
train() {
  local name=$1; shift
  timeout 600 "$@" "$retort" train "$tmp/$name.yaml" >"$tmp/$name.log" 2>&1 ||
    { fail "$name training"; tail -n 20 "$tmp/$name.log"; return 1; }
}

config cpu cpu 1
config cuda cuda 1
train cpu
if train cuda; then
  acc_cpu=$(field "$tmp/cpu/summary.json" test_accuracy)
  acc_cuda=$(field "$tmp/cuda/summary.json" test_accuracy)
  echo "test accuracy: cpu $acc_cpu, cuda $acc_cuda"
  within "$acc_cuda" "$acc_cpu" 0.02 || fail "cuda accuracy $acc_cuda is not within 0.02 of the cpu's $acc_cpu"
  device_errors=$(field "$tmp/cuda/summary.json" test_errors)
  line=$("$retort" eval --checkpoint "$tmp/cuda/final.safetensors" --config "$tmp/cuda.yaml" 2>&1)
  host_errors=$(echo "$line" | sed -nE 's/.* ([0-9]+) errors of .*/\1/p')
  echo "errors: device evaluation $device_errors, CPU evaluation of final.safetensors $host_errors"
  within "${host_errors:-1e9}" "$device_errors" 3 || fail "retort eval of the cuda checkpoint: $line"
fi
if [ "$gpus" -ge 2 ]; then
  config cuda2 cuda 2
  if train cuda2 "${mpirun[@]}" -np 2; then
    acc2=$(field "$tmp/cuda2/summary.json" test_accuracy)
    echo "test accuracy: 2 ranks on cuda $acc2"
    within "$acc2" "$acc_cpu" 0.02 || fail "2-rank cuda accuracy $acc2 is not within 0.02 of the cpu's $acc_cpu"
  fi
else
  echo "2-rank run skipped: $gpus GPU visible"
fi
finish train_cuda_e2e
