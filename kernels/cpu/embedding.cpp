// CPU embedding: row copies for the forward; the backward is parallel over column blocks so each
// table element sums its tokens in increasing index with no atomics and no thread dependence.
#include "kernels/embedding.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "core/base/error.h"

namespace retort::kernels {
namespace {
constexpr int64_t kColumnBlock = 64;  // floats of a row one backward task owns

void check_ids(const int32_t* tokens, int64_t n, int64_t vocab) {
  for (int64_t i = 0; i < n; ++i)
    if (tokens[i] < 0 || tokens[i] >= vocab)
      RETORT_INPUT_ERROR("token id " + std::to_string(tokens[i]) + " at position " +
                         std::to_string(i) + " is outside the vocabulary [0, " +
                         std::to_string(vocab) + ")");
}
}  // namespace

void embedding_forward(const int32_t* tokens, int64_t n, const float* table, int64_t vocab,
                       int64_t dim, float* out) {
  check_ids(tokens, n, vocab);
#pragma omp parallel for schedule(static) if (n * dim >= (1 << 16))
  for (int64_t i = 0; i < n; ++i)
    std::memcpy(out + i * dim, table + int64_t(tokens[i]) * dim, sizeof(float) * dim);
}

void embedding_backward(const int32_t* tokens, int64_t n, const float* dout, int64_t vocab,
                        int64_t dim, float* dtable) {
  check_ids(tokens, n, vocab);
  const int64_t blocks = (dim + kColumnBlock - 1) / kColumnBlock;
#pragma omp parallel for schedule(static) if (n * dim >= (1 << 16))
  for (int64_t blk = 0; blk < blocks; ++blk) {
    const int64_t c0 = blk * kColumnBlock, c1 = std::min(dim, c0 + kColumnBlock);
    for (int64_t i = 0; i < n; ++i) {
      float* dst = dtable + int64_t(tokens[i]) * dim;
      const float* src = dout + i * dim;
#pragma omp simd
      for (int64_t c = c0; c < c1; ++c) dst[c] += src[c];
    }
  }
}

}  // namespace retort::kernels
