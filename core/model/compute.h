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
#include "kernels/attention.h"
#include "kernels/kd_loss.h"
#include "kernels/rope.h"
#include "kernels/softmax_xent.h"
#include "kernels/token_xent.h"

namespace retort::core {

// The transformer ops (kernels/{embedding,rmsnorm,rope,attention,swiglu,residual}.h). A
// Compute runs them only when supports() says so; the base class refuses them.
enum class ComputeOp : uint8_t { embedding, rmsnorm, rope, attention, swiglu, add };
const char* compute_op_name(ComputeOp op);  // "embedding", ...

// One argument struct per op, shared by its forward and backward (each reads the fields its
// kernel contract names). Every pointer is compute memory, token ids and positions included.
struct EmbeddingOp {
  const int32_t* tokens = nullptr;  // [n]
  int64_t n = 0, vocab = 0, dim = 0;
  const float* table = nullptr;  // forward: [vocab, dim]
  float* out = nullptr;          // forward: [n, dim]
  const float* dout = nullptr;   // backward: [n, dim]
  float* dtable = nullptr;       // backward: [vocab, dim], accumulated
};
struct RmsNormOp {
  const float* x = nullptr;  // [rows, dim]
  const float* w = nullptr;  // [dim]
  float* y = nullptr;        // forward: [rows, dim]
  float* rstd = nullptr;     // forward output (nullable) / backward input: [rows]
  const float* dy = nullptr;  // backward: [rows, dim]
  float* dx = nullptr;        // backward: [rows, dim]
  float* dw = nullptr;        // backward: [dim], accumulated
  int64_t rows = 0, dim = 0;
  float eps = 1e-5f;
};
struct RopeOp {
  float* x = nullptr;  // rotated in place (forward: activations, backward: their gradient)
  const int32_t* positions = nullptr;  // [rows]
  kernels::RopeParams params{};
};
struct AttentionOp {
  const float *q = nullptr, *k = nullptr, *v = nullptr;
  float* out = nullptr;       // forward output / backward input
  float* lse = nullptr;       // [batch, n_heads, q_len]: forward output (nullable) / backward input
  const float* dout = nullptr;  // backward
  float *dq = nullptr, *dk = nullptr, *dv = nullptr;  // backward, overwritten
  kernels::AttentionShape shape{};
};
struct SwigluOp {
  const float *gate = nullptr, *up = nullptr;  // [n]
  float* out = nullptr;                        // forward: [n]
  const float* dout = nullptr;                 // backward: [n]
  float *dgate = nullptr, *dup = nullptr;      // backward: [n]
  int64_t n = 0;
};
struct AddOp {  // y[n] += x[n]
  float* y = nullptr;
  const float* x = nullptr;
  int64_t n = 0;
};

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

  // Batch-invariant mode: every matmul of this Compute uses the fixed-order kernel, whatever the
  // per-call flag, so a row's outputs never depend on the other rows (the other ops are
  // batch-invariant by construction).
  virtual bool batch_invariant() const { return false; }
  // Transformer ops: false here, and the ops below throw a runtime error naming op and backend.
  virtual bool supports(ComputeOp op) const;
  virtual void embedding_forward(const EmbeddingOp& op);
  virtual void embedding_backward(const EmbeddingOp& op);
  virtual void rmsnorm_forward(const RmsNormOp& op);
  virtual void rmsnorm_backward(const RmsNormOp& op);
  virtual void rope_forward(const RopeOp& op);
  virtual void rope_backward(const RopeOp& op);
  virtual void attention_forward(const AttentionOp& op);
  virtual void attention_backward(const AttentionOp& op);
  virtual void swiglu_forward(const SwigluOp& op);
  virtual void swiglu_backward(const SwigluOp& op);
  virtual void add_inplace(const AddOp& op);

  // Loss: kernels/softmax_xent.h with host labels[rows] (returns when the sums are known).
  virtual kernels::XentResult softmax_xent(const float* logits, const int32_t* host_labels, float* dlogits,
                                           int64_t rows, int64_t classes, float grad_scale) = 0;
  // The LM head's loss: kernels/token_xent.h with host labels[rows] and host_row_nll (nullable);
  // dlogits (nullable) may be logits. Here it runs through softmax_xent, run by run of counted rows
  // (one row per call when host_row_nll is asked), and zero() for the ignored rows; the CPU
  // Compute runs the token_xent kernel, rows threaded.
  virtual kernels::TokenXentResult token_xent(const float* logits, const int32_t* host_labels, int32_t ignore_index,
                                              float* dlogits, int64_t rows, int64_t vocab, float grad_scale,
                                              double* host_row_nll);
  // Distillation: kernels/kd_loss.h on f32 logits and dlogits [rows, classes] in compute memory,
  // then dlogits[i] *= grad_scale. host_labels (null when params.alpha is 0) and the metric
  // outputs (null = not computed) are host memory; the teacher's tensors are host memory, or
  // this Compute's memory when their views say its device (a device channel's slots). A device
  // Compute uploads host teachers and labels into reusable staging buffers and downloads the
  // metrics. Returns when the sums are known.
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
// The same in batch-invariant mode (teacher forwards, `retort score --batch-invariant`).
std::shared_ptr<Compute> cpu_compute_batch_invariant();

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
