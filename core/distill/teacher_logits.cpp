// Dense/top-k encoding of teacher rows, and the wire-view to kernel-view conversion.
#include "core/distill/teacher_logits.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

#include "core/base/error.h"

namespace retort::core {
namespace {

void store_value(std::byte* dst, int64_t i, float v, DType dtype) {
  if (dtype == DType::f32) {
    std::memcpy(dst + i * 4, &v, 4);
  } else {
    const bf16 h = float_to_bf16(v);
    std::memcpy(dst + i * 2, &h.bits, 2);
  }
}

// log Σ exp(t_j / T) in float64, then rounded once.
float row_lse(const float* t, int64_t vocab, float temperature) {
  double mx = -INFINITY;
  for (int64_t j = 0; j < vocab; ++j) mx = std::max(mx, static_cast<double>(t[j]) / temperature);
  if (!std::isfinite(mx)) return static_cast<float>(mx);
  double sum = 0;
  for (int64_t j = 0; j < vocab; ++j) sum += std::exp(static_cast<double>(t[j]) / temperature - mx);
  return static_cast<float>(mx + std::log(sum));
}

}  // namespace

void EncodedLogits::resize(int64_t rows, int64_t vocab, int64_t k, DType dtype) {
  RETORT_CHECK(dtype == DType::f32 || dtype == DType::bf16, "teacher logits are fp32 or bf16");
  rows_ = rows, vocab_ = vocab, k_ = k, dtype_ = dtype;
  values_.resize(static_cast<size_t>(rows * (k ? k : vocab)) * dtype_size(dtype));
  indices_.resize(static_cast<size_t>(rows * k));
  lse_.resize(k ? static_cast<size_t>(rows) : 0);
}

void EncodedLogits::encode(const float* logits, int64_t rows, int64_t vocab, const TeacherEncoding& enc) {
  if (enc.topk > vocab)
    RETORT_INPUT_ERROR("distill.topk: " + std::to_string(enc.topk) + " is larger than the teacher's " +
                       std::to_string(vocab) + " classes");
  resize(rows, vocab, enc.topk, enc.dtype);
  if (k_ == 0) {
    for (int64_t i = 0; i < rows * vocab; ++i) store_value(values_.data(), i, logits[i], dtype_);
    return;
  }
  std::vector<uint32_t> order(static_cast<size_t>(vocab));
  for (int64_t r = 0; r < rows; ++r) {
    const float* t = logits + r * vocab;
    std::iota(order.begin(), order.end(), 0u);
    // Largest first; ties to the lower index, so the choice is deterministic.
    std::partial_sort(order.begin(), order.begin() + k_, order.end(), [t](uint32_t a, uint32_t b) {
      return t[a] > t[b] || (t[a] == t[b] && a < b);
    });
    for (int64_t c = 0; c < k_; ++c) {
      indices_[r * k_ + c] = order[c];
      store_value(values_.data(), r * k_ + c, t[order[c]], dtype_);
    }
    lse_[r] = row_lse(t, vocab, enc.temperature);
  }
}

comm::LogitsPayload EncodedLogits::payload() const { return payload(0, rows_); }

comm::LogitsPayload EncodedLogits::payload(int64_t first, int64_t rows) const {
  RETORT_CHECK(first >= 0 && rows >= 0 && first + rows <= rows_, "payload rows inside the encoded rows");
  const int64_t width = k_ ? k_ : vocab_;
  comm::LogitsPayload p;
  p.kind = k_ ? comm::PayloadKind::topk : comm::PayloadKind::dense;
  p.dtype = dtype_;
  p.rows = rows;
  p.vocab = vocab_;
  p.k = k_;
  p.values = values_.data() + static_cast<size_t>(first * width) * dtype_size(dtype_);
  p.indices = k_ ? indices_.data() + first * k_ : nullptr;
  p.lse = k_ ? lse_.data() + first : nullptr;
  return p;
}

size_t EncodedLogits::row_bytes() const {
  const size_t vsize = dtype_size(dtype_);
  return k_ ? static_cast<size_t>(k_) * (4 + vsize) + 4 : static_cast<size_t>(vocab_) * vsize;
}

void EncodedLogits::copy_row_out(int64_t r, std::byte* record) const {
  const size_t vsize = dtype_size(dtype_);
  const size_t width = static_cast<size_t>(k_ ? k_ : vocab_);
  if (k_) {
    std::memcpy(record, indices_.data() + r * k_, k_ * 4);
    record += k_ * 4;
  }
  std::memcpy(record, values_.data() + r * width * vsize, width * vsize);
  if (k_) std::memcpy(record + width * vsize, &lse_[r], 4);
}

void EncodedLogits::copy_row_in(int64_t r, const std::byte* record) {
  const size_t vsize = dtype_size(dtype_);
  const size_t width = static_cast<size_t>(k_ ? k_ : vocab_);
  if (k_) {
    std::memcpy(indices_.data() + r * k_, record, k_ * 4);
    record += k_ * 4;
  }
  std::memcpy(values_.data() + r * width * vsize, record, width * vsize);
  if (k_) std::memcpy(&lse_[r], record + width * vsize, 4);
}

kernels::TeacherLogits to_kernel_view(const comm::LogitsPayload& p) {
  auto tensor = [&p](const void* data, DType dtype, int64_t cols) {
    TensorView t;
    t.data = const_cast<void*>(data);
    t.dtype = dtype;
    t.rows = p.rows;
    t.cols = cols;
    return t;
  };
  if (p.kind == comm::PayloadKind::dense) return kernels::TeacherLogits::dense(tensor(p.values, p.dtype, p.vocab));
  return kernels::TeacherLogits::topk(tensor(p.indices, DType::u32, p.k), tensor(p.values, p.dtype, p.k),
                                      tensor(p.lse, DType::f32, 1));
}

kernels::TeacherLogits to_kernel_view(const comm::TeacherView& view) {
  if (view.end_of_stream())
    RETORT_RUNTIME_ERROR("the teacher ended its stream before step " + std::to_string(view.header.step));
  comm::LogitsPayload p;
  p.kind = view.kind();
  p.dtype = view.dtype();
  p.rows = view.rows();
  p.vocab = view.vocab();
  p.k = view.k();
  p.values = view.values;
  p.indices = view.indices;
  p.lse = view.lse;
  return to_kernel_view(p);
}

}  // namespace retort::core
