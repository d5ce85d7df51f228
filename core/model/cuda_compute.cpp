// CudaCompute: the Compute of one CUDA device (kernels/engine_cuda.h and the transformer
// kernels of kernels/cuda/transformer_cuda.h on one stream).
#ifdef RETORT_HAVE_CUDA
#include "core/model/cuda_compute.h"

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <fmt/format.h>

#include <vector>

#include "core/base/cuda_check.h"
#include "core/base/error.h"
#include "core/model/kd_staging.h"
#include "kernels/cuda/cublas_check.h"
#include "kernels/cuda/linear_invariant_cuda.h"
#include "kernels/cuda/transformer_cuda.h"
#include "kernels/engine_cuda.h"

namespace retort::core {
namespace {

// Device scratch that grows to the largest request (dropout keys, labels).
class Scratch {
 public:
  ~Scratch() {
    if (ptr_) cudaFree(ptr_);
  }
  void* upload(const void* host, size_t bytes, cudaStream_t s) {
    if (bytes > capacity_) {
      RETORT_CUDA_CHECK(cudaStreamSynchronize(s));  // the old buffer may still be read
      if (ptr_) RETORT_CUDA_CHECK(cudaFree(ptr_));
      ptr_ = nullptr;
      RETORT_CUDA_CHECK(cudaMalloc(&ptr_, bytes));
      capacity_ = bytes;
    }
    RETORT_CUDA_CHECK(cudaMemcpyAsync(ptr_, host, bytes, cudaMemcpyHostToDevice, s));
    // The host buffer is reused by the caller right away, and the next upload overwrites this
    // one: wait until the copy has landed (rows x 8 bytes, a few microseconds).
    RETORT_CUDA_CHECK(cudaStreamSynchronize(s));
    return ptr_;
  }

 private:
  void* ptr_ = nullptr;
  size_t capacity_ = 0;
};

class CudaCompute final : public Compute {
 public:
  CudaCompute(int device, bool batch_invariant) : device_(device), batch_invariant_(batch_invariant) {
    int count = 0;
    RETORT_CUDA_CHECK(cudaGetDeviceCount(&count));
    if (device < 0 || device >= count)
      RETORT_RUNTIME_ERROR(fmt::format("CUDA device {} does not exist ({} visible)", device, count));
    RETORT_CUDA_CHECK(cudaSetDevice(device));
    RETORT_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    cublas_ = std::make_unique<kernels::CublasHandle>(stream_);
    kd_staging_ = std::make_unique<KdStaging>(*this);
  }
  ~CudaCompute() override {
    kd_staging_.reset();  // frees device memory through release(), which needs the stream
    cublas_.reset();
    if (stream_) cudaStreamDestroy(stream_);
  }

  Device device() const override { return Device::cuda; }
  std::string name() const override {
    return fmt::format("cuda:{}{}", device_, batch_invariant_ ? " (batch-invariant)" : "");
  }
  bool host_memory() const override { return false; }
  void* stream() const override { return stream_; }

  void* allocate(size_t bytes) override {
    if (bytes == 0) return nullptr;
    void* p = nullptr;
    RETORT_CUDA_CHECK(cudaMalloc(&p, bytes));
    RETORT_CUDA_CHECK(cudaMemsetAsync(p, 0, bytes, stream_));
    RETORT_CUDA_CHECK(cudaStreamSynchronize(stream_));
    return p;
  }
  void release(void* p) noexcept override {
    // Kernels still queued may use p: let them finish first (errors here cannot be thrown).
    cudaStreamSynchronize(stream_);
    cudaFree(p);
  }
  void upload(void* dst, const void* host_src, size_t bytes) override {
    if (!bytes) return;
    RETORT_CUDA_CHECK(cudaMemcpyAsync(dst, host_src, bytes, cudaMemcpyHostToDevice, stream_));
    RETORT_CUDA_CHECK(cudaStreamSynchronize(stream_));
  }
  void download(void* host_dst, const void* src, size_t bytes) override {
    if (!bytes) return;
    RETORT_CUDA_CHECK(cudaMemcpyAsync(host_dst, src, bytes, cudaMemcpyDeviceToHost, stream_));
    RETORT_CUDA_CHECK(cudaStreamSynchronize(stream_));
  }
  void copy(void* dst, const void* src, size_t bytes) override {
    if (bytes && dst != src) RETORT_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream_));
  }
  void zero(void* p, size_t bytes) override {
    if (bytes) RETORT_CUDA_CHECK(cudaMemsetAsync(p, 0, bytes, stream_));
  }
  void synchronize() override { RETORT_CUDA_CHECK(cudaStreamSynchronize(stream_)); }

  void linear_forward(const float* x, const float* w, const float* b, float* y, int64_t rows, int64_t in,
                      int64_t out, bool batch_invariant) override {
    if (batch_invariant || batch_invariant_)
      kernels::linear_forward_batch_invariant_cuda(x, w, b, y, rows, in, out, stream_);
    else kernels::linear_forward_cuda(*cublas_, x, w, b, y, rows, in, out, stream_);
  }
  void linear_backward(const float* x, const float* w, const float* dy, float* dx, float* dw, float* db,
                       int64_t rows, int64_t in, int64_t out) override {
    kernels::linear_backward_cuda(*cublas_, x, w, dy, dx, dw, db, rows, in, out, stream_);
  }
  void activation_forward(kernels::Activation act, const float* x, float* y, int64_t n) override {
    kernels::bias_act_forward_cuda(x, y, nullptr, 1, n, act, stream_);
  }
  void activation_backward(kernels::Activation act, const float* x, const float* y, const float* dy, float* dx,
                           int64_t n) override {
    kernels::activation_backward_cuda(act, x, y, dy, dx, n, stream_);
  }
  void dropout_forward(const float* x, float* y, const uint64_t* host_keys, int64_t rows, int64_t cols,
                       double p) override {
    kernels::dropout_cuda(x, y, upload_keys(host_keys, rows), rows, cols, p, stream_);
  }
  void dropout_backward(const float* dy, float* dx, const uint64_t* host_keys, int64_t rows, int64_t cols,
                        double p) override {
    kernels::dropout_cuda(dy, dx, upload_keys(host_keys, rows), rows, cols, p, stream_);  // the same mask
  }
  void max_norm_rows(float* w, int64_t rows, int64_t cols, float max_norm) override {
    kernels::max_norm_rows_cuda(w, rows, cols, max_norm, stream_);
  }
  bool batch_invariant() const override { return batch_invariant_; }
  // Every transformer op runs on the device (attention needs head_dim <= 128: a runtime error
  // naming it otherwise).
  bool supports(ComputeOp) const override { return true; }
  void embedding_forward(const EmbeddingOp& op) override {
    kernels::embedding_forward_cuda(op.tokens, op.n, op.table, op.vocab, op.dim, op.out, stream_);
  }
  void embedding_backward(const EmbeddingOp& op) override {
    kernels::embedding_backward_cuda(op.tokens, op.n, op.dout, op.vocab, op.dim, op.dtable, stream_);
  }
  void rmsnorm_forward(const RmsNormOp& op) override {
    kernels::rmsnorm_forward_cuda(op.x, op.w, op.y, op.rstd, op.rows, op.dim, op.eps, stream_);
  }
  void rmsnorm_backward(const RmsNormOp& op) override {
    kernels::rmsnorm_backward_cuda(op.x, op.w, op.rstd, op.dy, op.dx, op.dw, op.rows, op.dim, stream_);
  }
  void rope_forward(const RopeOp& op) override { kernels::rope_forward_cuda(op.x, op.positions, op.params, stream_); }
  void rope_backward(const RopeOp& op) override {
    kernels::rope_backward_cuda(op.x, op.positions, op.params, stream_);
  }
  void attention_forward(const AttentionOp& op) override {
    kernels::attention_forward_cuda(op.q, op.k, op.v, op.out, op.lse, op.shape, stream_);
  }
  void attention_backward(const AttentionOp& op) override {
    kernels::attention_backward_cuda(op.q, op.k, op.v, op.out, op.lse, op.dout, op.dq, op.dk, op.dv, op.shape,
                                     stream_);
  }
  void swiglu_forward(const SwigluOp& op) override {
    kernels::swiglu_forward_cuda(op.gate, op.up, op.out, 1, op.n, op.n, op.n, stream_);
  }
  void swiglu_backward(const SwigluOp& op) override {
    kernels::swiglu_backward_cuda(op.gate, op.up, op.dout, op.dgate, op.dup, 1, op.n, op.n, op.n, stream_);
  }
  void add_inplace(const AddOp& op) override { kernels::add_inplace_cuda(op.y, op.x, op.n, stream_); }
  kernels::XentResult softmax_xent(const float* logits, const int32_t* host_labels, float* dlogits, int64_t rows,
                                   int64_t classes, float grad_scale) override {
    const auto* labels = static_cast<const int32_t*>(
        labels_.upload(host_labels, static_cast<size_t>(rows) * sizeof(int32_t), stream_));
    return kernels::softmax_xent_cuda(logits, labels, dlogits, rows, classes, grad_scale, stream_);
  }
  kernels::KdLossResult kd_loss(const float* logits, const kernels::TeacherLogits& host_teacher,
                                const int32_t* host_labels, float* dlogits, int64_t rows, int64_t classes,
                                const kernels::KdLossParams& params, float grad_scale,
                                const kernels::KdLossMetrics& host_metrics) override {
    const TensorView z{const_cast<float*>(logits), DType::f32, rows, classes, Device::cuda};
    const TensorView dz{dlogits, DType::f32, rows, classes, Device::cuda};
    const kernels::TeacherLogits teacher = kd_staging_->upload_teacher(host_teacher);
    const int32_t* labels = kd_staging_->upload_labels(host_labels, rows);
    const kernels::KdLossMetrics metrics = kd_staging_->metrics(host_metrics, rows);
    const kernels::KdLossResult r = kernels::kd_loss(z, teacher, labels, dz, params, metrics, stream_);
    const int n = static_cast<int>(rows * classes);  // the student's logits of one step
    if (n > 0)
      RETORT_CUBLAS_CHECK(cublasSscal(static_cast<cublasHandle_t>(cublas_->get()), n, &grad_scale, dlogits, 1));
    kd_staging_->download_metrics(host_metrics, rows);
    return r;
  }
  double sum_squares(const float* g, int64_t n) override { return kernels::sum_squares_cuda(g, n, stream_); }
  void sgd_update(float* p, const float* g, float* m, int64_t n, float lr, float momentum, float weight_decay,
                  bool nesterov, float grad_scale) override {
    kernels::sgd_update_cuda(p, g, m, n, lr, momentum, weight_decay, nesterov, grad_scale, stream_);
  }
  void adamw_update(float* p, const float* g, float* m, float* v, int64_t n, float lr, float beta1, float beta2,
                    float eps, float weight_decay, int64_t t, float grad_scale) override {
    kernels::adamw_update_cuda(p, g, m, v, n, lr, beta1, beta2, eps, weight_decay, t, grad_scale, stream_);
  }

 private:
  const uint64_t* upload_keys(const uint64_t* host_keys, int64_t rows) {
    return static_cast<const uint64_t*>(keys_.upload(host_keys, static_cast<size_t>(rows) * sizeof(uint64_t), stream_));
  }

  int device_;
  bool batch_invariant_;
  cudaStream_t stream_ = nullptr;
  std::unique_ptr<kernels::CublasHandle> cublas_;
  Scratch keys_, labels_;
  std::unique_ptr<KdStaging> kd_staging_;
};

}  // namespace

std::shared_ptr<Compute> make_cuda_compute(int device, bool batch_invariant) {
  return std::make_shared<CudaCompute>(device, batch_invariant);
}

}  // namespace retort::core
#endif
