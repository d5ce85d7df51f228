#!/usr/bin/env bash
# Builds Retort for sm_90 and runs the real-device tests (CTest label gpu: kernels, the training
# engine against the CPU engine, 2-rank NCCL data parallelism) and the GPU benchmarks.
# Without a CUDA device: prints "skipped: no GPU" and exits 77 (a skip, never a pass).
# Usage: tests/gpu/run.sh [BUILD_DIR]   (default build-gpu; RETORT_CUDA_ARCHS overrides 90)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
build="${1:-$root/build-gpu}"
if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L 2>/dev/null | grep -q GPU; then
  echo "skipped: no GPU"
  exit 77
fi
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DRETORT_CUDA=ON \
      -DRETORT_CUDA_ARCHS="${RETORT_CUDA_ARCHS:-90}" >/dev/null
# Everything is built: tests labelled gpu may run any project binary (e.g. under mpirun).
cmake --build "$build" -j"$(nproc)"
ctest --test-dir "$build" -L gpu --output-on-failure
echo "== GPU benchmarks =="
"$build/bin/kd_loss_gpu_bench"
# Causal GQA attention forward/backward vs a cuBLAS SGEMM of the same FLOPs.
"$build/bin/attention_gpu_bench"
# The batch-invariant linear (teacher forwards) vs a cuBLAS SGEMM of the same shape.
"$build/bin/linear_invariant_gpu_bench"
# The training step on the device vs bare cuBLAS, and the CPU step vs bare Eigen, same shapes.
"$build/bin/retort_bench" step_cuda
"$build/bin/retort_bench" step --repeats 5
