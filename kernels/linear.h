// Dense (fully connected) layer kernels: y = x·Wᵀ + b and its backward, with W stored
// [out, in] row-major (PyTorch layout). CPU implementation: OpenBLAS sgemm in cpu/linear.cpp
// (deterministic for a fixed thread count).
#pragma once
#include <cstdint>

namespace retort::kernels {

// x[rows, in], w[out, in], b[out] (may be null) -> y[rows, out] (overwritten).
void linear_forward(const float* x, const float* w, const float* b, float* y, int64_t rows,
                    int64_t in, int64_t out);

// Backward of linear_forward. Accumulates: dw[out, in] += dyᵀ·x, db[out] += Σ_rows dy
// (db may be null). dx[rows, in] = dy·w is overwritten (dx may be null: input needs no grad).
void linear_backward(const float* x, const float* w, const float* dy, float* dx, float* dw,
                     float* db, int64_t rows, int64_t in, int64_t out);

}  // namespace retort::kernels
