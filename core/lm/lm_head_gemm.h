// The LM head's GEMMs for one chunk of rows on host memory, split across the OpenMP threads with
// no reduction between them: logits and dW by ranges of vocabulary rows, dX by ranges of hidden
// columns, one single-threaded BLAS call per thread and GEMM (no sync inside a GEMM).
#pragma once
#include <cstdint>

namespace retort::core {

// z[rows, vocab] = x[rows, dim] · w[vocab, dim]ᵀ (overwritten).
void head_logits_host(const float* x, const float* w, float* z, int64_t rows, int64_t dim, int64_t vocab);

// dw[vocab, dim] += dzᵀ·x (accumulated) and dx[rows, dim] = dz·w (overwritten), dz [rows, vocab].
void head_backward_host(const float* x, const float* w, const float* dz, float* dx, float* dw, int64_t rows,
                        int64_t dim, int64_t vocab);

// Part `part` of `parts` of [0, n): inner boundaries are n·part/parts rounded down to a multiple
// of `align`, the last part ends at n (parts may be empty when n is small). The split depends
// only on n, parts and align, so a fixed thread count gives fixed bits.
struct IndexRange {
  int64_t begin = 0, end = 0;
};
IndexRange split_range(int64_t n, int parts, int part, int64_t align);

}  // namespace retort::core
