// CPU residual add: one vectorisable loop, OpenMP over large arrays.
#include "kernels/residual.h"

namespace retort::kernels {
namespace {
constexpr int64_t kParallelMin = 1 << 16;
}  // namespace

void add_inplace(float* y, const float* x, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) y[i] += x[i];
}

}  // namespace retort::kernels
