// Device kernels of the training engine (compiled by nvcc in engine_layers.cu and by g++ under
// the SIMT emulator in tests): bias + activation, activation backward, counter-based dropout
// (the exact mask of kernels/dropout.h), bias-gradient reduction, softmax-CE, max-norm, fused
// SGD/AdamW and a deterministic two-stage sum of squares. Each mirrors a kernels/*.h contract.
#pragma once
#include <cmath>
#include <cstdint>

#include "kernels/activation.h"
#include "kernels/cuda/device_utils.cuh"
#include "kernels/dropout.h"

namespace retort::kernels::gpu {

constexpr int kThreads = 256;
constexpr int64_t kSumChunk = 4096;  // elements per partial of sum_squares (as on the CPU)

inline unsigned grid_for(int64_t n) {
  const int64_t blocks = (n + kThreads - 1) / kThreads;
  return static_cast<unsigned>(blocks < 1 ? 1 : (blocks > 8192 ? 8192 : blocks));
}

__device__ __forceinline__ float gelu_tanh(float v) {
  return 0.5f * v * (1.f + tanhf(0.7978845608028654f * (v + 0.044715f * v * v * v)));
}
__device__ __forceinline__ float gelu_tanh_grad(float v) {
  const float t = tanhf(0.7978845608028654f * (v + 0.044715f * v * v * v));
  const float dt = 0.7978845608028654f * (1.f + 3.f * 0.044715f * v * v) * (1.f - t * t);
  return 0.5f * (1.f + t) + 0.5f * v * dt;
}

// Activation codes of bias_act_kernel: kernels::Activation's relu (0) and gelu (1), or none.
constexpr int kActNone = 2;

// y[rows, cols] = act(x + b[cols]) with b optional (null) and act relu | gelu | none; x and y may
// alias (the in-place epilogue of a cuBLAS GEMM). Grid-stride over elements.
static __global__ void bias_act_kernel(const float* x, float* y, const float* b, int64_t rows, int64_t cols, int act) {
  const int64_t n = rows * cols;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x) {
    const float v = x[i] + (b ? b[i % cols] : 0.f);
    y[i] = act == kActNone ? v : act == 0 ? (v > 0.f ? v : 0.f) : gelu_tanh(v);
  }
}

// dx[n] = dy[n] · act'(x or y): relu reads the output y, gelu the pre-activation x.
static __global__ void act_backward_kernel(const float* x, const float* y, const float* dy, float* dx, int64_t n, int act) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x)
    dx[i] = act == 0 ? (y[i] > 0.f ? dy[i] : 0.f) : dy[i] * gelu_tanh_grad(x[i]);
}

// out[rows, cols] = in · keep / (1 − p) with keep = uniform_u32(keys[r], c) >= threshold.
static __global__ void dropout_kernel(const float* in, float* out, const uint64_t* keys, int64_t rows, int64_t cols,
                               uint32_t threshold, float scale) {
  const int64_t n = rows * cols;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t r = i / cols, c = i % cols;
    out[i] = uniform_u32(keys[r], static_cast<uint64_t>(c)) >= threshold ? in[i] * scale : 0.f;
  }
}

// db[cols] += Σ_r dy[r, c]: one thread per column, rows summed in order (deterministic).
static __global__ void bias_grad_kernel(const float* dy, float* db, int64_t rows, int64_t cols) {
  const int64_t c = blockIdx.x * int64_t{blockDim.x} + threadIdx.x;
  if (c >= cols) return;
  float s = 0.f;
  for (int64_t r = 0; r < rows; ++r) s += dy[r * cols + c];
  db[c] += s;
}

// One thread per row of z[rows, classes]: row_loss[r] = lse − z_y (float64), row_correct[r] =
// (first argmax == y), dz = (softmax − onehot)·grad_scale when dz is not null.
static __global__ void softmax_xent_kernel(const float* z, const int32_t* labels, float* dz, double* row_loss,
                                    int32_t* row_correct, int64_t rows, int64_t classes, float grad_scale) {
  const int64_t r = blockIdx.x * int64_t{blockDim.x} + threadIdx.x;
  if (r >= rows) return;
  const float* zr = z + r * classes;
  int64_t arg = 0;
  for (int64_t c = 1; c < classes; ++c)
    if (zr[c] > zr[arg]) arg = c;
  const double zmax = zr[arg];
  double sum = 0;
  for (int64_t c = 0; c < classes; ++c) sum += exp(static_cast<double>(zr[c]) - zmax);
  const int32_t y = labels[r];
  row_loss[r] = log(sum) + zmax - static_cast<double>(zr[y]);
  row_correct[r] = arg == y;
  if (dz) {
    const double inv = 1.0 / sum;
    for (int64_t c = 0; c < classes; ++c)
      dz[r * classes + c] =
          static_cast<float>((exp(static_cast<double>(zr[c]) - zmax) * inv - (c == y ? 1.0 : 0.0)) * grad_scale);
  }
}

// One block per row of w[rows, cols]: rows with L2 norm > max_norm are rescaled to max_norm.
static __global__ void max_norm_kernel(float* w, int64_t rows, int64_t cols, float max_norm) {
  __shared__ double scratch[32];
  float* row = w + blockIdx.x * cols;
  double sq = 0;
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) sq += static_cast<double>(row[c]) * row[c];
  sq = block_allreduce(sq, SumOp{}, 0.0, scratch);
  const double norm = sqrt(sq);
  if (norm <= max_norm) return;
  const float s = static_cast<float>(max_norm / norm);
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) row[c] *= s;
  (void)rows;
}

// The fused SGD update of kernels/optim.h (m may be null when momentum == 0).
static __global__ void sgd_kernel(float* p, const float* g, float* m, int64_t n, float lr, float momentum, float wd,
                           int nesterov, float grad_scale) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x) {
    const float gi = grad_scale * g[i] + wd * p[i];
    if (momentum == 0.f) {
      p[i] -= lr * gi;
      continue;
    }
    const float mi = momentum * m[i] + gi;
    m[i] = mi;
    p[i] -= lr * (nesterov ? gi + momentum * mi : mi);
  }
}

// The fused AdamW update; step = lr/(1−β1^t), inv_sqrt_bc2 = 1/sqrt(1−β2^t), decay = 1 − lr·wd.
static __global__ void adamw_kernel(float* p, const float* g, float* m, float* v, int64_t n, float step, float beta1,
                             float beta2, float eps, float decay, float inv_sqrt_bc2, float grad_scale) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x) {
    const float gi = grad_scale * g[i];
    const float mi = beta1 * m[i] + (1.f - beta1) * gi;
    const float vi = beta2 * v[i] + (1.f - beta2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    p[i] = p[i] * decay - step * mi / (sqrtf(vi) * inv_sqrt_bc2 + eps);
  }
}

// Stage 1 of sum_squares: block b sums chunk b (kSumChunk elements) in float64, each thread a
// fixed strided subset, then a fixed-shape block reduction: the same bits on every run.
static __global__ void sum_squares_partial_kernel(const float* g, int64_t n, double* partial) {
  __shared__ double scratch[32];
  const int64_t begin = blockIdx.x * kSumChunk;
  const int64_t end = begin + kSumChunk < n ? begin + kSumChunk : n;
  double s = 0;
  for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) s += static_cast<double>(g[i]) * g[i];
  s = block_allreduce(s, SumOp{}, 0.0, scratch);
  if (threadIdx.x == 0) partial[blockIdx.x] = s;
}

// Stage 2: one thread adds the partials in chunk order.
static __global__ void sum_partials_kernel(const double* partial, int64_t count, double* out) {
  if (threadIdx.x != 0 || blockIdx.x != 0) return;
  double s = 0;
  for (int64_t i = 0; i < count; ++i) s += partial[i];
  *out = s;
}

// ---- enqueue helpers (host side; the same for the device and the emulator) ------------------
inline int act_code(Activation a) { return a == Activation::relu ? 0 : 1; }
inline int64_t sum_squares_chunks(int64_t n) { return (n + kSumChunk - 1) / kSumChunk; }

inline void enqueue_bias_act(const float* x, float* y, const float* b, int64_t rows, int64_t cols, Activation act,
                             Stream s) {
  launch(bias_act_kernel, dim3(grid_for(rows * cols)), dim3(kThreads), 0, s, x, y, b, rows, cols, act_code(act));
}
inline void enqueue_bias_add(const float* x, float* y, const float* b, int64_t rows, int64_t cols, Stream s) {
  launch(bias_act_kernel, dim3(grid_for(rows * cols)), dim3(kThreads), 0, s, x, y, b, rows, cols, kActNone);
}
inline void enqueue_act_backward(Activation act, const float* x, const float* y, const float* dy, float* dx,
                                 int64_t n, Stream s) {
  launch(act_backward_kernel, dim3(grid_for(n)), dim3(kThreads), 0, s, x, y, dy, dx, n, act_code(act));
}
inline void enqueue_dropout(const float* in, float* out, const uint64_t* keys, int64_t rows, int64_t cols, double p,
                            Stream s) {
  launch(dropout_kernel, dim3(grid_for(rows * cols)), dim3(kThreads), 0, s, in, out, keys, rows, cols,
         dropout_threshold(p), static_cast<float>(1.0 / (1.0 - p)));
}
inline void enqueue_bias_grad(const float* dy, float* db, int64_t rows, int64_t cols, Stream s) {
  launch(bias_grad_kernel, dim3(static_cast<unsigned>((cols + kThreads - 1) / kThreads)), dim3(kThreads), 0, s, dy,
         db, rows, cols);
}
inline void enqueue_softmax_xent(const float* z, const int32_t* labels, float* dz, double* row_loss,
                                 int32_t* row_correct, int64_t rows, int64_t classes, float grad_scale, Stream s) {
  launch(softmax_xent_kernel, dim3(static_cast<unsigned>((rows + kThreads - 1) / kThreads)), dim3(kThreads), 0, s,
         z, labels, dz, row_loss, row_correct, rows, classes, grad_scale);
}
inline void enqueue_max_norm(float* w, int64_t rows, int64_t cols, float max_norm, Stream s) {
  launch(max_norm_kernel, dim3(static_cast<unsigned>(rows)), dim3(kThreads), 0, s, w, rows, cols, max_norm);
}
inline void enqueue_sgd(float* p, const float* g, float* m, int64_t n, float lr, float momentum, float wd,
                        bool nesterov, float grad_scale, Stream s) {
  launch(sgd_kernel, dim3(grid_for(n)), dim3(kThreads), 0, s, p, g, m, n, lr, momentum, wd, nesterov ? 1 : 0,
         grad_scale);
}
inline void enqueue_adamw(float* p, const float* g, float* m, float* v, int64_t n, float lr, float beta1, float beta2,
                          float eps, float wd, int64_t t, float grad_scale, Stream s) {
  const double bc1 = 1.0 - std::pow(static_cast<double>(beta1), static_cast<double>(t));
  const double bc2 = 1.0 - std::pow(static_cast<double>(beta2), static_cast<double>(t));
  launch(adamw_kernel, dim3(grid_for(n)), dim3(kThreads), 0, s, p, g, m, v, n, static_cast<float>(lr / bc1), beta1,
         beta2, eps, 1.f - lr * wd, static_cast<float>(1.0 / std::sqrt(bc2)), grad_scale);
}
// partial[sum_squares_chunks(n)] and out[1] are device memory.
inline void enqueue_sum_squares(const float* g, int64_t n, double* partial, double* out, Stream s) {
  const int64_t chunks = sum_squares_chunks(n);
  if (chunks > 0)
    launch(sum_squares_partial_kernel, dim3(static_cast<unsigned>(chunks)), dim3(kThreads), 0, s, g, n, partial);
  launch(sum_partials_kernel, dim3(1), dim3(32), 0, s, partial, chunks, out);
}

}  // namespace retort::kernels::gpu
