// The CPU Compute: host memory and the kernels of kernels/cpu (Eigen GEMMs, OpenMP loops),
// exactly the calls the layers made before the dispatch point existed.
#pragma once
#include "core/model/compute.h"

namespace retort::core {

class CpuCompute : public Compute {
 public:
  // batch_invariant: every linear_forward uses kernels/linear_invariant.h (see Compute).
  explicit CpuCompute(bool batch_invariant = false) : batch_invariant_(batch_invariant) {}
  Device device() const override { return Device::cpu; }
  std::string name() const override { return batch_invariant_ ? "cpu (batch-invariant)" : "cpu"; }
  bool host_memory() const override { return true; }
  void* stream() const override { return nullptr; }

  void* allocate(size_t bytes) override;
  void release(void* p) noexcept override;
  void upload(void* dst, const void* host_src, size_t bytes) override;
  void download(void* host_dst, const void* src, size_t bytes) override;
  void copy(void* dst, const void* src, size_t bytes) override;
  void zero(void* p, size_t bytes) override;
  void synchronize() override {}

  void linear_forward(const float* x, const float* w, const float* b, float* y, int64_t rows, int64_t in,
                      int64_t out, bool batch_invariant) override;
  void linear_backward(const float* x, const float* w, const float* dy, float* dx, float* dw, float* db,
                       int64_t rows, int64_t in, int64_t out) override;
  void activation_forward(kernels::Activation act, const float* x, float* y, int64_t n) override;
  void activation_backward(kernels::Activation act, const float* x, const float* y, const float* dy, float* dx,
                           int64_t n) override;
  void dropout_forward(const float* x, float* y, const uint64_t* host_keys, int64_t rows, int64_t cols,
                       double p) override;
  void dropout_backward(const float* dy, float* dx, const uint64_t* host_keys, int64_t rows, int64_t cols,
                        double p) override;
  void max_norm_rows(float* w, int64_t rows, int64_t cols, float max_norm) override;
  bool batch_invariant() const override { return batch_invariant_; }
  bool supports(ComputeOp) const override { return true; }
  void embedding_forward(const EmbeddingOp& op) override;
  void embedding_backward(const EmbeddingOp& op) override;
  void rmsnorm_forward(const RmsNormOp& op) override;
  void rmsnorm_backward(const RmsNormOp& op) override;
  void rope_forward(const RopeOp& op) override;
  void rope_backward(const RopeOp& op) override;
  void attention_forward(const AttentionOp& op) override;
  void attention_backward(const AttentionOp& op) override;
  void swiglu_forward(const SwigluOp& op) override;
  void swiglu_backward(const SwigluOp& op) override;
  void add_inplace(const AddOp& op) override;
  kernels::XentResult softmax_xent(const float* logits, const int32_t* host_labels, float* dlogits, int64_t rows,
                                   int64_t classes, float grad_scale) override;
  kernels::TokenXentResult token_xent(const float* logits, const int32_t* host_labels, int32_t ignore_index,
                                      float* dlogits, int64_t rows, int64_t vocab, float grad_scale,
                                      double* host_row_nll) override;
  kernels::KdLossResult kd_loss(const float* logits, const kernels::TeacherLogits& host_teacher,
                                const int32_t* host_labels, float* dlogits, int64_t rows, int64_t classes,
                                const kernels::KdLossParams& params, float grad_scale,
                                const kernels::KdLossMetrics& host_metrics) override;
  double sum_squares(const float* g, int64_t n) override;
  void sgd_update(float* p, const float* g, float* m, int64_t n, float lr, float momentum, float weight_decay,
                  bool nesterov, float grad_scale) override;
  void adamw_update(float* p, const float* g, float* m, float* v, int64_t n, float lr, float beta1, float beta2,
                    float eps, float weight_decay, int64_t t, float grad_scale) override;

 private:
  bool batch_invariant_ = false;
};

}  // namespace retort::core
