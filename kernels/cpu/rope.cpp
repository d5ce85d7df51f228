// CPU RoPE: cos/sin computed in float64 per (position, pair) and rounded to float32 (a table over
// the call's position range when that is no larger than the rows, else per row), then rows in
// parallel. Each element is one fixed expression of its pair and the table value.
#include "kernels/rope.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/base/error.h"

namespace retort::kernels {
namespace {
constexpr int64_t kParallelMin = 1 << 14;       // floats rotated
constexpr int64_t kAnglesParallelMin = 1 << 10;  // cos/sin pairs of the table

void check(const int32_t* positions, const RopeParams& p) {
  RETORT_CHECK(p.head_dim > 0 && p.head_dim % 2 == 0, "rope head_dim must be positive and even");
  RETORT_CHECK(p.n_heads > 0 && p.row_stride >= p.n_heads * p.head_dim, "rope row_stride");
  RETORT_CHECK(p.theta > 0, "rope theta must be positive");
  for (int64_t r = 0; r < p.rows; ++r)
    RETORT_CHECK(positions[r] >= 0, "rope positions must be >= 0");
}

// cos/sin of pos · theta^(−2j/head_dim) for j < half, float64 rounded to float32.
void angles(int64_t pos, const std::vector<double>& inv_freq, float* cs, float* sn) {
  for (size_t j = 0; j < inv_freq.size(); ++j) {
    const double a = double(pos) * inv_freq[j];
    cs[j] = float(std::cos(a));
    sn[j] = float(std::sin(a));
  }
}

// sign = +1: forward rotation; sign = -1: its transpose.
void rotate(float* x, const int32_t* positions, const RopeParams& p, float sign) {
  if (p.rows <= 0) return;
  check(positions, p);
  const int64_t half = p.head_dim / 2;
  std::vector<double> inv_freq(half);
  for (int64_t j = 0; j < half; ++j)
    inv_freq[j] = std::pow(p.theta, -2.0 * double(j) / double(p.head_dim));
  const auto [lo, hi] = std::minmax_element(positions, positions + p.rows);
  const int64_t span = int64_t(*hi) - *lo + 1;
  const bool use_table = span <= p.rows;
  std::vector<float> cos_t(use_table ? span * half : 0), sin_t(use_table ? span * half : 0);
  if (use_table) {
#pragma omp parallel for schedule(static) if (span * half >= kAnglesParallelMin)
    for (int64_t s = 0; s < span; ++s)
      angles(*lo + s, inv_freq, cos_t.data() + s * half, sin_t.data() + s * half);
  }
  const bool parallel = p.rows * p.n_heads * p.head_dim >= kParallelMin;
#pragma omp parallel if (parallel)
  {
    std::vector<float> own_cos(use_table ? 0 : half), own_sin(use_table ? 0 : half);
#pragma omp for schedule(static)
    for (int64_t r = 0; r < p.rows; ++r) {
      const float* cs;
      const float* sn;
      if (use_table) {
        cs = cos_t.data() + (positions[r] - *lo) * half;
        sn = sin_t.data() + (positions[r] - *lo) * half;
      } else {
        angles(positions[r], inv_freq, own_cos.data(), own_sin.data());
        cs = own_cos.data();
        sn = own_sin.data();
      }
      for (int64_t h = 0; h < p.n_heads; ++h) {
        float* a = x + r * p.row_stride + h * p.head_dim;
        float* b = a + half;
        for (int64_t j = 0; j < half; ++j) {
          const float c = cs[j], s = sign * sn[j], xa = a[j], xb = b[j];
          a[j] = std::fma(xa, c, -(xb * s));
          b[j] = std::fma(xb, c, xa * s);
        }
      }
    }
  }
}
}  // namespace

void rope_forward(float* x, const int32_t* positions, const RopeParams& p) {
  rotate(x, positions, p, 1.f);
}

void rope_backward(float* dx, const int32_t* positions, const RopeParams& p) {
  rotate(dx, positions, p, -1.f);
}

}  // namespace retort::kernels
