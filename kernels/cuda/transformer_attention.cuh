// Device kernels of causal GQA attention in the flash-attention manner (compiled by nvcc in
// transformer_kernels.cu and by g++ under the SIMT emulator in tests). Forward: online softmax
// over key tiles held in shared memory, the row log-sum-exp saved; backward: P recomputed tile by
// tile from it, dK/dV and dQ by two kernels that each own their outputs (no atomics). No [T, T]
// tensor touches global memory. Every sum has one fixed order that depends only on the sequence
// and the tile size, so a sequence gets the same bits whatever the batch (and a query at
// position p the same bits whether it comes with a prefill or alone with a KV cache).
#pragma once
#include <cmath>
#include <cstdint>

#include "core/base/error.h"
#include "kernels/attention.h"
#include "kernels/cuda/device_utils.cuh"

namespace retort::kernels::gpu {

constexpr int kAttnTile = 32;                         // queries and keys per tile
constexpr int kAttnThreads = 128;                     // 4 warps
constexpr int kAttnWarps = kAttnThreads / 32;
constexpr int kAttnRowsPerWarp = kAttnTile / kAttnWarps;  // 8 tile rows per warp
constexpr int kAttnMaxHeadDim = 128;
constexpr int kAttnDimsPerLane = kAttnMaxHeadDim / 32;  // head dims c = lane + 32·m, m < 4
constexpr float kAttnNegInf = -INFINITY;

// The per-thread accumulator arrays stay in registers only if their loops are fully unrolled.
#if defined(__CUDACC__)
#define RETORT_ATTN_UNROLL _Pragma("unroll")
#else
#define RETORT_ATTN_UNROLL _Pragma("GCC unroll 8")
#endif

// Keys query i (local index) may attend: j < keys_for(i).
__host__ __device__ __forceinline__ int64_t attn_keys_for(const AttentionShape& s, int64_t i) {
  const int64_t end = s.q_start + i + 1;
  return end < s.kv_len ? end : s.kv_len;
}

// Copies `rows` (<= kAttnTile) rows of d (<= kAttnMaxHeadDim) floats of a head into shared
// memory with row stride `ld` (32-bit index arithmetic: at most 4096 elements).
__device__ __forceinline__ void load_tile(float* dst, int64_t ld, const float* src, int64_t src_stride, int64_t rows,
                                          int64_t d) {
  const int n = static_cast<int>(rows * d), di = static_cast<int>(d);
  for (int t = static_cast<int>(threadIdx.x); t < n; t += static_cast<int>(blockDim.x)) {
    const int r = t / di, c = t % di;
    dst[r * ld + c] = src[r * src_stride + c];
  }
}

// Σ_c a[c]·b[c] over c = 0..d−1 in order (one thread): the score dot product, the same in the
// forward and in both backward kernels.
__device__ __forceinline__ float dot_serial(const float* a, const float* b, int64_t d) {
  float s = 0.f;
  for (int64_t c = 0; c < d; ++c) s = fmaf(a[c], b[c], s);
  return s;
}

// D = Σ dout∘out of one query row: lane partials over c = lane + 32·m, then the warp butterfly
// (every lane of the warp must call it; every lane gets D).
__device__ __forceinline__ float warp_row_dot(const float* a, const float* b, int64_t d) {
  float s = 0.f;
  for (int64_t c = threadIdx.x & 31u; c < d; c += 32) s = fmaf(a[c], b[c], s);
  return warp_allreduce(s, SumOp{});
}

// Forward. Grid (query tiles, n_heads, batch), block kAttnThreads; dynamic smem Q [32][d],
// K [32][d+1] (padded: lane j reads row j), V [32][d]. Warp w owns tile rows w·8 .. w·8+7; per
// key tile, lane j scores key j, the warp's max/sum butterflies give the online softmax, and
// lane l accumulates output dims l + 32·m over keys in increasing order.
static __global__ void __launch_bounds__(kAttnThreads)
    attention_forward_kernel(const float* q, const float* k, const float* v, float* out, float* lse, AttentionShape s) {
  const int64_t b = blockIdx.z, h = blockIdx.y, q0 = int64_t{blockIdx.x} * kAttnTile;
  const int64_t d = s.head_dim, g = h / (s.n_heads / s.n_kv_heads);
  const int64_t nq = s.q_len - q0 < kAttnTile ? s.q_len - q0 : kAttnTile;
  const unsigned lane = threadIdx.x & 31u, warp = threadIdx.x >> 5;
  RETORT_DYNAMIC_SMEM(float, smem);
  float* Qs = smem;
  float* Ks = Qs + kAttnTile * d;
  float* Vs = Ks + kAttnTile * (d + 1);
  load_tile(Qs, d, q + (b * s.q_len + q0) * s.q_stride + h * d, s.q_stride, nq, d);
  const float* kb = k + b * s.kv_len * s.kv_stride + g * d;
  const float* vb = v + b * s.kv_len * s.kv_stride + g * d;

  float m[kAttnRowsPerWarp], l[kAttnRowsPerWarp], acc[kAttnRowsPerWarp][kAttnDimsPerLane];
RETORT_ATTN_UNROLL
  for (int r = 0; r < kAttnRowsPerWarp; ++r) {
    m[r] = kAttnNegInf;
    l[r] = 0.f;
RETORT_ATTN_UNROLL
    for (int mm = 0; mm < kAttnDimsPerLane; ++mm) acc[r][mm] = 0.f;
  }
  const int64_t key_end = attn_keys_for(s, q0 + nq - 1);
  for (int64_t k0 = 0; k0 < key_end; k0 += kAttnTile) {
    const int64_t nk = key_end - k0 < kAttnTile ? key_end - k0 : kAttnTile;
    __syncthreads();  // the previous tile's K/V (and, first time, nothing) are no longer read
    load_tile(Ks, d + 1, kb + k0 * s.kv_stride, s.kv_stride, nk, d);
    load_tile(Vs, d, vb + k0 * s.kv_stride, s.kv_stride, nk, d);
    __syncthreads();
RETORT_ATTN_UNROLL
    for (int r = 0; r < kAttnRowsPerWarp; ++r) {
      const int64_t i = warp * kAttnRowsPerWarp + r;
      int64_t valid = i < nq ? attn_keys_for(s, q0 + i) - k0 : 0;
      valid = valid < 0 ? 0 : (valid > nk ? nk : valid);
      if (valid == 0) continue;  // warp-uniform
      const float score = lane < valid ? dot_serial(Qs + i * d, Ks + lane * (d + 1), d) * s.scale : kAttnNegInf;
      const float m_new = fmaxf(m[r], warp_allreduce(score, MaxOp{}));
      const float p = lane < valid ? expf(score - m_new) : 0.f;
      const float sum = warp_allreduce(p, SumOp{});
      const float corr = m[r] == kAttnNegInf ? 0.f : expf(m[r] - m_new);
      l[r] = fmaf(l[r], corr, sum);
      m[r] = m_new;
RETORT_ATTN_UNROLL
      for (int mm = 0; mm < kAttnDimsPerLane; ++mm) acc[r][mm] *= corr;
      for (int64_t j = 0; j < valid; ++j) {
        const float pj = __shfl_sync(0xffffffffu, p, static_cast<int>(j));
RETORT_ATTN_UNROLL
        for (int mm = 0; mm < kAttnDimsPerLane; ++mm) {
          const int64_t c = lane + 32 * mm;
          if (c < d) acc[r][mm] = fmaf(pj, Vs[j * d + c], acc[r][mm]);
        }
      }
    }
  }
RETORT_ATTN_UNROLL
  for (int r = 0; r < kAttnRowsPerWarp; ++r) {
    const int64_t i = warp * kAttnRowsPerWarp + r;
    if (i >= nq) continue;
    const float inv = 1.f / l[r];
    float* o = out + (b * s.q_len + q0 + i) * s.out_stride + h * d;
RETORT_ATTN_UNROLL
    for (int mm = 0; mm < kAttnDimsPerLane; ++mm) {
      const int64_t c = lane + 32 * mm;
      if (c < d) o[c] = acc[r][mm] * inv;
    }
    if (lse && lane == 0) lse[(b * s.n_heads + h) * s.q_len + q0 + i] = m[r] + logf(l[r]);
  }
}

// Shared memory of both backward kernels: Q, dO [32][d]; K, V [32][d+1]; P, dS [32][33];
// lse, D [32] (floats).
__host__ __device__ __forceinline__ int64_t attn_backward_smem_floats(int64_t d) {
  return 2 * kAttnTile * d + 2 * kAttnTile * (d + 1) + 2 * kAttnTile * (kAttnTile + 1) + 2 * kAttnTile;
}
struct AttnBackwardSmem {
  float *Qs, *dOs, *Ks, *Vs, *Ps, *dSs, *lse_s, *D_s;
};
__device__ __forceinline__ AttnBackwardSmem attn_backward_smem(float* smem, int64_t d) {
  AttnBackwardSmem t;
  t.Qs = smem;
  t.dOs = t.Qs + kAttnTile * d;
  t.Ks = t.dOs + kAttnTile * d;
  t.Vs = t.Ks + kAttnTile * (d + 1);
  t.Ps = t.Vs + kAttnTile * (d + 1);
  t.dSs = t.Ps + kAttnTile * (kAttnTile + 1);
  t.lse_s = t.dSs + kAttnTile * (kAttnTile + 1);
  t.D_s = t.lse_s + kAttnTile;
  return t;
}

// Loads query tile [q0, q0+nq) of head h into Q, dO, lse, D (D = Σ dout∘out, one warp per row).
__device__ __forceinline__ void load_query_tile(const AttnBackwardSmem& t, const float* q, const float* out,
                                                const float* lse, const float* dout, const AttentionShape& s,
                                                int64_t b, int64_t h, int64_t q0, int64_t nq) {
  const int64_t d = s.head_dim;
  load_tile(t.Qs, d, q + (b * s.q_len + q0) * s.q_stride + h * d, s.q_stride, nq, d);
  load_tile(t.dOs, d, dout + (b * s.q_len + q0) * s.out_stride + h * d, s.out_stride, nq, d);
  const unsigned lane = threadIdx.x & 31u, warp = threadIdx.x >> 5;
  for (int64_t i = warp; i < nq; i += kAttnWarps) {
    const int64_t row = (b * s.q_len + q0 + i) * s.out_stride + h * d;
    const float D = warp_row_dot(dout + row, out + row, d);
    if (lane == 0) {
      t.D_s[i] = D;
      t.lse_s[i] = lse[(b * s.n_heads + h) * s.q_len + q0 + i];
    }
  }
}

// P and dS of the (query tile at q0, key tile at k0) pair into shared memory: thread (warp w,
// lane j) computes entries (w + 4r, j), r < 8. p = exp(scale·q·k − lse), dS = p·(dO·v − D)·scale;
// masked entries (causal or past the tile) are 0.
__device__ __forceinline__ void score_tile(const AttnBackwardSmem& t, const AttentionShape& s, int64_t q0,
                                           int64_t nq, int64_t k0, int64_t nk) {
  const int64_t d = s.head_dim;
  const unsigned lane = threadIdx.x & 31u, warp = threadIdx.x >> 5;
RETORT_ATTN_UNROLL
  for (int r = 0; r < kAttnRowsPerWarp; ++r) {
    const int64_t i = warp + kAttnWarps * r, j = lane;
    float p = 0.f, ds = 0.f;
    if (i < nq && j < nk && k0 + j < attn_keys_for(s, q0 + i)) {
      p = expf(fmaf(dot_serial(t.Qs + i * d, t.Ks + j * (d + 1), d), s.scale, -t.lse_s[i]));
      ds = p * (dot_serial(t.dOs + i * d, t.Vs + j * (d + 1), d) - t.D_s[i]) * s.scale;
    }
    t.Ps[i * (kAttnTile + 1) + j] = p;
    t.dSs[i * (kAttnTile + 1) + j] = ds;
  }
}

// dK, dV of one key tile. Grid (key tiles, n_kv_heads, batch), block kAttnThreads, dynamic smem
// attn_backward_smem_floats(d). Thread (warp w, lane l) owns entries (key w + 4r, dim l + 32m) and
// sums them over the group's query heads in increasing order, and within a head over queries in
// increasing order (no atomics). Keys no query sees get zeros (the contract overwrites them).
static __global__ void __launch_bounds__(kAttnThreads)
    attention_backward_dkdv_kernel(const float* q, const float* k, const float* v, const float* out,
                                   const float* lse, const float* dout, float* dk, float* dv, AttentionShape s) {
  const int64_t b = blockIdx.z, g = blockIdx.y, k0 = int64_t{blockIdx.x} * kAttnTile;
  const int64_t d = s.head_dim, group = s.n_heads / s.n_kv_heads;
  const int64_t nk = s.kv_len - k0 < kAttnTile ? s.kv_len - k0 : kAttnTile;
  const unsigned lane = threadIdx.x & 31u, warp = threadIdx.x >> 5;
  RETORT_DYNAMIC_SMEM(float, smem);
  const AttnBackwardSmem t = attn_backward_smem(smem, d);
  const int64_t kv_row0 = (b * s.kv_len + k0) * s.kv_stride + g * d;
  load_tile(t.Ks, d + 1, k + kv_row0, s.kv_stride, nk, d);
  load_tile(t.Vs, d + 1, v + kv_row0, s.kv_stride, nk, d);
  float dK[kAttnRowsPerWarp][kAttnDimsPerLane] = {}, dV[kAttnRowsPerWarp][kAttnDimsPerLane] = {};
  // First query tile with a query that sees key k0: q_start + i >= k0.
  const int64_t first_q = (k0 - s.q_start > 0 ? k0 - s.q_start : 0) / kAttnTile * kAttnTile;
  for (int64_t e = 0; e < group; ++e) {
    const int64_t h = g * group + e;
    for (int64_t q0 = first_q; q0 < s.q_len; q0 += kAttnTile) {
      const int64_t nq = s.q_len - q0 < kAttnTile ? s.q_len - q0 : kAttnTile;
      __syncthreads();  // the previous tile's Q/dO/P/dS are no longer read
      load_query_tile(t, q, out, lse, dout, s, b, h, q0, nq);
      __syncthreads();
      score_tile(t, s, q0, nq, k0, nk);
      __syncthreads();
      for (int64_t i = 0; i < nq; ++i) {
RETORT_ATTN_UNROLL
        for (int r = 0; r < kAttnRowsPerWarp; ++r) {
          const int64_t j = warp + kAttnWarps * r;
          const float p = t.Ps[i * (kAttnTile + 1) + j], ds = t.dSs[i * (kAttnTile + 1) + j];
RETORT_ATTN_UNROLL
          for (int mm = 0; mm < kAttnDimsPerLane; ++mm) {
            const int64_t c = lane + 32 * mm;
            if (c < d) {
              dV[r][mm] = fmaf(p, t.dOs[i * d + c], dV[r][mm]);
              dK[r][mm] = fmaf(ds, t.Qs[i * d + c], dK[r][mm]);
            }
          }
        }
      }
    }
  }
RETORT_ATTN_UNROLL
  for (int r = 0; r < kAttnRowsPerWarp; ++r) {
    const int64_t j = warp + kAttnWarps * r;
    if (j >= nk) continue;
RETORT_ATTN_UNROLL
    for (int mm = 0; mm < kAttnDimsPerLane; ++mm) {
      const int64_t c = lane + 32 * mm;
      if (c < d) {
        dk[kv_row0 + j * s.kv_stride + c] = dK[r][mm];
        dv[kv_row0 + j * s.kv_stride + c] = dV[r][mm];
      }
    }
  }
}

// dQ of one query tile. Grid (query tiles, n_heads, batch), block kAttnThreads, dynamic smem
// attn_backward_smem_floats(d). Thread (warp w, lane l) owns entries (query w + 4r, dim l + 32m)
// and sums dS·K over keys in increasing order.
static __global__ void __launch_bounds__(kAttnThreads)
    attention_backward_dq_kernel(const float* q, const float* k, const float* v, const float* out, const float* lse,
                                 const float* dout, float* dq, AttentionShape s) {
  const int64_t b = blockIdx.z, h = blockIdx.y, q0 = int64_t{blockIdx.x} * kAttnTile;
  const int64_t d = s.head_dim, g = h / (s.n_heads / s.n_kv_heads);
  const int64_t nq = s.q_len - q0 < kAttnTile ? s.q_len - q0 : kAttnTile;
  const unsigned lane = threadIdx.x & 31u, warp = threadIdx.x >> 5;
  RETORT_DYNAMIC_SMEM(float, smem);
  const AttnBackwardSmem t = attn_backward_smem(smem, d);
  load_query_tile(t, q, out, lse, dout, s, b, h, q0, nq);
  const float* kb = k + b * s.kv_len * s.kv_stride + g * d;
  const float* vb = v + b * s.kv_len * s.kv_stride + g * d;
  float dQ[kAttnRowsPerWarp][kAttnDimsPerLane] = {};
  const int64_t key_end = attn_keys_for(s, q0 + nq - 1);
  for (int64_t k0 = 0; k0 < key_end; k0 += kAttnTile) {
    const int64_t nk = key_end - k0 < kAttnTile ? key_end - k0 : kAttnTile;
    __syncthreads();  // the previous tile's K/dS are no longer read
    load_tile(t.Ks, d + 1, kb + k0 * s.kv_stride, s.kv_stride, nk, d);
    load_tile(t.Vs, d + 1, vb + k0 * s.kv_stride, s.kv_stride, nk, d);
    __syncthreads();
    score_tile(t, s, q0, nq, k0, nk);
    __syncthreads();
    for (int64_t j = 0; j < nk; ++j) {
RETORT_ATTN_UNROLL
      for (int r = 0; r < kAttnRowsPerWarp; ++r) {
        const float ds = t.dSs[(warp + kAttnWarps * r) * (kAttnTile + 1) + j];
RETORT_ATTN_UNROLL
        for (int mm = 0; mm < kAttnDimsPerLane; ++mm) {
          const int64_t c = lane + 32 * mm;
          if (c < d) dQ[r][mm] = fmaf(ds, t.Ks[j * (d + 1) + c], dQ[r][mm]);
        }
      }
    }
  }
RETORT_ATTN_UNROLL
  for (int r = 0; r < kAttnRowsPerWarp; ++r) {
    const int64_t i = warp + kAttnWarps * r;
    if (i >= nq) continue;
    float* dqr = dq + (b * s.q_len + q0 + i) * s.q_stride + h * d;
RETORT_ATTN_UNROLL
    for (int mm = 0; mm < kAttnDimsPerLane; ++mm) {
      const int64_t c = lane + 32 * mm;
      if (c < d) dqr[c] = dQ[r][mm];
    }
  }
}

// ---- enqueue helpers (host side; the same for the device and the emulator) ------------------

inline void check_attention(const AttentionShape& s) {
  RETORT_CHECK(s.batch >= 0 && s.q_len >= 0 && s.q_start >= 0, "attention sizes must be >= 0");
  RETORT_CHECK(s.q_len == 0 || s.kv_len > 0, "attention needs kv_len > 0 for queries");
  RETORT_CHECK(s.n_heads > 0 && s.n_kv_heads > 0 && s.n_heads % s.n_kv_heads == 0,
               "attention n_kv_heads must divide n_heads");
  RETORT_CHECK(s.head_dim > 0 && s.head_dim <= kAttnMaxHeadDim, "CUDA attention needs 0 < head_dim <= 128");
  RETORT_CHECK(s.q_stride >= s.n_heads * s.head_dim && s.out_stride >= s.n_heads * s.head_dim,
               "attention q_stride/out_stride smaller than n_heads*head_dim");
  RETORT_CHECK(s.kv_stride >= s.n_kv_heads * s.head_dim, "attention kv_stride smaller than n_kv_heads*head_dim");
  RETORT_CHECK(s.batch <= 65535 && s.n_heads <= 65535, "CUDA attention: batch and n_heads must be <= 65535");
}

// Lets a kernel use more than 48 KiB of dynamic shared memory (a no-op in the emulator).
template <typename Kernel>
inline void allow_smem(Kernel kernel, size_t bytes) {
#if defined(__CUDACC__)
  RETORT_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(bytes)));
#else
  (void)kernel;
  (void)bytes;
#endif
}

inline unsigned attn_tiles(int64_t n) { return static_cast<unsigned>((n + kAttnTile - 1) / kAttnTile); }

// lse may be null.
inline void enqueue_attention_forward(const float* q, const float* k, const float* v, float* out, float* lse,
                                      const AttentionShape& s, Stream st) {
  check_attention(s);
  if (s.batch == 0 || s.q_len == 0) return;
  const size_t smem = sizeof(float) * static_cast<size_t>(kAttnTile * (3 * s.head_dim + 1));
  allow_smem(attention_forward_kernel, smem);
  launch(attention_forward_kernel,
         dim3(attn_tiles(s.q_len), static_cast<unsigned>(s.n_heads), static_cast<unsigned>(s.batch)),
         dim3(kAttnThreads), smem, st, q, k, v, out, lse, s);
}

// dq, dk, dv overwritten on their head slices; lse from the forward (not null).
inline void enqueue_attention_backward(const float* q, const float* k, const float* v, const float* out,
                                       const float* lse, const float* dout, float* dq, float* dk, float* dv,
                                       const AttentionShape& s, Stream st) {
  check_attention(s);
  RETORT_CHECK(lse != nullptr, "attention backward needs the forward's lse");
  if (s.batch == 0) return;
  const size_t smem = sizeof(float) * static_cast<size_t>(attn_backward_smem_floats(s.head_dim));
  allow_smem(attention_backward_dkdv_kernel, smem);
  allow_smem(attention_backward_dq_kernel, smem);
  if (s.kv_len > 0)
    launch(attention_backward_dkdv_kernel,
           dim3(attn_tiles(s.kv_len), static_cast<unsigned>(s.n_kv_heads), static_cast<unsigned>(s.batch)),
           dim3(kAttnThreads), smem, st, q, k, v, out, lse, dout, dk, dv, s);
  if (s.q_len > 0)
    launch(attention_backward_dq_kernel,
           dim3(attn_tiles(s.q_len), static_cast<unsigned>(s.n_heads), static_cast<unsigned>(s.batch)),
           dim3(kAttnThreads), smem, st, q, k, v, out, lse, dout, dq, s);
}

}  // namespace retort::kernels::gpu
