// GPU benchmark of the batch-invariant linear (kernels/cuda/linear_invariant_cuda.h): one JSON
// line per teacher-like shape with its median time (CUDA events) and GFLOP/s beside the same-run
// baseline, a cuBLAS fp32 SGEMM (no TF32) of the same shape. Exits 77 without a device.
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <random>
#include <vector>

#include "core/base/cuda_check.h"
#include "kernels/cuda/cublas_check.h"
#include "kernels/cuda/linear_invariant_cuda.h"

namespace {

template <typename F>
double median_ms(int repeats, F&& f) {
  cudaEvent_t a, b;
  RETORT_CUDA_CHECK(cudaEventCreate(&a));
  RETORT_CUDA_CHECK(cudaEventCreate(&b));
  f();  // warm-up
  std::vector<float> ms;
  for (int i = 0; i < repeats; ++i) {
    RETORT_CUDA_CHECK(cudaEventRecord(a));
    f();
    RETORT_CUDA_CHECK(cudaEventRecord(b));
    RETORT_CUDA_CHECK(cudaEventSynchronize(b));
    float t = 0;
    RETORT_CUDA_CHECK(cudaEventElapsedTime(&t, a, b));
    ms.push_back(t);
  }
  std::sort(ms.begin(), ms.end());
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  return ms[ms.size() / 2];
}

float* device_random(size_t n, std::mt19937& rng) {
  std::normal_distribution<float> normal(0.f, 1.f);
  std::vector<float> h(n);
  for (auto& v : h) v = normal(rng);
  float* d = nullptr;
  RETORT_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&d), n * sizeof(float)));
  RETORT_CUDA_CHECK(cudaMemcpy(d, h.data(), n * sizeof(float), cudaMemcpyHostToDevice));
  return d;
}
}  // namespace

int main() {
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::printf("skipped: no GPU\n");
    return 77;
  }
  cublasHandle_t handle;
  RETORT_CUBLAS_CHECK(cublasCreate(&handle));
  RETORT_CUBLAS_CHECK(cublasSetMathMode(handle, CUBLAS_DEFAULT_MATH));  // fp32 FMA, no TF32
  std::mt19937 rng(7);
  struct Shape { int64_t rows, in, out; };
  // An MLP teacher layer at a 1024-row batch; SmolLM2-135M's MLP up (576 -> 1536) and head
  // (576 -> 49152) over 4096 tokens; a 4096^3 square.
  for (const Shape& s : {Shape{1024, 784, 1024}, Shape{4096, 576, 1536}, Shape{4096, 576, 49152},
                         Shape{4096, 4096, 4096}}) {
    float* x = device_random(static_cast<size_t>(s.rows * s.in), rng);
    float* w = device_random(static_cast<size_t>(s.out * s.in), rng);
    float* b = device_random(static_cast<size_t>(s.out), rng);
    float* y = device_random(static_cast<size_t>(s.rows * s.out), rng);
    const double inv_ms = median_ms(10, [&] {
      retort::kernels::linear_forward_batch_invariant_cuda(x, w, b, y, s.rows, s.in, s.out, nullptr);
    });
    // The same product through cuBLAS (linear_cublas.cu's call, bias left out): yᵀ = Wᵀᵀ·xᵀ.
    const float one = 1.f, zero = 0.f;
    const int r = static_cast<int>(s.rows), i = static_cast<int>(s.in), o = static_cast<int>(s.out);
    const double sgemm_ms = median_ms(10, [&] {
      RETORT_CUBLAS_CHECK(cublasSgemm(handle, CUBLAS_OP_T, CUBLAS_OP_N, o, r, i, &one, w, i, x, i, &zero, y, o));
    });
    const double flops = 2.0 * s.rows * s.in * s.out;
    nlohmann::json j = {{"bench", "linear_invariant_gpu"},   {"rows", s.rows},
                        {"in", s.in},                         {"out", s.out},
                        {"invariant_ms", inv_ms},             {"invariant_gflops", flops / inv_ms / 1e6},
                        {"sgemm_ms", sgemm_ms},               {"sgemm_gflops", flops / sgemm_ms / 1e6},
                        {"invariant_vs_sgemm_time", inv_ms / sgemm_ms}};
    std::cout << j.dump() << std::endl;
    for (float* p : {x, w, b, y}) cudaFree(p);
  }
  cublasDestroy(handle);
  return 0;
}
