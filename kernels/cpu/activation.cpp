// CPU activations: vectorisable elementwise loops, OpenMP over large arrays.
#include "kernels/activation.h"

#include <cmath>

namespace retort::kernels {
namespace {
constexpr int64_t kParallelMin = 1 << 16;
constexpr float kGeluC = 0.7978845608028654f;  // sqrt(2/pi)
constexpr float kGeluA = 0.044715f;
}  // namespace

void activation_forward(Activation act, const float* x, float* y, int64_t n) {
  if (act == Activation::relu) {
#pragma omp parallel for simd schedule(static) if (n >= kParallelMin)
    for (int64_t i = 0; i < n; ++i) y[i] = x[i] > 0.f ? x[i] : 0.f;
  } else {
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
    for (int64_t i = 0; i < n; ++i) {
      const float v = x[i];
      y[i] = 0.5f * v * (1.f + std::tanh(kGeluC * (v + kGeluA * v * v * v)));
    }
  }
}

void activation_backward(Activation act, const float* x, const float* y, const float* dy,
                         float* dx, int64_t n) {
  if (act == Activation::relu) {
#pragma omp parallel for simd schedule(static) if (n >= kParallelMin)
    for (int64_t i = 0; i < n; ++i) dx[i] = y[i] > 0.f ? dy[i] : 0.f;
  } else {
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
    for (int64_t i = 0; i < n; ++i) {
      const float v = x[i];
      const float t = std::tanh(kGeluC * (v + kGeluA * v * v * v));
      const float dt = kGeluC * (1.f + 3.f * kGeluA * v * v) * (1.f - t * t);
      dx[i] = dy[i] * (0.5f * (1.f + t) + 0.5f * v * dt);
    }
  }
}

}  // namespace retort::kernels
