// CPU fused optimizer updates (one pass over p, g and the state) and chunked sum of squares.
#include "kernels/optim.h"

#include "kernels/cpu/sum_squares_f64.h"

#include <cmath>
#include <vector>

namespace retort::kernels {
namespace {
constexpr int64_t kParallelMin = 1 << 16;
constexpr int64_t kChunk = 4096;
}  // namespace

void sgd_update(float* p, const float* g, float* m, int64_t n, float lr, float momentum,
                float weight_decay, bool nesterov, float grad_scale) {
  if (momentum == 0.f) {
#pragma omp parallel for simd schedule(static) if (n >= kParallelMin)
    for (int64_t i = 0; i < n; ++i) p[i] -= lr * (grad_scale * g[i] + weight_decay * p[i]);
    return;
  }
#pragma omp parallel for simd schedule(static) if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) {
    const float gi = grad_scale * g[i] + weight_decay * p[i];
    const float mi = momentum * m[i] + gi;
    m[i] = mi;
    p[i] -= lr * (nesterov ? gi + momentum * mi : mi);
  }
}

void adamw_update(float* p, const float* g, float* m, float* v, int64_t n, float lr, float beta1,
                  float beta2, float eps, float weight_decay, int64_t t, float grad_scale) {
  const double bc1 = 1.0 - std::pow(static_cast<double>(beta1), static_cast<double>(t));
  const double bc2 = 1.0 - std::pow(static_cast<double>(beta2), static_cast<double>(t));
  const float step = static_cast<float>(lr / bc1);
  const float inv_sqrt_bc2 = static_cast<float>(1.0 / std::sqrt(bc2));
  const float decay = 1.f - lr * weight_decay;
#pragma omp parallel for simd schedule(static) if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) {
    const float gi = grad_scale * g[i];
    const float mi = beta1 * m[i] + (1.f - beta1) * gi;
    const float vi = beta2 * v[i] + (1.f - beta2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    p[i] = p[i] * decay - step * mi / (std::sqrt(vi) * inv_sqrt_bc2 + eps);
  }
}

double sum_squares(const float* g, int64_t n) {
  const int64_t chunks = (n + kChunk - 1) / kChunk;
  std::vector<double> partial(static_cast<size_t>(chunks));
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t end = c * kChunk + kChunk < n ? c * kChunk + kChunk : n;
    partial[c] = sum_squares_f64(g + c * kChunk, end - c * kChunk);
  }
  double total = 0;
  for (double s : partial) total += s;
  return total;
}

}  // namespace retort::kernels
