// CPU SwiGLU: elementwise loops over rows, OpenMP over large inputs. Each element is a fixed
// function of its own inputs (explicit std::fma where a product meets a sum), so results do not
// depend on where the element sits in the array or on the thread count.
#include "kernels/swiglu.h"

#include <cmath>

namespace retort::kernels {
namespace {
constexpr int64_t kParallelMin = 1 << 15;

inline float sigmoid(float x) { return 1.f / (1.f + std::exp(-x)); }

inline void forward_span(const float* gate, const float* up, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = gate[i] * sigmoid(gate[i]) * up[i];
}

inline void backward_span(const float* gate, const float* up, const float* dout, float* dgate,
                          float* dup, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i], s = sigmoid(g), d = dout[i];
    const float dsilu = s * std::fma(g, 1.f - s, 1.f);  // σ·(1 + g·(1 − σ))
    dgate[i] = d * up[i] * dsilu;
    dup[i] = d * (g * s);
  }
}
}  // namespace

void swiglu_forward(const float* gate, const float* up, float* out, int64_t n) {
  swiglu_forward(gate, up, out, 1, n, n, n);
}

void swiglu_backward(const float* gate, const float* up, const float* dout, float* dgate,
                     float* dup, int64_t n) {
  swiglu_backward(gate, up, dout, dgate, dup, 1, n, n, n);
}

// Flat calls are split into fixed 4096-element spans so they parallelise too; the split changes
// nothing numerically (each element is independent).
void swiglu_forward(const float* gate, const float* up, float* out, int64_t rows, int64_t cols,
                    int64_t in_stride, int64_t out_stride) {
  constexpr int64_t kSpan = 4096;
  const int64_t spans = (cols + kSpan - 1) / kSpan;
#pragma omp parallel for collapse(2) schedule(static) if (rows * cols >= kParallelMin)
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t sp = 0; sp < spans; ++sp) {
      const int64_t c0 = sp * kSpan, n = (c0 + kSpan < cols ? kSpan : cols - c0);
      forward_span(gate + r * in_stride + c0, up + r * in_stride + c0, out + r * out_stride + c0,
                   n);
    }
}

void swiglu_backward(const float* gate, const float* up, const float* dout, float* dgate,
                     float* dup, int64_t rows, int64_t cols, int64_t in_stride,
                     int64_t out_stride) {
  constexpr int64_t kSpan = 4096;
  const int64_t spans = (cols + kSpan - 1) / kSpan;
#pragma omp parallel for collapse(2) schedule(static) if (rows * cols >= kParallelMin)
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t sp = 0; sp < spans; ++sp) {
      const int64_t c0 = sp * kSpan, n = (c0 + kSpan < cols ? kSpan : cols - c0);
      const int64_t i = r * in_stride + c0;
      backward_span(gate + i, up + i, dout + r * out_stride + c0, dgate + i, dup + i, n);
    }
}

}  // namespace retort::kernels
