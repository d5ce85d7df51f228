// ComputeBuffer: memory owned through the Compute that allocated it; the base class's refusal
// of the transformer ops and its token_xent through softmax_xent.
#include "core/model/compute.h"

#include <algorithm>

#include "core/base/error.h"

namespace retort::core {

const char* compute_op_name(ComputeOp op) {
  switch (op) {
    case ComputeOp::embedding: return "embedding";
    case ComputeOp::rmsnorm: return "rmsnorm";
    case ComputeOp::rope: return "rope";
    case ComputeOp::attention: return "attention";
    case ComputeOp::swiglu: return "swiglu";
    case ComputeOp::add: return "add";
  }
  return "unknown";
}

namespace {
[[noreturn]] void unsupported(const Compute& c, ComputeOp op, const char* direction) {
  RETORT_RUNTIME_ERROR(std::string("compute '") + c.name() + "' does not support the " + compute_op_name(op) +
                       " op (" + direction + ")");
}
}  // namespace

bool Compute::supports(ComputeOp) const { return false; }
void Compute::embedding_forward(const EmbeddingOp&) { unsupported(*this, ComputeOp::embedding, "forward"); }
void Compute::embedding_backward(const EmbeddingOp&) { unsupported(*this, ComputeOp::embedding, "backward"); }
void Compute::rmsnorm_forward(const RmsNormOp&) { unsupported(*this, ComputeOp::rmsnorm, "forward"); }
void Compute::rmsnorm_backward(const RmsNormOp&) { unsupported(*this, ComputeOp::rmsnorm, "backward"); }
void Compute::rope_forward(const RopeOp&) { unsupported(*this, ComputeOp::rope, "forward"); }
void Compute::rope_backward(const RopeOp&) { unsupported(*this, ComputeOp::rope, "backward"); }
void Compute::attention_forward(const AttentionOp&) { unsupported(*this, ComputeOp::attention, "forward"); }
void Compute::attention_backward(const AttentionOp&) { unsupported(*this, ComputeOp::attention, "backward"); }
void Compute::swiglu_forward(const SwigluOp&) { unsupported(*this, ComputeOp::swiglu, "forward"); }
void Compute::swiglu_backward(const SwigluOp&) { unsupported(*this, ComputeOp::swiglu, "backward"); }
void Compute::add_inplace(const AddOp&) { unsupported(*this, ComputeOp::add, "forward"); }

kernels::TokenXentResult Compute::token_xent(const float* logits, const int32_t* host_labels, int32_t ignore_index,
                                             float* dlogits, int64_t rows, int64_t vocab, float grad_scale,
                                             double* host_row_nll) {
  kernels::TokenXentResult total;
  for (int64_t r = 0; r < rows;) {
    const bool counted = host_labels[r] != ignore_index;
    int64_t end = r + 1;
    if (!(counted && host_row_nll))
      while (end < rows && (host_labels[end] != ignore_index) == counted) ++end;
    const size_t offset = static_cast<size_t>(r * vocab);
    if (counted) {
      const kernels::XentResult x = softmax_xent(logits + offset, host_labels + r, dlogits ? dlogits + offset : nullptr,
                                                 end - r, vocab, grad_scale);
      total.loss_sum += x.loss_sum;
      total.correct += x.correct;
      total.tokens += end - r;
      if (host_row_nll) host_row_nll[r] = x.loss_sum;
    } else {
      if (dlogits) zero(dlogits + offset, static_cast<size_t>((end - r) * vocab) * sizeof(float));
      if (host_row_nll) std::fill(host_row_nll + r, host_row_nll + end, 0.0);
    }
    r = end;
  }
  return total;
}

ComputeBuffer::ComputeBuffer(std::shared_ptr<Compute> compute, size_t count)
    : compute_(std::move(compute)), count_(count) {
  data_ = static_cast<float*>(compute_->allocate(count * sizeof(float)));
}

ComputeBuffer::~ComputeBuffer() {
  if (data_) compute_->release(data_);
}

ComputeBuffer::ComputeBuffer(ComputeBuffer&& other) noexcept
    : compute_(std::move(other.compute_)), data_(other.data_), count_(other.count_) {
  other.data_ = nullptr;
  other.count_ = 0;
}

ComputeBuffer& ComputeBuffer::operator=(ComputeBuffer&& other) noexcept {
  if (this == &other) return *this;
  if (data_) compute_->release(data_);
  compute_ = std::move(other.compute_);
  data_ = other.data_;
  count_ = other.count_;
  other.data_ = nullptr;
  other.count_ = 0;
  return *this;
}

}  // namespace retort::core
