// SwiGLU gate of the Llama MLP: out = silu(gate) · up, silu(x) = x / (1 + exp(−x)), and its
// backward. Elementwise, so batch-invariant by construction (no reductions at all).
#pragma once
#include <cstdint>

namespace retort::kernels {

// gate[n], up[n] -> out[n] (overwritten).
void swiglu_forward(const float* gate, const float* up, float* out, int64_t n);

// dgate = dout · up · σ(gate) · (1 + gate · (1 − σ(gate))), dup = dout · silu(gate) (overwritten).
void swiglu_backward(const float* gate, const float* up, const float* dout, float* dgate,
                     float* dup, int64_t n);

// Strided variants for gate and up living in one buffer (e.g. the two halves of a fused
// [rows, 2·cols] projection): element (r, c) of gate/up/dgate/dup is at r*in_stride + c, of
// out/dout at r*out_stride + c. Floats outside the [rows, cols] windows are not touched.
void swiglu_forward(const float* gate, const float* up, float* out, int64_t rows, int64_t cols,
                    int64_t in_stride, int64_t out_stride);
void swiglu_backward(const float* gate, const float* up, const float* dout, float* dgate,
                     float* dup, int64_t rows, int64_t cols, int64_t in_stride,
                     int64_t out_stride);

}  // namespace retort::kernels
