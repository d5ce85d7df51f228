// CUDA entry points of the engine kernels (device pointers, work enqueued on `stream`, a
// cudaStream_t). Same math as the CPU contracts in linear.h, activation.h, dropout.h,
// softmax_xent.h, max_norm.h and optim.h; GEMMs go to cuBLAS. Available when RETORT_HAVE_CUDA.
#pragma once
#include <cstdint>

#include "kernels/activation.h"
#include "kernels/softmax_xent.h"

namespace retort::kernels {

// y[rows, cols] = act(x + b) (b may be null; x and y may alias).
void bias_act_forward_cuda(const float* x, float* y, const float* b, int64_t rows, int64_t cols, Activation act,
                           void* stream);
// y[rows, cols] = x + b[cols] (x and y may alias): the bias epilogue of linear_forward_cuda.
void bias_add_cuda(const float* x, float* y, const float* b, int64_t rows, int64_t cols, void* stream);
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

// A cuBLAS handle bound to one stream, in pure fp32 math (no TF32), for the linear layers.
class CublasHandle {
 public:
  explicit CublasHandle(void* stream);
  ~CublasHandle();
  CublasHandle(const CublasHandle&) = delete;
  CublasHandle& operator=(const CublasHandle&) = delete;
  void* get() const { return handle_; }  // a cublasHandle_t

 private:
  void* handle_ = nullptr;
};

// The contract of kernels/linear.h on the device: one cuBLAS SGEMM plus the bias epilogue.
// x[rows, in], w[out, in], b[out] (may be null) -> y[rows, out] (overwritten).
void linear_forward_cuda(const CublasHandle& cublas, const float* x, const float* w, const float* b, float* y,
                         int64_t rows, int64_t in, int64_t out, void* stream);
// Accumulates dw[out, in] += dyᵀ·x and db[out] += Σ_rows dy (db may be null); dx[rows, in] = dy·w is
// overwritten (dx may be null). Two SGEMMs plus the bias-gradient kernel.
void linear_backward_cuda(const CublasHandle& cublas, const float* x, const float* w, const float* dy, float* dx,
                          float* dw, float* db, int64_t rows, int64_t in, int64_t out, void* stream);

}  // namespace retort::kernels
