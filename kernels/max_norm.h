// Hinton's max-norm weight constraint: each row of w[rows, cols] (the incoming weights of one
// unit) whose L2 norm exceeds max_norm is rescaled to norm max_norm.
#pragma once
#include <cstdint>

namespace retort::kernels {

void max_norm_rows(float* w, int64_t rows, int64_t cols, float max_norm);

}  // namespace retort::kernels
