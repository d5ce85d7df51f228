// CUDA entry point of the batch-invariant linear forward (teacher inference on a device): the
// per-element order of kernels/linear_invariant.h, so a row's outputs are bitwise independent of
// the row count and of the other rows. Device pointers; work enqueued on `stream` (a cudaStream_t).
#pragma once
#include <cstdint>

namespace retort::kernels {

// x[rows, in], w[out, in], b[out] (may be null) -> y[rows, out].
void linear_forward_batch_invariant_cuda(const float* x, const float* w, const float* b, float* y, int64_t rows,
                                         int64_t in, int64_t out, void* stream);

}  // namespace retort::kernels
