// CPU RMSNorm: rows in parallel, each row's reductions in one fixed float32 order (8 lane
// partial sums, fixed pairwise lane reduction, tail in order); dw over column blocks so every
// element adds the rows in increasing order whatever the thread count.
#include "kernels/rmsnorm.h"

#include <algorithm>
#include <cmath>

namespace retort::kernels {
namespace {
constexpr int64_t kLanes = 8;
constexpr int64_t kColumnBlock = 64;   // dw floats one backward task owns
constexpr int64_t kParallelMin = 1 << 15;

// Σ a[i]·b[i] over i < n in the fixed order described above.
inline float dot_fixed(const float* a, const float* b, int64_t n) {
  float lane[kLanes] = {};
  const int64_t body = n - n % kLanes;
  for (int64_t i = 0; i < body; i += kLanes) {
#pragma omp simd
    for (int64_t l = 0; l < kLanes; ++l) lane[l] = std::fma(a[i + l], b[i + l], lane[l]);
  }
  float sum = ((lane[0] + lane[4]) + (lane[2] + lane[6])) + ((lane[1] + lane[5]) + (lane[3] + lane[7]));
  for (int64_t i = body; i < n; ++i) sum = std::fma(a[i], b[i], sum);
  return sum;
}
}  // namespace

void rmsnorm_forward(const float* x, const float* w, float* y, float* rstd, int64_t rows,
                     int64_t dim, float eps) {
#pragma omp parallel for schedule(static) if (rows * dim >= kParallelMin)
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * dim;
    float* yr = y + r * dim;
    const float inv = 1.f / std::sqrt(dot_fixed(xr, xr, dim) / float(dim) + eps);
    for (int64_t c = 0; c < dim; ++c) yr[c] = xr[c] * inv * w[c];
    if (rstd) rstd[r] = inv;
  }
}

void rmsnorm_backward(const float* x, const float* w, const float* rstd, const float* dy,
                      float* dx, float* dw, int64_t rows, int64_t dim) {
  const int64_t blocks = (dim + kColumnBlock - 1) / kColumnBlock;
  // dw first: dx may alias dy.
#pragma omp parallel for schedule(static) if (rows * dim >= kParallelMin)
  for (int64_t blk = 0; blk < blocks; ++blk) {
    const int64_t c0 = blk * kColumnBlock, c1 = std::min(dim, c0 + kColumnBlock);
    for (int64_t r = 0; r < rows; ++r) {
      const float* xr = x + r * dim;
      const float* dyr = dy + r * dim;
      const float inv = rstd[r];
      for (int64_t c = c0; c < c1; ++c) dw[c] = std::fma(dyr[c] * xr[c], inv, dw[c]);
    }
  }
#pragma omp parallel for schedule(static) if (rows * dim >= kParallelMin)
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * dim;
    const float* dyr = dy + r * dim;
    float* dxr = dx + r * dim;
    const float inv = rstd[r];
    // Σ (w∘dy)∘x in the fixed order, without a temporary row.
    float lane[kLanes] = {};
    const int64_t body = dim - dim % kLanes;
    for (int64_t i = 0; i < body; i += kLanes) {
#pragma omp simd
      for (int64_t l = 0; l < kLanes; ++l)
        lane[l] = std::fma(w[i + l] * dyr[i + l], xr[i + l], lane[l]);
    }
    float gx = ((lane[0] + lane[4]) + (lane[2] + lane[6])) + ((lane[1] + lane[5]) + (lane[3] + lane[7]));
    for (int64_t i = body; i < dim; ++i) gx = std::fma(w[i] * dyr[i], xr[i], gx);
    const float coef = inv * inv * gx / float(dim);
    for (int64_t c = 0; c < dim; ++c) dxr[c] = inv * std::fma(-xr[c], coef, w[c] * dyr[c]);
  }
}

}  // namespace retort::kernels
