// CPU SwiGLU: vectorised elementwise loops over rows (vexp), OpenMP over large inputs. Each
// element is a fixed function of its own inputs, the same in the vector body and the scalar
// tail, so results do not depend on where the element sits in the array or on the thread count.
#include "kernels/swiglu.h"

#include <bit>
#include <cmath>

#include "kernels/cpu/kd_loss_cpu_math.h"  // vexp: the project's vectorisable exp

namespace retort::kernels {
namespace {
constexpr int64_t kParallelMin = 1 << 15;
constexpr int64_t kSpan = 4096;  // floats of a row one task handles

// σ(x) = 1/(1 + e) for x >= 0 and e/(1 + e) for x < 0, e = exp(−|x|): vexp's argument is
// never positive. The sign select is on the float bits (an integer select GCC vectorises).
[[gnu::always_inline]] inline float sigmoid(float x) {
  const int32_t bits = std::bit_cast<int32_t>(x);
  const float e = cpu::vexp(std::bit_cast<float>(bits | std::bit_cast<int32_t>(-0.f)));
  const int32_t num = bits < 0 ? std::bit_cast<int32_t>(e) : std::bit_cast<int32_t>(1.f);
  return std::bit_cast<float>(num) / (1.f + e);
}

inline void forward_span(const float* gate, const float* up, float* out, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) out[i] = gate[i] * sigmoid(gate[i]) * up[i];
}

inline void backward_span(const float* gate, const float* up, const float* dout, float* dgate,
                          float* dup, int64_t n) {
#pragma omp simd
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

// Rows are split into kSpan-float spans so flat calls (one long row) parallelise too; the split
// changes nothing numerically (each element is independent).
void swiglu_forward(const float* gate, const float* up, float* out, int64_t rows, int64_t cols,
                    int64_t in_stride, int64_t out_stride) {
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
