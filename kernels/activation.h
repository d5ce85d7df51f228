// Elementwise activations and their backward: relu, and gelu with the tanh approximation
//   gelu(x) = 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).
#pragma once
#include <cstdint>

namespace retort::kernels {

enum class Activation : uint8_t { relu = 0, gelu = 1 };

// y[n] = act(x[n]); x and y may alias.
void activation_forward(Activation act, const float* x, float* y, int64_t n);

// dx[n] = dy[n] · act'(x[n]) where x is the forward input and y the forward output (relu reads
// y, gelu reads x). dx and dy may alias.
void activation_backward(Activation act, const float* x, const float* y, const float* dy,
                         float* dx, int64_t n);

}  // namespace retort::kernels
