// Teacher logits between the model and the wire: encoding a teacher's output rows as dense or
// top-k (+ full-vocabulary log-sum-exp at the distillation temperature) in the wire dtype, and
// turning a received or cached view into the fused loss kernel's TeacherLogits.
#pragma once
#include <cstdint>
#include <vector>

#include "comm/wire.h"
#include "core/base/dtype.h"
#include "core/base/tensor.h"
#include "kernels/kd_loss.h"

namespace retort::core {

struct TeacherEncoding {
  int64_t topk = 0;            // 0 = dense
  DType dtype = DType::f32;    // wire dtype of the values
  float temperature = 1.0f;    // lse is log Σ exp(t / T)
};

// Encoded rows owning their storage. Row r's data depends only on row r of the input, so a
// sample encodes to the same bytes in any batch (what makes online and cached runs identical).
class EncodedLogits {
 public:
  // logits[rows, vocab] (fp32, row-major) -> this.
  void encode(const float* logits, int64_t rows, int64_t vocab, const TeacherEncoding& enc);
  comm::LogitsPayload payload() const;
  // Rows [first, first + rows) only (a teacher's grouped forward split per student).
  comm::LogitsPayload payload(int64_t first, int64_t rows) const;
  int64_t rows() const { return rows_; }
  int64_t vocab() const { return vocab_; }
  int64_t k() const { return k_; }
  bool dense() const { return k_ == 0; }
  DType dtype() const { return dtype_; }
  // Bytes of one row's record (dense: V values; top-k: k indices + k values + lse).
  size_t row_bytes() const;
  // Copies row r's record to / from a flat byte record (the cache stores these).
  void copy_row_out(int64_t r, std::byte* record) const;
  void resize(int64_t rows, int64_t vocab, int64_t k, DType dtype);
  void copy_row_in(int64_t r, const std::byte* record);

 private:
  int64_t rows_ = 0, vocab_ = 0, k_ = 0;
  DType dtype_ = DType::f32;
  std::vector<std::byte> values_;   // rows × (vocab or k) × dtype size
  std::vector<uint32_t> indices_;   // rows × k
  std::vector<float> lse_;          // rows
};

// The kernel's view of a received message or of encoded rows (host memory, not copied).
// A received end-of-stream is a runtime error: the teacher stopped before the student did.
kernels::TeacherLogits to_kernel_view(const comm::TeacherView& view);
kernels::TeacherLogits to_kernel_view(const comm::LogitsPayload& payload);

}  // namespace retort::core
