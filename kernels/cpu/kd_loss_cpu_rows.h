// Internal interface of the CPU distillation loss: what the OpenMP driver (kd_loss.cpp) hands
// to the per-row dense and top-k routines, and what they hand back.
#pragma once
#include <cstdint>
#include <vector>

#include "core/base/dtype.h"
#include "kernels/kd_loss.h"

namespace retort::kernels::cpu {

// Call-wide constants of one row computation.
struct RowSetup {
  Divergence divergence = Divergence::fkl;  // after jsd β ∈ {0,1} → fkl/rkl
  float inv_temperature = 1.0f;
  float temperature = 1.0f;
  float beta = 0.5f;
  Tail tail = Tail::bucket;
  int64_t vocab = 0;
  float grad_kd = 0;      // w·(1-α)·T, multiplies (q_j g_j - q_j ḡ)
  float grad_ce = 0;      // w·α, multiplies (s_j - [j == y])
  bool with_ce = false;   // α > 0: compute CE (and its gradient)
  bool want_entropy = false;
  bool want_agree = false;
};

// One row's inputs; exactly one of teacher_dense / (topk_*) is set.
struct RowInput {
  const void* student = nullptr;
  DType student_dtype = DType::f32;
  const void* teacher_dense = nullptr;
  DType teacher_dtype = DType::f32;
  const uint32_t* topk_indices = nullptr;
  const void* topk_values = nullptr;  // teacher_dtype
  float topk_lse = 0;
  int64_t k = 0;
  int32_t label = -1;  // valid label, or -1 when CE is not computed
  void* dz = nullptr;  // student_dtype
};

struct RowOutput {
  double kd = 0;  // T²·D for this row (NaN when the row had non-finite input)
  double ce = 0;
  bool nonfinite = false;
  float entropy = 0;
  uint8_t agree = 0;
};

// The dense row works in blocks of kDenseBlock elements (4 KB of z and of t, L1-resident
// between the block's max and exp loops) and keeps kBlockFields floats per block (maxima, sums,
// factors).
constexpr int64_t kDenseBlock = 1024;
constexpr size_t kBlockFields = 10;

// Per-thread float scratch, grown on demand and kept between calls.
struct RowScratch {
  std::vector<float> z, t, a, b, q, p, s, out;
  std::vector<float> block;  // dense row: kBlockFields arrays of one float per kDenseBlock block
  void reserve(int64_t vocab);
};

// The row as float: the data itself for f32, converted into `buffer` for bf16.
const float* row_as_float(const void* data, DType dtype, int64_t n, std::vector<float>& buffer);
// The row divided by T (a = z/T) as its own array (x itself when T == 1), in the same pass as
// the row's maximum (of x, NaN-ignoring) and its NaN/+inf count. Stored, a[i] - a_max is exact
// at the maximum (a fused multiply-subtract of z·(1/T) - a_max would not be).
const float* row_max_scaled(const float* x, float inv_temperature, int64_t n, std::vector<float>& buffer,
                           float& max, int64_t& nonfinite);
// A row with NaN/+inf input (or no finite logit): NaN loss and gradient, flag set.
void write_nan_row(const RowSetup& setup, const RowInput& in, RowOutput& out);

void dense_row(const RowSetup& setup, const RowInput& in, RowScratch& scratch, RowOutput& out);
void topk_row(const RowSetup& setup, const RowInput& in, RowScratch& scratch, RowOutput& out);

}  // namespace retort::kernels::cpu
