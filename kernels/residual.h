// Residual connection of the transformer blocks: y += x, elementwise (batch-invariant).
#pragma once
#include <cstdint>

namespace retort::kernels {

// y[n] += x[n].
void add_inplace(float* y, const float* x, int64_t n);

}  // namespace retort::kernels
