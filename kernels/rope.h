// Rotary position embedding, rotate-half (Hugging Face) convention, applied in place to the query
// or key heads of each token row. Angles are computed in float64 and rounded to a float32 cos/sin
// table; batch-invariant by construction (each row depends only on its own values and position).
#pragma once
#include <cstdint>

namespace retort::kernels {

// For head h of row r, half = head_dim/2, j < half, angle = positions[r] · theta^(−2j/head_dim):
//   x'[j] = x[j]·cos − x[j+half]·sin ;  x'[j+half] = x[j+half]·cos + x[j]·sin
struct RopeParams {
  int64_t rows = 0;        // tokens
  int64_t n_heads = 0;     // heads in each row
  int64_t head_dim = 0;    // even
  int64_t row_stride = 0;  // floats between consecutive rows (>= n_heads*head_dim)
  double theta = 10000.0;
};

// In place on x (rows at x + r*row_stride, heads contiguous inside a row); positions[rows] >= 0.
// Floats between n_heads*head_dim and row_stride are not touched.
void rope_forward(float* x, const int32_t* positions, const RopeParams& p);

// In place: the transpose (rotation by −angle), i.e. the gradient of rope_forward.
void rope_backward(float* dx, const int32_t* positions, const RopeParams& p);

}  // namespace retort::kernels
