// Device kernels of the LM teacher's target encoding (compiled by nvcc in target_encode.cu and by
// g++ under the SIMT emulator in tests): dense rows in the wire dtype, and top-k + lse rows with
// core/lm/lm_targets.h's selection (descending value, ties to the lower id). A row's results
// depend only on its own logits (fixed per-row order), so targets stay batch-invariant.
#pragma once
#include <cstdint>

#include "kernels/cuda/device_utils.cuh"

namespace retort::kernels::gpu {

constexpr int kTopkThreads = 256;      // one block per row; thread i reads j ≡ i (mod 256)
constexpr unsigned kTopkMaxBlocks = 65535;

// logits[count] -> out[count] in T (float: a copy; bf16: round to nearest even, as float_to_bf16).
template <typename T>
static __global__ void dense_targets_kernel(const float* logits, int64_t count, T* out) {
  const int64_t stride = int64_t{gridDim.x} * blockDim.x;
  for (int64_t i = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < count; i += stride)
    out[i] = from_float<T>(logits[i]);
}

// A logit's selection key: larger key = earlier in the top-k order. High 32 bits: the float's
// order-preserving bits (−0 read as +0, so the two tie like equal floats); low 32 bits: ~id, so
// among equal values the lower id wins. Never 0 for a non-NaN value, so 0 is "no candidate".
__device__ __forceinline__ uint64_t topk_key(float v, int64_t j) {
  unsigned u = __float_as_uint(v);
  if (u == 0x80000000u) u = 0;
  const unsigned ordered = (u & 0x80000000u) ? ~u : (u | 0x80000000u);
  return (static_cast<uint64_t>(ordered) << 32) | static_cast<uint64_t>(~static_cast<uint32_t>(j));
}

// logits[rows, V] (V < 2^32, 1 ≤ k ≤ V) -> per row r:
//   lse[r] = float(max/T + log Σ_j exp((t_j − max)·inv_t)), each term x = (t_j − max)·inv_t rounded
//     to float, expf(x), the sum in double (thread partial sums over j ≡ i mod 256, then the fixed
//     butterfly of block_allreduce); NaN when a logit of the row is not finite (ids and values of
//     that row are then 0 and meaningless: the caller refuses it);
//   ids[r, c], values[r, c] (c < k): the c-th largest logit by key (topk_key), its value in T
//     (not divided by T). Pass c takes the largest key below pass c−1's, so every row costs k
//     sweeps of its V logits (the row stays in L2 for V·4 bytes ≤ a few hundred KiB).
// Grid: blocks stride over rows; block = kTopkThreads.
template <typename T>
static __global__ void __launch_bounds__(kTopkThreads)
    topk_lse_kernel(const float* logits, int64_t rows, int64_t V, int k, float temperature, T* values,
                    uint32_t* ids, float* lse) {
  __shared__ float fscratch[32];
  __shared__ int iscratch[32];
  __shared__ double dscratch[32];
  __shared__ uint64_t kscratch[32];
  const float inv_t = 1.0f / temperature;
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const float* t = logits + r * V;
    float m = -INFINITY;
    int bad = 0;
    for (int64_t j = threadIdx.x; j < V; j += blockDim.x) {
      const float v = t[j];
      bad |= (__float_as_uint(v) & 0x7f800000u) == 0x7f800000u;
      m = v > m ? v : m;
    }
    m = block_allreduce(m, MaxOp{}, -INFINITY, fscratch);
    bad = block_allreduce(bad, SumOp{}, 0, iscratch);
    if (bad) {
      if (threadIdx.x == 0) lse[r] = NAN;
      for (int c = threadIdx.x; c < k; c += blockDim.x) ids[r * k + c] = 0, values[r * k + c] = from_float<T>(0.f);
      continue;
    }
    double s = 0;
    for (int64_t j = threadIdx.x; j < V; j += blockDim.x) s += static_cast<double>(expf(__fmul_rn(t[j] - m, inv_t)));
    s = block_allreduce(s, SumOp{}, 0.0, dscratch);
    if (threadIdx.x == 0)
      lse[r] = static_cast<float>(static_cast<double>(m) / static_cast<double>(temperature) + log(s));
    uint64_t below = ~uint64_t{0};  // the previous pass's key (every key is below the first bound)
    for (int c = 0; c < k; ++c) {
      uint64_t best = 0;
      for (int64_t j = threadIdx.x; j < V; j += blockDim.x) {
        const uint64_t key = topk_key(t[j], j);
        best = (key < below && key > best) ? key : best;
      }
      best = block_allreduce(best, MaxOp{}, uint64_t{0}, kscratch);
      below = best;
      if (threadIdx.x == 0) {
        const uint32_t id = ~static_cast<uint32_t>(best);
        ids[r * k + c] = id;
        values[r * k + c] = from_float<T>(t[id]);
      }
    }
  }
}

inline void enqueue_dense_targets(const float* logits, int64_t count, bool bf16_out, void* out, Stream s) {
  if (count <= 0) return;
  const int64_t blocks = (count + 255) / 256;
  const dim3 grid(static_cast<unsigned>(blocks < kTopkMaxBlocks ? blocks : kTopkMaxBlocks));
  if (bf16_out)
    launch(dense_targets_kernel<retort::bf16>, grid, dim3(256), 0, s, logits, count, static_cast<retort::bf16*>(out));
  else
    launch(dense_targets_kernel<float>, grid, dim3(256), 0, s, logits, count, static_cast<float*>(out));
}

inline void enqueue_topk_lse(const float* logits, int64_t rows, int64_t V, int k, float temperature, bool bf16_out,
                             void* values, uint32_t* ids, float* lse, Stream s) {
  if (rows <= 0) return;
  const dim3 grid(static_cast<unsigned>(rows < kTopkMaxBlocks ? rows : kTopkMaxBlocks));
  if (bf16_out)
    launch(topk_lse_kernel<retort::bf16>, grid, dim3(kTopkThreads), 0, s, logits, rows, V, k, temperature,
           static_cast<retort::bf16*>(values), ids, lse);
  else
    launch(topk_lse_kernel<float>, grid, dim3(kTopkThreads), 0, s, logits, rows, V, k, temperature,
           static_cast<float*>(values), ids, lse);
}

}  // namespace retort::kernels::gpu
