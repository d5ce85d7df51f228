// Device helpers shared by the hand-written kernels (nvcc and the SIMT emulator alike):
// fp32/bf16 scalar and 8-wide vector loads/stores, warp and block all-reductions.
// Block reductions assume blockDim.x is a multiple of 32 (whole warps).
#pragma once
#include <cstdint>

#include "core/base/dtype.h"
#include "kernels/cuda/simt_compat.h"

namespace retort::kernels::gpu {

// ---- element loads/stores (bf16 is retort::bf16: raw bits, no cuda_bf16.h needed) ----------
__device__ __forceinline__ float to_float(float v) { return v; }
__device__ __forceinline__ float to_float(retort::bf16 v) {
  return __uint_as_float(static_cast<unsigned>(v.bits) << 16);
}
// Round to nearest even; NaN stays a (quiet) NaN. Same rule as retort::float_to_bf16.
__device__ __forceinline__ uint16_t bf16_bits_from_float(float f) {
  const unsigned u = __float_as_uint(f);
  if ((u & 0x7f800000u) == 0x7f800000u && (u & 0x007fffffu)) return static_cast<uint16_t>((u >> 16) | 0x0040u);
  return static_cast<uint16_t>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}
template <typename T>
__device__ __forceinline__ T from_float(float f);
template <>
__device__ __forceinline__ float from_float<float>(float f) { return f; }
template <>
__device__ __forceinline__ retort::bf16 from_float<retort::bf16>(float f) {
  return retort::bf16{bf16_bits_from_float(f)};
}

// 8 consecutive elements starting at p (p must be 16-byte aligned): 16-byte loads.
__device__ __forceinline__ void load8(const float* p, float out[8]) {
  const float4 a = __ldg(reinterpret_cast<const float4*>(p));
  const float4 b = __ldg(reinterpret_cast<const float4*>(p) + 1);
  out[0] = a.x; out[1] = a.y; out[2] = a.z; out[3] = a.w;
  out[4] = b.x; out[5] = b.y; out[6] = b.z; out[7] = b.w;
}
__device__ __forceinline__ void load8(const retort::bf16* p, float out[8]) {
  const uint4 v = __ldg(reinterpret_cast<const uint4*>(p));
  const unsigned w[4] = {v.x, v.y, v.z, v.w};
  for (int i = 0; i < 4; ++i) {
    out[2 * i] = __uint_as_float(w[i] << 16);
    out[2 * i + 1] = __uint_as_float(w[i] & 0xffff0000u);
  }
}
// Streaming (evict-first) 16-byte stores of 8 elements at a 16-byte aligned p.
__device__ __forceinline__ void store8_streaming(float* p, const float v[8]) {
  __stcs(reinterpret_cast<float4*>(p), float4{v[0], v[1], v[2], v[3]});
  __stcs(reinterpret_cast<float4*>(p) + 1, float4{v[4], v[5], v[6], v[7]});
}
__device__ __forceinline__ void store8_streaming(retort::bf16* p, const float v[8]) {
  unsigned w[4];
  for (int i = 0; i < 4; ++i)
    w[i] = static_cast<unsigned>(bf16_bits_from_float(v[2 * i])) |
           (static_cast<unsigned>(bf16_bits_from_float(v[2 * i + 1])) << 16);
  __stcs(reinterpret_cast<uint4*>(p), uint4{w[0], w[1], w[2], w[3]});
}

__device__ __forceinline__ bool aligned16(const void* p) {
  return (reinterpret_cast<uintptr_t>(p) & 15u) == 0;
}

// ---- reductions -----------------------------------------------------------------------------
struct SumOp {
  template <typename T>
  __device__ __forceinline__ T operator()(T a, T b) const { return a + b; }
};
struct MaxOp {
  template <typename T>
  __device__ __forceinline__ T operator()(T a, T b) const { return a > b ? a : b; }
};

// Every lane of the warp gets op over the warp's 32 values (butterfly of xor shuffles).
template <typename T, typename Op>
__device__ __forceinline__ T warp_allreduce(T v, Op op) {
  for (int offset = 16; offset > 0; offset >>= 1) v = op(v, __shfl_xor_sync(0xffffffffu, v, offset));
  return v;
}

// Every thread of the block gets op over the block's values. `scratch` is >= 32 elements of
// shared memory; `identity` is op's neutral element. Contains two __syncthreads.
template <typename T, typename Op>
__device__ T block_allreduce(T v, Op op, T identity, T* scratch) {
  const unsigned lane = threadIdx.x & 31u, warp = threadIdx.x >> 5;
  const unsigned warps = (blockDim.x + 31u) >> 5;
  v = warp_allreduce(v, op);
  __syncthreads();  // scratch may still be read by the previous call
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = lane < warps ? scratch[lane] : identity;
  return warp_allreduce(v, op);
}

}  // namespace retort::kernels::gpu
