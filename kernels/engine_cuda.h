// CUDA entry points of the engine kernels (device pointers, work enqueued on `stream`, a
// cudaStream_t). Same math as the CPU contracts in activation.h, dropout.h, softmax_xent.h,
// max_norm.h and optim.h; GEMMs go to cuBLAS. Available when RETORT_HAVE_CUDA is defined.
#pragma once
#include <cstdint>

#include "kernels/activation.h"
#include "kernels/softmax_xent.h"

namespace retort::kernels {

// y[rows, cols] = act(y + b) (b may be null); pre[rows, cols] gets y + b when not null.
void bias_act_forward_cuda(float* y, const float* b, float* pre, int64_t rows, int64_t cols, Activation act,
                           void* stream);
void activation_backward_cuda(Activation act, const float* x, const float* y, const float* dy, float* dx, int64_t n,
                              void* stream);
// keys[rows] (device) are row_key() values.
void dropout_cuda(const float* in, float* out, const uint64_t* keys, int64_t rows, int64_t cols, double p,
                  void* stream);
// db[cols] += Σ_rows dy[rows, cols].
void bias_grad_cuda(const float* dy, float* db, int64_t rows, int64_t cols, void* stream);
// Synchronises the stream to return the sums.
XentResult softmax_xent_cuda(const float* logits, const int32_t* labels, float* dlogits, int64_t rows,
                             int64_t classes, float grad_scale, void* stream);
void max_norm_rows_cuda(float* w, int64_t rows, int64_t cols, float max_norm, void* stream);
void sgd_update_cuda(float* p, const float* g, float* m, int64_t n, float lr, float momentum, float weight_decay,
                     bool nesterov, float grad_scale, void* stream);
void adamw_update_cuda(float* p, const float* g, float* m, float* v, int64_t n, float lr, float beta1, float beta2,
                       float eps, float weight_decay, int64_t t, float grad_scale, void* stream);
// Deterministic (fixed chunking and order); synchronises the stream.
double sum_squares_cuda(const float* g, int64_t n, void* stream);

}  // namespace retort::kernels
