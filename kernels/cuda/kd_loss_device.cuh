// Device building blocks of the fused distillation loss: call parameters, the workspace layout,
// online-softmax statistics and their block reduction, per-category divergence terms, and the
// row loops (16-byte vector loads when the rows are aligned, scalar otherwise).
#pragma once
#include <cstdint>

#include "kernels/cuda/device_utils.cuh"

namespace retort::kernels::gpu {

constexpr float kInf = __builtin_huge_valf();
enum KdDivergence : int { kFkl = 0, kRkl = 1, kJsd = 2, kTvd = 3 };

// Everything a row kernel needs besides pointers (passed by value).
struct KdDeviceParams {
  int64_t rows = 0, vocab = 0, k = 0;
  float inv_temperature = 1, temperature = 1, beta = 0.5f, alpha = 0;
  int32_t ignore_index = -100;
  int tail_bucket = 1;     // 1 = bucket, 0 = renormalize
  int reduction_mean = 1;  // 1 = mean, 0 = sum
  int with_ce = 0;         // alpha > 0 and labels given
};

// Written by the kernels into the workspace; copied back by the host.
struct KdTotals {
  double loss, kd, ce;
  long long counted;
  unsigned nonfinite;            // any counted row had NaN/+inf input
  unsigned bad_label_row_plus1;  // 0 = none, else first row with a label outside [0, V)
  unsigned bad_index_row_plus1;  // 0 = none, else first row with a top-k index >= V
  unsigned pad;
};
enum KdRowFlag : unsigned { kRowCounted = 1u, kRowNonfinite = 2u, kRowBadIndex = 4u };

// Workspace: totals, then per-row kd, ce (float) and flags (unsigned).
struct KdWorkspace {
  KdTotals* totals;
  float* row_kd;
  float* row_ce;
  unsigned* row_flags;
};
inline size_t kd_workspace_bytes(int64_t rows) { return 256 + static_cast<size_t>(rows) * 12 + 64; }
inline KdWorkspace kd_carve_workspace(void* base, int64_t rows) {
  char* p = static_cast<char*>(base);
  KdWorkspace w;
  w.totals = reinterpret_cast<KdTotals*>(p);
  w.row_kd = reinterpret_cast<float*>(p + 256);
  w.row_ce = w.row_kd + rows;
  w.row_flags = reinterpret_cast<unsigned*>(w.row_ce + rows);
  return w;
}

// ---- online softmax: running max m and Σ exp(x - m); `tail` sums only tokens outside top-k ----
// Both sums carry a Kahan compensation (a thread adds V/blockDim terms serially).
struct Online {
  float m = -kInf, s = 0, tail = 0, s_c = 0, tail_c = 0;
  __device__ __forceinline__ static void kahan_add(float& sum, float& comp, float v) {
    const float y = v - comp, t = sum + y;
    comp = (t - sum) - y;
    sum = t;
  }
  // One exp per element: exp(-|x - m|) is the new term or the rescale factor.
  __device__ __forceinline__ void add(float x, bool in_tail = true) {
    if (x == -kInf) return;
    const float d = x - m;
    const float e = __expf(-fabsf(d));
    if (d > 0) {
      s *= e;
      s_c *= e;
      tail *= e;
      tail_c *= e;
      m = x;
      kahan_add(s, s_c, 1.0f);
      if (in_tail) kahan_add(tail, tail_c, 1.0f);
    } else {
      kahan_add(s, s_c, e);
      if (in_tail) kahan_add(tail, tail_c, e);
    }
  }
  __device__ __forceinline__ void merge(float om, float os, float otail) {
    const float nm = m > om ? m : om;
    if (nm == -kInf) return;
    const float f1 = m == -kInf ? 0.0f : __expf(m - nm), f2 = om == -kInf ? 0.0f : __expf(om - nm);
    s = (s - s_c) * f1 + os * f2;
    tail = (tail - tail_c) * f1 + otail * f2;
    s_c = tail_c = 0;
    m = nm;
  }
};

// Every thread gets the block's merged statistics. `scratch` holds >= 96 floats of smem.
__device__ inline Online block_allreduce_online(Online v, float* scratch) {
  v.merge(-kInf, 0.0f, 0.0f);  // folds the Kahan compensation into s and tail
  for (int off = 16; off > 0; off >>= 1) {
    const float om = __shfl_xor_sync(0xffffffffu, v.m, off);
    const float os = __shfl_xor_sync(0xffffffffu, v.s, off);
    const float ot = __shfl_xor_sync(0xffffffffu, v.tail, off);
    v.merge(om, os, ot);
  }
  const unsigned lane = threadIdx.x & 31u, warp = threadIdx.x >> 5, warps = (blockDim.x + 31u) >> 5;
  __syncthreads();
  if (lane == 0) {
    scratch[warp] = v.m;
    scratch[32 + warp] = v.s;
    scratch[64 + warp] = v.tail;
  }
  __syncthreads();
  Online r;
  if (lane < warps) {
    r.m = scratch[lane];
    r.s = scratch[32 + lane];
    r.tail = scratch[64 + lane];
  }
  for (int off = 16; off > 0; off >>= 1) {
    const float om = __shfl_xor_sync(0xffffffffu, r.m, off);
    const float os = __shfl_xor_sync(0xffffffffu, r.s, off);
    const float ot = __shfl_xor_sync(0xffffffffu, r.tail, off);
    r.merge(om, os, ot);
  }
  return r;
}

// Argmax with the first index on ties.
struct ArgMax {
  float v = -kInf;
  long long i = 0x7fffffffffffffffLL;
  __device__ __forceinline__ void add(float x, long long j) {
    if (x > v || (x == v && j < i)) {
      v = x;
      i = j;
    }
  }
};
__device__ inline long long block_argmax(ArgMax a, float* scratch_v, long long* scratch_i) {
  for (int off = 16; off > 0; off >>= 1) {
    ArgMax o;
    o.v = __shfl_xor_sync(0xffffffffu, a.v, off);
    o.i = __shfl_xor_sync(0xffffffffu, a.i, off);
    a.add(o.v, o.i);
  }
  const unsigned lane = threadIdx.x & 31u, warp = threadIdx.x >> 5, warps = (blockDim.x + 31u) >> 5;
  __syncthreads();
  if (lane == 0) {
    scratch_v[warp] = a.v;
    scratch_i[warp] = a.i;
  }
  __syncthreads();
  ArgMax r;
  if (lane < warps) r.add(scratch_v[lane], scratch_i[lane]);
  for (int off = 16; off > 0; off >>= 1) {
    ArgMax o;
    o.v = __shfl_xor_sync(0xffffffffu, r.v, off);
    o.i = __shfl_xor_sync(0xffffffffu, r.i, off);
    r.add(o.v, o.i);
  }
  return r.i;
}

// x/T as a plain rounded product (never fused into a following subtract), so x/T - max is
// exactly 0 at the maximum and equal rows give bitwise-equal log-probabilities.
__device__ __forceinline__ float scaled(float x, float inv_t) { return __fmul_rn(x, inv_t); }

__device__ __forceinline__ bool nonfinite(float x) { return !(x == x) || x == kInf; }

// One category's D term and q·∂D/∂q (see kernels/kd_loss.h); 0·log 0 := 0.
template <int kDiv>
__device__ __forceinline__ void category_terms(float p, float q, float logp, float logq, float beta, float& loss,
                                               float& gq) {
  if (kDiv == kFkl) {
    loss = p > 0.0f ? p * (logp - logq) : 0.0f;
    gq = -p;
  } else if (kDiv == kRkl) {
    loss = q > 0.0f ? q * (logq - logp) : 0.0f;
    gq = loss;
  } else if (kDiv == kJsd) {
    const float m = beta * p + (1.0f - beta) * q;
    const float logm = __logf(m > 0.0f ? m : 1.0f);
    const float q_term = q > 0.0f ? q * (logq - logm) : 0.0f;
    const float p_term = p > 0.0f ? p * (logp - logm) : 0.0f;
    loss = beta * p_term + (1.0f - beta) * q_term;
    gq = (1.0f - beta) * q_term;
  } else {
    // sign(q - p); differences within 2^-20 relative are ties (as on the CPU).
    const float d = q - p, tie = 9.5367431640625e-07f * (p + q);
    loss = 0.5f * fabsf(d);
    gq = fabsf(d) <= tie ? 0.0f : (d > 0.0f ? 0.5f * q : -0.5f * q);
  }
}

// ---- row loops: f(i, z_i, t_i) over a row, 8 elements per step when `vec` ------------------
template <typename Tz, typename Tt, typename F>
__device__ __forceinline__ void row_for_each(const Tz* z, const Tt* t, int64_t V, bool vec, F&& f) {
  int64_t start = 0;
  if (vec) {
    const int64_t groups = V / 8;
    for (int64_t g = threadIdx.x; g < groups; g += blockDim.x) {
      float zz[8], tt[8];
      load8(z + g * 8, zz);
      load8(t + g * 8, tt);
      for (int j = 0; j < 8; ++j) f(g * 8 + j, zz[j], tt[j]);
    }
    start = groups * 8;
  }
  for (int64_t i = start + threadIdx.x; i < V; i += blockDim.x) f(i, to_float(z[i]), to_float(t[i]));
}

// dz_i = f(i, z_i, t_i) with streaming stores.
template <typename Tz, typename Tt, typename F>
__device__ __forceinline__ void row_transform(const Tz* z, const Tt* t, Tz* dz, int64_t V, bool vec, F&& f) {
  int64_t start = 0;
  if (vec) {
    const int64_t groups = V / 8;
    for (int64_t g = threadIdx.x; g < groups; g += blockDim.x) {
      float zz[8], tt[8], out[8];
      load8(z + g * 8, zz);
      load8(t + g * 8, tt);
      for (int j = 0; j < 8; ++j) out[j] = f(g * 8 + j, zz[j], tt[j]);
      store8_streaming(dz + g * 8, out);
    }
    start = groups * 8;
  }
  for (int64_t i = start + threadIdx.x; i < V; i += blockDim.x) dz[i] = from_float<Tz>(f(i, to_float(z[i]), to_float(t[i])));
}

// The same over the student row alone (top-k teachers).
template <typename Tz, typename F>
__device__ __forceinline__ void row_for_each_z(const Tz* z, int64_t V, bool vec, F&& f) {
  int64_t start = 0;
  if (vec) {
    const int64_t groups = V / 8;
    for (int64_t g = threadIdx.x; g < groups; g += blockDim.x) {
      float zz[8];
      load8(z + g * 8, zz);
      for (int j = 0; j < 8; ++j) f(g * 8 + j, zz[j]);
    }
    start = groups * 8;
  }
  for (int64_t i = start + threadIdx.x; i < V; i += blockDim.x) f(i, to_float(z[i]));
}
template <typename Tz, typename F>
__device__ __forceinline__ void row_transform_z(const Tz* z, Tz* dz, int64_t V, bool vec, F&& f) {
  int64_t start = 0;
  if (vec) {
    const int64_t groups = V / 8;
    for (int64_t g = threadIdx.x; g < groups; g += blockDim.x) {
      float zz[8], out[8];
      load8(z + g * 8, zz);
      for (int j = 0; j < 8; ++j) out[j] = f(g * 8 + j, zz[j]);
      store8_streaming(dz + g * 8, out);
    }
    start = groups * 8;
  }
  for (int64_t i = start + threadIdx.x; i < V; i += blockDim.x) dz[i] = from_float<Tz>(f(i, to_float(z[i])));
}

template <typename Tz>
__device__ __forceinline__ void row_fill(Tz* dz, int64_t V, float value) {
  for (int64_t i = threadIdx.x; i < V; i += blockDim.x) dz[i] = from_float<Tz>(value);
}

}  // namespace retort::kernels::gpu
