// A CPU SIMT emulator for testing CUDA kernel bodies without a GPU: one fiber per CUDA thread of
// a block, blocks run one at a time, __syncthreads is a block barrier and warp shuffles go
// through a per-warp exchange. Include this (with RETORT_SIMT defined) before any kernels/cuda/*.cuh.
#pragma once
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <tuple>
#include <type_traits>
#include <utility>

namespace retort::simt {

struct uint3 {
  unsigned x = 0, y = 0, z = 0;
};
struct dim3 {
  unsigned x = 1, y = 1, z = 1;
  constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};

// The stream argument of launch(); the emulator runs every launch synchronously.
using Stream = void*;

// Runs `block_body` for every thread of every block of the grid (blocks in order, threads of a
// block as cooperatively scheduled fibers). Throws retort::Error on a deadlock (threads waiting
// at different barriers), on blockDim > 1024, or when a thread throws.
void run_grid(dim3 grid, dim3 block, size_t dynamic_smem_bytes, const std::function<void()>& block_body);

// Per-block dynamic shared memory (what `extern __shared__` gives on a device), 16-byte aligned.
void* dynamic_smem();

// Block barrier (__syncthreads) and warp barrier over the lanes in `mask` (__syncwarp).
void sync_block();
void sync_warp(unsigned mask);

// Linear thread index within the block, and its lane / warp.
unsigned linear_tid();

// Exchanges an 8-byte payload through the calling thread's warp: every participating lane
// writes `value`, then reads the payload of lane `src` (its own when `src` is out of range or
// not participating). This is the primitive behind every __shfl_*_sync and vote.
uint64_t warp_exchange(unsigned mask, uint64_t value, int src);
// Ballot: the bit mask of participating lanes whose predicate is non-zero.
unsigned warp_ballot(unsigned mask, int predicate);

// launch(kernel, grid, block, smem, stream, args...): the emulator's counterpart of the CUDA
// launch wrapper; arguments are converted to the kernel's parameter types as a launch does.
template <typename... Params, typename... Args>
void launch(void (*kernel)(Params...), dim3 grid, dim3 block, size_t smem, Stream, Args&&... args) {
  static_assert(sizeof...(Params) == sizeof...(Args), "launch: wrong number of kernel arguments");
  std::tuple<std::decay_t<Params>...> params(static_cast<std::decay_t<Params>>(std::forward<Args>(args))...);
  run_grid(grid, block, smem, [&] { std::apply(kernel, params); });
}

}  // namespace retort::simt

// ---- CUDA built-ins, as seen by kernel code compiled with g++ -------------------------------
using retort::simt::dim3;
using retort::simt::uint3;
inline thread_local uint3 threadIdx;
inline thread_local uint3 blockIdx;
inline thread_local dim3 blockDim;
inline thread_local dim3 gridDim;
constexpr int warpSize = 32;

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
// Blocks run one at a time on one host thread, so a function-local static per host thread is
// exactly per-block storage (uninitialised between blocks on a device too).
#define __shared__ static thread_local

inline void __syncthreads() { retort::simt::sync_block(); }
inline void __syncwarp(unsigned mask = 0xffffffffu) { retort::simt::sync_warp(mask); }
inline void __threadfence() {}
inline void __threadfence_block() {}

namespace retort::simt::detail {
template <typename T>
T shuffle(unsigned mask, T v, int src) {
  static_assert(sizeof(T) <= 8 && std::is_trivially_copyable_v<T>, "shuffle of a type > 8 bytes");
  uint64_t bits = 0;
  std::memcpy(&bits, &v, sizeof(T));
  bits = warp_exchange(mask, bits, src);
  T out;
  std::memcpy(&out, &bits, sizeof(T));
  return out;
}
inline int lane() { return static_cast<int>(linear_tid() % 32u); }
}  // namespace retort::simt::detail

template <typename T>
T __shfl_sync(unsigned mask, T v, int src_lane, int width = 32) {
  const int lane = retort::simt::detail::lane();
  return retort::simt::detail::shuffle(mask, v, (lane & ~(width - 1)) + (src_lane & (width - 1)));
}
template <typename T>
T __shfl_xor_sync(unsigned mask, T v, int lane_mask, int width = 32) {
  const int lane = retort::simt::detail::lane();
  const int src = lane ^ lane_mask;
  return retort::simt::detail::shuffle(mask, v, (src & ~(width - 1)) == (lane & ~(width - 1)) ? src : lane);
}
template <typename T>
T __shfl_down_sync(unsigned mask, T v, unsigned delta, int width = 32) {
  const int lane = retort::simt::detail::lane();
  const int src = lane + static_cast<int>(delta);
  return retort::simt::detail::shuffle(mask, v, (src & ~(width - 1)) == (lane & ~(width - 1)) ? src : lane);
}
template <typename T>
T __shfl_up_sync(unsigned mask, T v, unsigned delta, int width = 32) {
  const int lane = retort::simt::detail::lane();
  const int src = lane - static_cast<int>(delta);
  return retort::simt::detail::shuffle(mask, v, src >= (lane & ~(width - 1)) ? src : lane);
}
inline unsigned __ballot_sync(unsigned mask, int pred) { return retort::simt::warp_ballot(mask, pred); }
inline int __any_sync(unsigned mask, int pred) { return retort::simt::warp_ballot(mask, pred) != 0; }
inline int __all_sync(unsigned mask, int pred) { return retort::simt::warp_ballot(mask, !pred) == 0; }

// Threads of a block never run concurrently in the emulator, so plain read-modify-write is atomic.
template <typename T>
T atomicAdd(T* address, T v) {
  T old = *address;
  *address = old + v;
  return old;
}
template <typename T>
T atomicMax(T* address, T v) {
  T old = *address;
  *address = old < v ? v : old;
  return old;
}
template <typename T>
T atomicOr(T* address, T v) {
  T old = *address;
  *address = old | v;
  return old;
}
template <typename T>
T atomicCAS(T* address, T compare, T v) {
  T old = *address;
  if (old == compare) *address = v;
  return old;
}

// Vector types with the device's alignment.
struct alignas(16) float4 {
  float x, y, z, w;
};
struct alignas(8) float2 {
  float x, y;
};
struct alignas(16) uint4 {
  unsigned x, y, z, w;
};
struct alignas(8) uint2 {
  unsigned x, y;
};

// Load/store cache hints and bit casts.
template <typename T>
T __ldg(const T* p) { return *p; }
template <typename T>
T __ldcs(const T* p) { return *p; }
template <typename T>
void __stcs(T* p, T v) { *p = v; }
inline float __int_as_float(int v) { float f; std::memcpy(&f, &v, 4); return f; }
inline int __float_as_int(float v) { int i; std::memcpy(&i, &v, 4); return i; }
inline float __uint_as_float(unsigned v) { float f; std::memcpy(&f, &v, 4); return f; }
inline unsigned __float_as_uint(float v) { unsigned i; std::memcpy(&i, &v, 4); return i; }

// Round-to-nearest products/sums that the compiler must not fuse into an FMA (as on a device);
// out of line so g++ cannot contract them with a neighbouring add.
[[gnu::noinline]] inline float __fmul_rn(float a, float b) { return a * b; }
[[gnu::noinline]] inline float __fadd_rn(float a, float b) { return a + b; }

// Fast-math intrinsics map to the accurate host functions.
inline float __expf(float x) { return std::exp(x); }
inline float __logf(float x) { return std::log(x); }
inline float __fdividef(float a, float b) { return a / b; }
