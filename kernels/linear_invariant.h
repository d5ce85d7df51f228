// Batch-invariant dense layer forward for teacher inference: y = x·Wᵀ + b where every output
// element is computed by the same fixed sequence of float operations whatever the number of
// rows, their position in the batch or the thread count, so a sample's logits are bitwise
// identical in a batch of 1, 7 or 128 (Eigen's GEMM blocking depends on the shape; this does not).
#pragma once
#include <cstdint>

namespace retort::kernels {

// x[rows, in], w[out, in] (row-major, PyTorch layout), b[out] (may be null) -> y[rows, out].
// Per element: 8 lane partial sums over k in order (k < in rounded down to 8; lane j holds
// k ≡ j mod 8, each step one fused multiply-add), the fixed lane reduction
// ((l0+l4)+(l2+l6)) + ((l1+l5)+(l3+l7)), the remaining k added in order (x·w rounded, then
// added), then the bias. CPU: register-tiled AVX2 FMA over L2 blocks of w, threaded over them.
void linear_forward_batch_invariant(const float* x, const float* w, const float* b, float* y,
                                    int64_t rows, int64_t in, int64_t out);

}  // namespace retort::kernels
