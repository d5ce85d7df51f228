// CPU batch-invariant linear forward: a fixed-order dot product per output element, blocked
// over rows and outputs only for cache reuse (blocking never changes an element's arithmetic).
#include "kernels/linear_invariant.h"

#include <algorithm>
#include <cstring>

namespace retort::kernels {
namespace {

typedef float f32x8 __attribute__((vector_size(32)));

inline f32x8 load8(const float* p) {
  f32x8 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// The one definition of an output element's arithmetic (see the header).
inline float dot_fixed_order(const float* x, const float* w, int64_t in) {
  const int64_t in8 = in / 8 * 8;
  f32x8 acc = {0, 0, 0, 0, 0, 0, 0, 0};
  for (int64_t k = 0; k < in8; k += 8) {
    const f32x8 prod = load8(x + k) * load8(w + k);
    acc = acc + prod;
  }
  float s = ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
  for (int64_t k = in8; k < in; ++k) {
    const float prod = x[k] * w[k];
    s = s + prod;
  }
  return s;
}

constexpr int64_t kRowBlock = 16;  // rows sharing one block of weight rows in L1
constexpr int64_t kOutBlock = 8;   // weight rows (outputs) per block

}  // namespace

void linear_forward_batch_invariant(const float* x, const float* w, const float* b, float* y,
                                    int64_t rows, int64_t in, int64_t out) {
  const int64_t row_blocks = (rows + kRowBlock - 1) / kRowBlock;
#pragma omp parallel for schedule(static)
  for (int64_t rb = 0; rb < row_blocks; ++rb) {
    const int64_t r0 = rb * kRowBlock, r1 = std::min(rows, r0 + kRowBlock);
    for (int64_t o0 = 0; o0 < out; o0 += kOutBlock) {
      const int64_t o1 = std::min(out, o0 + kOutBlock);
      for (int64_t r = r0; r < r1; ++r) {
        const float* xr = x + r * in;
        float* yr = y + r * out;
        for (int64_t o = o0; o < o1; ++o) {
          const float s = dot_fixed_order(xr, w + o * in, in);
          yr[o] = b ? s + b[o] : s;
        }
      }
    }
  }
}

}  // namespace retort::kernels
