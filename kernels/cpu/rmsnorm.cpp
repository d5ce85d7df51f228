// CPU RMSNorm: rows in parallel, each row's reductions in one fixed float32 order (8 lane
// partial sums, fixed pairwise lane reduction, tail in order); dw as partial sums over fixed
// chunks of rows, added in chunk order, so its bits do not depend on the thread count.
#include "kernels/rmsnorm.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace retort::kernels {
namespace {
constexpr int64_t kLanes = 8;
constexpr int64_t kRowChunk = 32;      // rows of one dw partial sum in the backward
constexpr int64_t kColumnBlock = 256;  // dw floats one task of the final dw sum owns
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
  // Pass 1 (rows in parallel): dx, and the dw partial sum of each fixed chunk of kRowChunk rows
  // (its rows in increasing order). Pass 2 (columns in parallel): dw += the chunks in order.
  const int64_t chunks = (rows + kRowChunk - 1) / kRowChunk;
  std::vector<float> partial(chunks * dim, 0.f);
  const bool parallel = rows * dim >= kParallelMin;
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t ch = 0; ch < chunks; ++ch) {
    float* part = partial.data() + ch * dim;
    for (int64_t r = ch * kRowChunk; r < std::min(rows, (ch + 1) * kRowChunk); ++r) {
      const float* xr = x + r * dim;
      const float* dyr = dy + r * dim;
      float* dxr = dx + r * dim;
      const float inv = rstd[r];
      for (int64_t c = 0; c < dim; ++c) part[c] = std::fma(dyr[c] * xr[c], inv, part[c]);
      // Σ (w∘dy)∘x in the fixed order, without a temporary row; dx last (it may alias dy).
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
  const int64_t blocks = (dim + kColumnBlock - 1) / kColumnBlock;
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t blk = 0; blk < blocks; ++blk)
    for (int64_t ch = 0; ch < chunks; ++ch)
      for (int64_t c = blk * kColumnBlock; c < std::min(dim, (blk + 1) * kColumnBlock); ++c)
        dw[c] += partial[ch * dim + c];
}

}  // namespace retort::kernels
