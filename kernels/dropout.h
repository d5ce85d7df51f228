// Inverted dropout whose mask is a pure function of (row key, column): a counter-based hash,
// so forward and backward recompute it instead of storing it, and results never depend on
// thread count, rank count or restarts. The same functions compile for CUDA (host+device).
#pragma once
#include <cstdint>

#if defined(__CUDACC__)
#define RETORT_HD __host__ __device__ __forceinline__
#else
#define RETORT_HD inline
#endif

namespace retort::kernels {

// SplitMix64 finaliser: a bijective 64-bit mixer with full avalanche.
RETORT_HD uint64_t mix64(uint64_t z) {
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// Key of one sample row for one randomness site (layer), from the run seed and epoch.
RETORT_HD uint64_t row_key(uint64_t seed, uint64_t epoch, uint64_t sample_id, uint64_t site) {
  return mix64(mix64(mix64(seed ^ 0x5eedull) ^ epoch) ^ (sample_id * 0x100000001b3ull + site));
}

// Uniform 32-bit draw for (row key, column).
RETORT_HD uint32_t uniform_u32(uint64_t key, uint64_t col) {
  return static_cast<uint32_t>(mix64(key ^ (col * 0xd1b54a32d192ed03ull)) >> 32);
}

// Keep threshold for drop probability p in [0, 1): an element is kept when its draw >= it.
inline uint32_t dropout_threshold(double p) {
  const double t = p * 4294967296.0;
  return t >= 4294967295.0 ? 0xffffffffu : static_cast<uint32_t>(t);
}

// x[rows, cols] -> y (may alias x): y = x · keep / (1 - p) with keep = uniform_u32(keys[r], c) >=
// threshold. keys[rows] are row_key() values.
void dropout_forward(const float* x, float* y, const uint64_t* keys, int64_t rows, int64_t cols,
                     double p);

// dx = dy · keep / (1 - p) with the same mask (dx may alias dy).
void dropout_backward(const float* dy, float* dx, const uint64_t* keys, int64_t rows,
                      int64_t cols, double p);

}  // namespace retort::kernels
