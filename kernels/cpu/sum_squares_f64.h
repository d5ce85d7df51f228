// Σ x[i]² in float64 for one contiguous run, vectorised in a fixed order (AVX2): 8 lanes, lane
// j summing the i ≡ j (mod 8) terms in order, then ((l0+l4)+(l2+l6)) + ((l1+l5)+(l3+l7)), then
// the n mod 8 tail in order. Shared by the gradient norm (optim.cpp) and max-norm (max_norm.cpp).
#pragma once
#include <immintrin.h>

#include <cstdint>

namespace retort::kernels {

inline double sum_squares_f64(const float* x, int64_t n) {
  __m256d lo = _mm256_setzero_pd(), hi = _mm256_setzero_pd();  // lanes 0-3 and 4-7
  const int64_t n8 = n / 8 * 8;
  for (int64_t i = 0; i < n8; i += 8) {
    const __m256d a = _mm256_cvtps_pd(_mm_loadu_ps(x + i)), b = _mm256_cvtps_pd(_mm_loadu_ps(x + i + 4));
    lo = _mm256_fmadd_pd(a, a, lo);
    hi = _mm256_fmadd_pd(b, b, hi);
  }
  const __m256d pairs = _mm256_add_pd(lo, hi);  // l_j + l_{j+4}, j = 0..3
  alignas(32) double p[4];
  _mm256_store_pd(p, pairs);
  double s = (p[0] + p[2]) + (p[1] + p[3]);
  for (int64_t i = n8; i < n; ++i) s += static_cast<double>(x[i]) * x[i];
  return s;
}

}  // namespace retort::kernels
