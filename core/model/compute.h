// The one dispatch point of the training engine (the ggml-backend habit): where a model's
// buffers live and which kernels run on them. Layers, the optimizer, the supervised and
// distillation objectives and evaluation call a Compute; cpu_compute() runs kernels/cpu, the CUDA one (cuda_compute.h)
// cuBLAS and the kernels of kernels/cuda on one stream. Chosen once, when a job starts.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "core/base/tensor.h"
#include "kernels/activation.h"
#include "kernels/kd_loss.h"
#include "kernels/softmax_xent.h"

namespace retort::core {

class Compute {
 public:
  virtual ~Compute() = default;
  virtual Device device() const = 0;
  virtual std::string name() const = 0;  // "cpu", "cuda:0", ...
  // True when allocate() returns ordinary host memory: no mirrors or copies are needed.
  virtual bool host_memory() const = 0;
  // The stream all work is ordered on (a cudaStream_t; null on the CPU).
  virtual void* stream() const = 0;

  // Memory. allocate() returns zero-filled memory aligned to 64 bytes (null for 0 bytes).
  virtual void* allocate(size_t bytes) = 0;
  virtual void release(void* p) noexcept = 0;
  // Host <-> compute memory; both return when the host buffer may be reused or read.
  virtual void upload(void* dst, const void* host_src, size_t bytes) = 0;
  virtual void download(void* host_dst, const void* src, size_t bytes) = 0;
  virtual void copy(void* dst, const void* src, size_t bytes) = 0;  // both in compute memory
  virtual void zero(void* p, size_t bytes) = 0;
  virtual void synchronize() = 0;  // all enqueued work is done

  // Layers: the contracts of kernels/linear.h (batch_invariant: kernels/linear_invariant.h),
  // activation.h, dropout.h (keys are host memory: row_key() per row) and max_norm.h.
  virtual void linear_forward(const float* x, const float* w, const float* b, float* y, int64_t rows, int64_t in,
                              int64_t out, bool batch_invariant) = 0;
  virtual void linear_backward(const float* x, const float* w, const float* dy, float* dx, float* dw, float* db,
                               int64_t rows, int64_t in, int64_t out) = 0;
  virtual void activation_forward(kernels::Activation act, const float* x, float* y, int64_t n) = 0;
  virtual void activation_backward(kernels::Activation act, const float* x, const float* y, const float* dy,
                                   float* dx, int64_t n) = 0;
  virtual void dropout_forward(const float* x, float* y, const uint64_t* host_keys, int64_t rows, int64_t cols,
                               double p) = 0;
  virtual void dropout_backward(const float* dy, float* dx, const uint64_t* host_keys, int64_t rows, int64_t cols,
                                double p) = 0;
  virtual void max_norm_rows(float* w, int64_t rows, int64_t cols, float max_norm) = 0;

  // Loss: kernels/softmax_xent.h with host labels[rows] (returns when the sums are known).
  virtual kernels::XentResult softmax_xent(const float* logits, const int32_t* host_labels, float* dlogits,
                                           int64_t rows, int64_t classes, float grad_scale) = 0;
  // Distillation: kernels/kd_loss.h on f32 logits and dlogits [rows, classes] in compute memory,
  // then dlogits[i] *= grad_scale. The teacher's tensors, host_labels (null when params.alpha
  // is 0) and the metric outputs (null = not computed) are host memory: a device Compute uploads
  // the teacher and labels into reusable staging buffers and downloads the metrics. Returns
  // when the sums are known.
  virtual kernels::KdLossResult kd_loss(const float* logits, const kernels::TeacherLogits& host_teacher,
                                        const int32_t* host_labels, float* dlogits, int64_t rows, int64_t classes,
                                        const kernels::KdLossParams& params, float grad_scale,
                                        const kernels::KdLossMetrics& host_metrics) = 0;

  // Optimizer: kernels/optim.h over flat buffers in compute memory.
  virtual double sum_squares(const float* g, int64_t n) = 0;
  virtual void sgd_update(float* p, const float* g, float* m, int64_t n, float lr, float momentum,
                          float weight_decay, bool nesterov, float grad_scale) = 0;
  virtual void adamw_update(float* p, const float* g, float* m, float* v, int64_t n, float lr, float beta1,
                            float beta2, float eps, float weight_decay, int64_t t, float grad_scale) = 0;
};

// The process's CPU compute (stateless, shared).
std::shared_ptr<Compute> cpu_compute();

// Owning, zero-filled float memory of a Compute.
class ComputeBuffer {
 public:
  ComputeBuffer() = default;
  ComputeBuffer(std::shared_ptr<Compute> compute, size_t count);
  ~ComputeBuffer();
  ComputeBuffer(ComputeBuffer&& other) noexcept;
  ComputeBuffer& operator=(ComputeBuffer&& other) noexcept;
  ComputeBuffer(const ComputeBuffer&) = delete;
  ComputeBuffer& operator=(const ComputeBuffer&) = delete;

  float* data() { return data_; }
  const float* data() const { return data_; }
  size_t size() const { return count_; }
  size_t bytes() const { return count_ * sizeof(float); }

 private:
  std::shared_ptr<Compute> compute_;
  float* data_ = nullptr;
  size_t count_ = 0;
};

}  // namespace retort::core
