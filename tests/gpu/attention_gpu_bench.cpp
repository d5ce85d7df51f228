// GPU benchmark of the flash-style attention kernels: one JSON line per shape with the median
// time of the causal GQA forward and backward (CUDA events), their GFLOP/s, and the same-run
// baseline of a cuBLAS fp32 SGEMM (no TF32) of the same FLOPs. Exits 77 without a device.
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <random>
#include <vector>

#include "core/base/cuda_check.h"
#include "kernels/attention.h"
#include "kernels/cuda/cublas_check.h"
#include "kernels/cuda/transformer_cuda.h"

namespace {
using namespace retort::kernels;

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

// Median ms of an n×n×n SGEMM (2n³ FLOPs).
double gemm_ms(cublasHandle_t handle, int64_t n, std::mt19937& rng) {
  float* a = device_random(static_cast<size_t>(n * n), rng);
  float* b = device_random(static_cast<size_t>(n * n), rng);
  float* c = device_random(static_cast<size_t>(n * n), rng);
  const float one = 1.f, zero = 0.f;
  const int ni = static_cast<int>(n);
  const double ms = median_ms(20, [&] {
    RETORT_CUBLAS_CHECK(cublasSgemm(handle, CUBLAS_OP_N, CUBLAS_OP_N, ni, ni, ni, &one, a, ni, b, ni, &zero, c, ni));
  });
  cudaFree(a), cudaFree(b), cudaFree(c);
  return ms;
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
  struct Shape { int64_t batch, seq, heads, kv_heads, head_dim; };
  // SmolLM2-135M's attention (9/3 heads of 64) and a Llama-8B-like one (32/8 heads of 128).
  for (const Shape& sh : {Shape{8, 1024, 9, 3, 64}, Shape{2, 2048, 32, 8, 128}}) {
    AttentionShape s;
    s.batch = sh.batch, s.q_len = sh.seq, s.kv_len = sh.seq, s.q_start = 0;
    s.n_heads = sh.heads, s.n_kv_heads = sh.kv_heads, s.head_dim = sh.head_dim;
    s.q_stride = s.out_stride = sh.heads * sh.head_dim, s.kv_stride = sh.kv_heads * sh.head_dim;
    s.scale = static_cast<float>(1 / std::sqrt(static_cast<double>(sh.head_dim)));
    const size_t nq = static_cast<size_t>(sh.batch * sh.seq * s.q_stride);
    const size_t nkv = static_cast<size_t>(sh.batch * sh.seq * s.kv_stride);
    float *q = device_random(nq, rng), *k = device_random(nkv, rng), *v = device_random(nkv, rng);
    float *dout = device_random(nq, rng), *out = device_random(nq, rng), *dq = device_random(nq, rng);
    float *dk = device_random(nkv, rng), *dv = device_random(nkv, rng);
    float* lse = device_random(static_cast<size_t>(sh.batch * sh.heads * sh.seq), rng);
    const double fwd_ms = median_ms(10, [&] { attention_forward_cuda(q, k, v, out, lse, s, nullptr); });
    const double bwd_ms =
        median_ms(10, [&] { attention_backward_cuda(q, k, v, out, lse, dout, dq, dk, dv, s, nullptr); });
    // Causal FLOPs: forward QKᵀ and PV over half the [T, T] scores, 2·B·H·T²·d; backward five
    // such products (QKᵀ recomputed, dO·Vᵀ, dV, dK, dQ), 5·B·H·T²·d.
    const double t2d = static_cast<double>(sh.batch * sh.heads) * sh.seq * sh.seq * sh.head_dim;
    const double fwd_flops = 2 * t2d, bwd_flops = 5 * t2d;
    const auto gemm_n = [](double flops) {
      return std::max<int64_t>(64, std::llround(std::cbrt(flops / 2) / 64) * 64);
    };
    const int64_t nf = gemm_n(fwd_flops), nb = gemm_n(bwd_flops);
    const double gf_ms = gemm_ms(handle, nf, rng), gb_ms = gemm_ms(handle, nb, rng);
    const double gemm_f_gflops = 2.0 * nf * nf * nf / gf_ms / 1e6, gemm_b_gflops = 2.0 * nb * nb * nb / gb_ms / 1e6;
    nlohmann::json j = {{"bench", "attention_gpu"},
                        {"batch", sh.batch},
                        {"seq", sh.seq},
                        {"heads", sh.heads},
                        {"kv_heads", sh.kv_heads},
                        {"head_dim", sh.head_dim},
                        {"forward_ms", fwd_ms},
                        {"forward_gflops", fwd_flops / fwd_ms / 1e6},
                        {"backward_ms", bwd_ms},
                        {"backward_gflops", bwd_flops / bwd_ms / 1e6},
                        {"sgemm_same_flops_forward_ms", gf_ms},
                        {"sgemm_forward_n", nf},
                        {"sgemm_forward_gflops", gemm_f_gflops},
                        {"sgemm_same_flops_backward_ms", gb_ms},
                        {"sgemm_backward_n", nb},
                        {"sgemm_backward_gflops", gemm_b_gflops},
                        {"forward_vs_sgemm_time", fwd_ms / gf_ms},
                        {"backward_vs_sgemm_time", bwd_ms / gb_ms}};
    std::cout << j.dump() << std::endl;
    for (float* p : {q, k, v, dout, out, dq, dk, dv, lse}) cudaFree(p);
  }
  cublasDestroy(handle);
  return 0;
}
