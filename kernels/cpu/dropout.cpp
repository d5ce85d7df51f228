// CPU dropout: the mask is recomputed from the counter-based hash in dropout.h.
#include "kernels/dropout.h"

namespace retort::kernels {
namespace {

void apply_mask(const float* in, float* out, const uint64_t* keys, int64_t rows, int64_t cols,
                double p) {
  const uint32_t threshold = dropout_threshold(p);
  const float scale = static_cast<float>(1.0 / (1.0 - p));
#pragma omp parallel for schedule(static) if (rows * cols >= (1 << 16))
  for (int64_t r = 0; r < rows; ++r) {
    const uint64_t key = keys[r];
    const float* src = in + r * cols;
    float* dst = out + r * cols;
    for (int64_t c = 0; c < cols; ++c)
      dst[c] = uniform_u32(key, static_cast<uint64_t>(c)) >= threshold ? src[c] * scale : 0.f;
  }
}

}  // namespace

void dropout_forward(const float* x, float* y, const uint64_t* keys, int64_t rows, int64_t cols,
                     double p) {
  apply_mask(x, y, keys, rows, cols, p);
}

void dropout_backward(const float* dy, float* dx, const uint64_t* keys, int64_t rows,
                      int64_t cols, double p) {
  apply_mask(dy, dx, keys, rows, cols, p);
}

}  // namespace retort::kernels
