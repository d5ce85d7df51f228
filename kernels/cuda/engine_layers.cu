// The engine's CUDA entry points (kernels/engine_cuda.h): thin wrappers that enqueue the kernels
// of engine_layers.cuh; the two reductions allocate their scratch on the stream.
#include <cuda_runtime.h>

#include <vector>

#include "core/base/cuda_check.h"
#include "kernels/cuda/engine_layers.cuh"
#include "kernels/engine_cuda.h"

namespace retort::kernels {
namespace {
cudaStream_t as_stream(void* s) { return static_cast<cudaStream_t>(s); }
}  // namespace

void bias_act_forward_cuda(const float* x, float* y, const float* b, int64_t rows, int64_t cols, Activation act,
                           void* stream) {
  gpu::enqueue_bias_act(x, y, b, rows, cols, act, as_stream(stream));
}

void bias_add_cuda(const float* x, float* y, const float* b, int64_t rows, int64_t cols, void* stream) {
  gpu::enqueue_bias_add(x, y, b, rows, cols, as_stream(stream));
}

void activation_backward_cuda(Activation act, const float* x, const float* y, const float* dy, float* dx, int64_t n,
                              void* stream) {
  gpu::enqueue_act_backward(act, x, y, dy, dx, n, as_stream(stream));
}

void dropout_cuda(const float* in, float* out, const uint64_t* keys, int64_t rows, int64_t cols, double p,
                  void* stream) {
  gpu::enqueue_dropout(in, out, keys, rows, cols, p, as_stream(stream));
}

void bias_grad_cuda(const float* dy, float* db, int64_t rows, int64_t cols, void* stream) {
  gpu::enqueue_bias_grad(dy, db, rows, cols, as_stream(stream));
}

XentResult softmax_xent_cuda(const float* logits, const int32_t* labels, float* dlogits, int64_t rows,
                             int64_t classes, float grad_scale, void* stream) {
  const cudaStream_t s = as_stream(stream);
  void* scratch = nullptr;
  const size_t bytes = static_cast<size_t>(rows) * (sizeof(double) + sizeof(int32_t));
  RETORT_CUDA_CHECK(cudaMallocAsync(&scratch, bytes, s));
  auto* loss = static_cast<double*>(scratch);
  auto* correct = reinterpret_cast<int32_t*>(loss + rows);
  std::vector<double> host_loss(static_cast<size_t>(rows));
  std::vector<int32_t> host_correct(static_cast<size_t>(rows));
  gpu::enqueue_softmax_xent(logits, labels, dlogits, loss, correct, rows, classes, grad_scale, s);
  RETORT_CUDA_CHECK(cudaMemcpyAsync(host_loss.data(), loss, rows * sizeof(double), cudaMemcpyDeviceToHost, s));
  RETORT_CUDA_CHECK(cudaMemcpyAsync(host_correct.data(), correct, rows * sizeof(int32_t), cudaMemcpyDeviceToHost, s));
  RETORT_CUDA_CHECK(cudaFreeAsync(scratch, s));
  RETORT_CUDA_CHECK(cudaStreamSynchronize(s));
  XentResult r;
  for (int64_t i = 0; i < rows; ++i) {
    r.loss_sum += host_loss[i];
    r.correct += host_correct[i];
  }
  return r;
}

void max_norm_rows_cuda(float* w, int64_t rows, int64_t cols, float max_norm, void* stream) {
  gpu::enqueue_max_norm(w, rows, cols, max_norm, as_stream(stream));
}

void sgd_update_cuda(float* p, const float* g, float* m, int64_t n, float lr, float momentum, float weight_decay,
                     bool nesterov, float grad_scale, void* stream) {
  gpu::enqueue_sgd(p, g, m, n, lr, momentum, weight_decay, nesterov, grad_scale, as_stream(stream));
}

void adamw_update_cuda(float* p, const float* g, float* m, float* v, int64_t n, float lr, float beta1, float beta2,
                       float eps, float weight_decay, int64_t t, float grad_scale, void* stream) {
  gpu::enqueue_adamw(p, g, m, v, n, lr, beta1, beta2, eps, weight_decay, t, grad_scale, as_stream(stream));
}

double sum_squares_cuda(const float* g, int64_t n, void* stream) {
  const cudaStream_t s = as_stream(stream);
  void* scratch = nullptr;
  const size_t bytes = static_cast<size_t>(gpu::sum_squares_chunks(n) + 1) * sizeof(double);
  RETORT_CUDA_CHECK(cudaMallocAsync(&scratch, bytes, s));
  auto* partial = static_cast<double*>(scratch);
  double* out = partial + gpu::sum_squares_chunks(n);
  double total = 0;
  gpu::enqueue_sum_squares(g, n, partial, out, s);
  RETORT_CUDA_CHECK(cudaMemcpyAsync(&total, out, sizeof(double), cudaMemcpyDeviceToHost, s));
  RETORT_CUDA_CHECK(cudaFreeAsync(scratch, s));
  RETORT_CUDA_CHECK(cudaStreamSynchronize(s));
  return total;
}

}  // namespace retort::kernels
