// CPU max-norm: per-row L2 norm (float64) and rescale of rows above the limit.
#include "kernels/max_norm.h"

#include <cmath>

namespace retort::kernels {

void max_norm_rows(float* w, int64_t rows, int64_t cols, float max_norm) {
#pragma omp parallel for schedule(static) if (rows * cols >= (1 << 16))
  for (int64_t r = 0; r < rows; ++r) {
    float* row = w + r * cols;
    double sq = 0;
    for (int64_t c = 0; c < cols; ++c) sq += static_cast<double>(row[c]) * row[c];
    const double norm = std::sqrt(sq);
    if (norm > max_norm) {
      const float s = static_cast<float>(max_norm / norm);
      for (int64_t c = 0; c < cols; ++c) row[c] *= s;
    }
  }
}

}  // namespace retort::kernels
