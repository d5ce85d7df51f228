// CpuCompute: aligned host memory and one-line dispatch to the CPU kernels.
#include "core/model/cpu_compute.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>

#include "kernels/dropout.h"
#include "kernels/embedding.h"
#include "kernels/linear.h"
#include "kernels/linear_invariant.h"
#include "kernels/max_norm.h"
#include "kernels/optim.h"
#include "kernels/residual.h"
#include "kernels/rmsnorm.h"
#include "kernels/swiglu.h"

namespace retort::core {

void* CpuCompute::allocate(size_t bytes) {
  if (bytes == 0) return nullptr;
  const size_t rounded = (bytes + 63) / 64 * 64;
  void* p = std::aligned_alloc(64, rounded);
  if (!p) throw std::bad_alloc();
  std::memset(p, 0, rounded);
  return p;
}

void CpuCompute::release(void* p) noexcept { std::free(p); }

void CpuCompute::upload(void* dst, const void* host_src, size_t bytes) {
  if (bytes) std::memcpy(dst, host_src, bytes);
}
void CpuCompute::download(void* host_dst, const void* src, size_t bytes) {
  if (bytes) std::memcpy(host_dst, src, bytes);
}
void CpuCompute::copy(void* dst, const void* src, size_t bytes) {
  if (!bytes || dst == src) return;
  char* d = static_cast<char*>(dst);
  const char* s = static_cast<const char*>(src);
  constexpr size_t kPiece = size_t{64} << 10;  // disjoint copies of >= 1 MiB: pieces over the threads
  if (bytes < (size_t{1} << 20) || (d < s + bytes && s < d + bytes)) {
    std::memmove(dst, src, bytes);
    return;
  }
  const auto pieces = static_cast<int64_t>((bytes + kPiece - 1) / kPiece);
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < pieces; ++i) {
    const size_t offset = static_cast<size_t>(i) * kPiece;
    std::memcpy(d + offset, s + offset, std::min(kPiece, bytes - offset));
  }
}
void CpuCompute::zero(void* p, size_t bytes) {
  if (bytes) std::memset(p, 0, bytes);
}

void CpuCompute::linear_forward(const float* x, const float* w, const float* b, float* y, int64_t rows, int64_t in,
                                int64_t out, bool batch_invariant) {
  if (batch_invariant || batch_invariant_) kernels::linear_forward_batch_invariant(x, w, b, y, rows, in, out);
  else kernels::linear_forward(x, w, b, y, rows, in, out);
}
void CpuCompute::linear_backward(const float* x, const float* w, const float* dy, float* dx, float* dw, float* db,
                                 int64_t rows, int64_t in, int64_t out) {
  kernels::linear_backward(x, w, dy, dx, dw, db, rows, in, out);
}
void CpuCompute::activation_forward(kernels::Activation act, const float* x, float* y, int64_t n) {
  kernels::activation_forward(act, x, y, n);
}
void CpuCompute::activation_backward(kernels::Activation act, const float* x, const float* y, const float* dy,
                                     float* dx, int64_t n) {
  kernels::activation_backward(act, x, y, dy, dx, n);
}
void CpuCompute::dropout_forward(const float* x, float* y, const uint64_t* host_keys, int64_t rows, int64_t cols,
                                 double p) {
  kernels::dropout_forward(x, y, host_keys, rows, cols, p);
}
void CpuCompute::dropout_backward(const float* dy, float* dx, const uint64_t* host_keys, int64_t rows, int64_t cols,
                                  double p) {
  kernels::dropout_backward(dy, dx, host_keys, rows, cols, p);
}
void CpuCompute::max_norm_rows(float* w, int64_t rows, int64_t cols, float max_norm) {
  kernels::max_norm_rows(w, rows, cols, max_norm);
}
void CpuCompute::embedding_forward(const EmbeddingOp& op) {
  kernels::embedding_forward(op.tokens, op.n, op.table, op.vocab, op.dim, op.out);
}
void CpuCompute::embedding_backward(const EmbeddingOp& op) {
  kernels::embedding_backward(op.tokens, op.n, op.dout, op.vocab, op.dim, op.dtable);
}
void CpuCompute::rmsnorm_forward(const RmsNormOp& op) {
  kernels::rmsnorm_forward(op.x, op.w, op.y, op.rstd, op.rows, op.dim, op.eps);
}
void CpuCompute::rmsnorm_backward(const RmsNormOp& op) {
  kernels::rmsnorm_backward(op.x, op.w, op.rstd, op.dy, op.dx, op.dw, op.rows, op.dim);
}
void CpuCompute::rope_forward(const RopeOp& op) { kernels::rope_forward(op.x, op.positions, op.params); }
void CpuCompute::rope_backward(const RopeOp& op) { kernels::rope_backward(op.x, op.positions, op.params); }
void CpuCompute::attention_forward(const AttentionOp& op) {
  kernels::attention_forward(op.q, op.k, op.v, op.out, op.lse, op.shape);
}
void CpuCompute::attention_backward(const AttentionOp& op) {
  kernels::attention_backward(op.q, op.k, op.v, op.out, op.lse, op.dout, op.dq, op.dk, op.dv, op.shape);
}
void CpuCompute::swiglu_forward(const SwigluOp& op) { kernels::swiglu_forward(op.gate, op.up, op.out, op.n); }
void CpuCompute::swiglu_backward(const SwigluOp& op) {
  kernels::swiglu_backward(op.gate, op.up, op.dout, op.dgate, op.dup, op.n);
}
void CpuCompute::add_inplace(const AddOp& op) { kernels::add_inplace(op.y, op.x, op.n); }
kernels::XentResult CpuCompute::softmax_xent(const float* logits, const int32_t* host_labels, float* dlogits,
                                             int64_t rows, int64_t classes, float grad_scale) {
  return kernels::softmax_xent(logits, host_labels, dlogits, rows, classes, grad_scale);
}
kernels::TokenXentResult CpuCompute::token_xent(const float* logits, const int32_t* host_labels,
                                                int32_t ignore_index, float* dlogits, int64_t rows, int64_t vocab,
                                                float grad_scale, double* host_row_nll) {
  return kernels::token_xent(logits, host_labels, ignore_index, dlogits, rows, vocab, grad_scale, host_row_nll);
}
kernels::KdLossResult CpuCompute::kd_loss(const float* logits, const kernels::TeacherLogits& host_teacher,
                                          const int32_t* host_labels, float* dlogits, int64_t rows, int64_t classes,
                                          const kernels::KdLossParams& params, float grad_scale,
                                          const kernels::KdLossMetrics& host_metrics) {
  const TensorView z{const_cast<float*>(logits), DType::f32, rows, classes, Device::cpu};
  const TensorView dz{dlogits, DType::f32, rows, classes, Device::cpu};
  const kernels::KdLossResult r = kernels::kd_loss(z, host_teacher, host_labels, dz, params, host_metrics);
  if (grad_scale != 1.f) {
    const int64_t n = rows * classes;
#pragma omp parallel for simd schedule(static)
    for (int64_t i = 0; i < n; ++i) dlogits[i] *= grad_scale;
  }
  return r;
}
double CpuCompute::sum_squares(const float* g, int64_t n) { return kernels::sum_squares(g, n); }
void CpuCompute::sgd_update(float* p, const float* g, float* m, int64_t n, float lr, float momentum,
                            float weight_decay, bool nesterov, float grad_scale) {
  kernels::sgd_update(p, g, m, n, lr, momentum, weight_decay, nesterov, grad_scale);
}
void CpuCompute::adamw_update(float* p, const float* g, float* m, float* v, int64_t n, float lr, float beta1,
                              float beta2, float eps, float weight_decay, int64_t t, float grad_scale) {
  kernels::adamw_update(p, g, m, v, n, lr, beta1, beta2, eps, weight_decay, t, grad_scale);
}

std::shared_ptr<Compute> cpu_compute() {
  static const std::shared_ptr<Compute> instance = std::make_shared<CpuCompute>();
  return instance;
}
std::shared_ptr<Compute> cpu_compute_batch_invariant() {
  static const std::shared_ptr<Compute> instance = std::make_shared<CpuCompute>(true);
  return instance;
}

}  // namespace retort::core
