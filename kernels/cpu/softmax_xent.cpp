// CPU softmax cross-entropy: per row max, log-sum-exp (float64 accumulation), gradient.
#include "kernels/softmax_xent.h"

#include <cmath>

namespace retort::kernels {

XentResult softmax_xent(const float* logits, const int32_t* labels, float* dlogits, int64_t rows,
                        int64_t classes, float grad_scale) {
  XentResult result;
  for (int64_t r = 0; r < rows; ++r) {
    const float* z = logits + r * classes;
    int64_t arg = 0;
    for (int64_t c = 1; c < classes; ++c)
      if (z[c] > z[arg]) arg = c;
    const double zmax = z[arg];
    double sum = 0;
    for (int64_t c = 0; c < classes; ++c) sum += std::exp(static_cast<double>(z[c]) - zmax);
    const int32_t y = labels[r];
    result.loss_sum += std::log(sum) + zmax - static_cast<double>(z[y]);
    result.correct += arg == y;
    if (dlogits) {
      float* dz = dlogits + r * classes;
      const double inv = 1.0 / sum;
      for (int64_t c = 0; c < classes; ++c) {
        const double q = std::exp(static_cast<double>(z[c]) - zmax) * inv;
        dz[c] = static_cast<float>((q - (c == y ? 1.0 : 0.0)) * grad_scale);
      }
    }
  }
  return result;
}

}  // namespace retort::kernels
