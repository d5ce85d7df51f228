// The transformer's CUDA entry points (kernels/cuda/transformer_cuda.h): thin wrappers that
// enqueue the kernels of transformer_pointwise.cuh and transformer_attention.cuh; the embedding
// pair reads back its id check, RMSNorm backward allocates its partial sums on the stream.
#include <cuda_runtime.h>

#include <string>

#include "core/base/cuda_check.h"
#include "core/base/error.h"
#include "kernels/cuda/transformer_attention.cuh"
#include "kernels/cuda/transformer_cuda.h"
#include "kernels/cuda/transformer_pointwise.cuh"

namespace retort::kernels {
namespace {
cudaStream_t as_stream(void* s) { return static_cast<cudaStream_t>(s); }

// Runs the id check of tokens[n] and throws an input error naming the first id outside
// [0, vocab) and its position (synchronises the stream).
void check_ids_on_device(const int32_t* tokens, int64_t n, int64_t vocab, cudaStream_t s) {
  if (n <= 0) return;
  unsigned long long* bad = nullptr;
  RETORT_CUDA_CHECK(cudaMallocAsync(reinterpret_cast<void**>(&bad), sizeof(unsigned long long), s));
  RETORT_CUDA_CHECK(cudaMemsetAsync(bad, 0, sizeof(unsigned long long), s));
  gpu::enqueue_check_ids(tokens, n, vocab, bad, s);
  unsigned long long host_bad = 0;
  RETORT_CUDA_CHECK(cudaMemcpyAsync(&host_bad, bad, sizeof(host_bad), cudaMemcpyDeviceToHost, s));
  RETORT_CUDA_CHECK(cudaFreeAsync(bad, s));
  RETORT_CUDA_CHECK(cudaStreamSynchronize(s));
  if (host_bad == 0) return;
  const int64_t position = n - static_cast<int64_t>(host_bad);
  int32_t id = 0;
  RETORT_CUDA_CHECK(cudaMemcpyAsync(&id, tokens + position, sizeof(id), cudaMemcpyDeviceToHost, s));
  RETORT_CUDA_CHECK(cudaStreamSynchronize(s));
  RETORT_INPUT_ERROR("token id " + std::to_string(id) + " at position " + std::to_string(position) +
                     " is outside the vocabulary [0, " + std::to_string(vocab) + ")");
}
}  // namespace

void embedding_forward_cuda(const int32_t* tokens, int64_t n, const float* table, int64_t vocab, int64_t dim,
                            float* out, void* stream) {
  check_ids_on_device(tokens, n, vocab, as_stream(stream));
  gpu::enqueue_embedding_forward(tokens, n, table, vocab, dim, out, as_stream(stream));
}

void embedding_backward_cuda(const int32_t* tokens, int64_t n, const float* dout, int64_t vocab, int64_t dim,
                             float* dtable, void* stream) {
  check_ids_on_device(tokens, n, vocab, as_stream(stream));
  gpu::enqueue_embedding_backward(tokens, n, dout, vocab, dim, dtable, as_stream(stream));
}

void rmsnorm_forward_cuda(const float* x, const float* w, float* y, float* rstd, int64_t rows, int64_t dim, float eps,
                          void* stream) {
  gpu::enqueue_rmsnorm_forward(x, w, y, rstd, rows, dim, eps, as_stream(stream));
}

void rmsnorm_backward_cuda(const float* x, const float* w, const float* rstd, const float* dy, float* dx, float* dw,
                           int64_t rows, int64_t dim, void* stream) {
  if (rows <= 0 || dim <= 0) return;
  const cudaStream_t s = as_stream(stream);
  float* partial = nullptr;
  const size_t bytes = sizeof(float) * static_cast<size_t>(gpu::rmsnorm_backward_scratch(rows, dim));
  RETORT_CUDA_CHECK(cudaMallocAsync(reinterpret_cast<void**>(&partial), bytes, s));
  gpu::enqueue_rmsnorm_backward(x, w, rstd, dy, dx, dw, partial, rows, dim, s);
  RETORT_CUDA_CHECK(cudaFreeAsync(partial, s));
}

void rope_forward_cuda(float* x, const int32_t* positions, const RopeParams& p, void* stream) {
  gpu::enqueue_rope(x, positions, p, 1.f, as_stream(stream));
}

void rope_backward_cuda(float* dx, const int32_t* positions, const RopeParams& p, void* stream) {
  gpu::enqueue_rope(dx, positions, p, -1.f, as_stream(stream));
}

void attention_forward_cuda(const float* q, const float* k, const float* v, float* out, float* lse,
                            const AttentionShape& s, void* stream) {
  gpu::enqueue_attention_forward(q, k, v, out, lse, s, as_stream(stream));
}

void attention_backward_cuda(const float* q, const float* k, const float* v, const float* out, const float* lse,
                             const float* dout, float* dq, float* dk, float* dv, const AttentionShape& s,
                             void* stream) {
  gpu::enqueue_attention_backward(q, k, v, out, lse, dout, dq, dk, dv, s, as_stream(stream));
}

void swiglu_forward_cuda(const float* gate, const float* up, float* out, int64_t rows, int64_t cols,
                         int64_t in_stride, int64_t out_stride, void* stream) {
  gpu::enqueue_swiglu_forward(gate, up, out, rows, cols, in_stride, out_stride, as_stream(stream));
}

void swiglu_backward_cuda(const float* gate, const float* up, const float* dout, float* dgate, float* dup,
                          int64_t rows, int64_t cols, int64_t in_stride, int64_t out_stride, void* stream) {
  gpu::enqueue_swiglu_backward(gate, up, dout, dgate, dup, rows, cols, in_stride, out_stride, as_stream(stream));
}

void add_inplace_cuda(float* y, const float* x, int64_t n, void* stream) {
  gpu::enqueue_add_inplace(y, x, n, as_stream(stream));
}

}  // namespace retort::kernels
