// RMSNorm (Llama): y = x · rstd · w with rstd = 1/sqrt(mean(x²) + eps) per row, and its backward.
// Batch-invariant by construction: every row is reduced in float32 in one fixed order (8 lane
// partial sums, a fixed pairwise lane reduction, the tail in order), whatever the rows or threads.
#pragma once
#include <cstdint>

namespace retort::kernels {

// x[rows, dim], w[dim] -> y[rows, dim] (overwritten; may alias x), rstd[rows] (may be null).
void rmsnorm_forward(const float* x, const float* w, float* y, float* rstd, int64_t rows,
                     int64_t dim, float eps);

// With r = rstd[row] from the forward and g = w ∘ dy:
//   dx = r · (g − x · r² · (Σ g∘x) / dim)   (dx[rows, dim] overwritten; may alias dy)
//   dw[dim] += Σ_rows dy ∘ x · r            (a fixed order independent of the thread count: rows
//                                            summed in increasing order within chunks of 32,
//                                            then the chunk sums in increasing order)
void rmsnorm_backward(const float* x, const float* w, const float* rstd, const float* dy,
                      float* dx, float* dw, int64_t rows, int64_t dim);

}  // namespace retort::kernels
