// CPU max-norm: per-row L2 norm (float64, vectorised in a fixed order) and rescale of rows
// above the limit.
#include "kernels/max_norm.h"

#include <cmath>

#include "kernels/cpu/sum_squares_f64.h"

namespace retort::kernels {

void max_norm_rows(float* w, int64_t rows, int64_t cols, float max_norm) {
#pragma omp parallel for schedule(static) if (rows * cols >= (1 << 16))
  for (int64_t r = 0; r < rows; ++r) {
    float* row = w + r * cols;
    const double norm = std::sqrt(sum_squares_f64(row, cols));
    if (norm > max_norm) {
      const float s = static_cast<float>(max_norm / norm);
      for (int64_t c = 0; c < cols; ++c) row[c] *= s;
    }
  }
}

}  // namespace retort::kernels
