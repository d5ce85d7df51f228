// CPU dropout: the mask is recomputed from the counter-based hash in dropout.h, one row at a
// time in a branch-free loop that vectorises (the 64-bit hash multiplies natively with AVX-512,
// emulated with AVX2: the row loop is compiled for both and picked at load time).
#include "kernels/dropout.h"

#include <bit>

namespace retort::kernels {
namespace {

[[gnu::target_clones("arch=x86-64-v4", "default")]]
void mask_row(const float* src, float* dst, uint64_t key, int64_t cols, uint32_t threshold, float scale) {
  for (int64_t c = 0; c < cols; ++c) {
    const uint32_t keep = 0u - static_cast<uint32_t>(uniform_u32(key, static_cast<uint64_t>(c)) >= threshold);
    dst[c] = std::bit_cast<float>(std::bit_cast<uint32_t>(src[c] * scale) & keep);  // dropped: +0
  }
}

void apply_mask(const float* in, float* out, const uint64_t* keys, int64_t rows, int64_t cols,
                double p) {
  const uint32_t threshold = dropout_threshold(p);
  const float scale = static_cast<float>(1.0 / (1.0 - p));
#pragma omp parallel for schedule(static) if (rows * cols >= (1 << 16))
  for (int64_t r = 0; r < rows; ++r) mask_row(in + r * cols, out + r * cols, keys[r], cols, threshold, scale);
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
