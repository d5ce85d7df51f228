// CPU distillation loss driver: validates labels and top-k indices, runs the per-row routines
// over rows with OpenMP, and reduces the row losses in a fixed order (deterministic for any
// thread count).
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "core/base/error.h"
#include "kernels/cpu/kd_loss_cpu_math.h"
#include "kernels/cpu/kd_loss_cpu_rows.h"
#include "kernels/kd_loss.h"

namespace retort::kernels {
namespace cpu {

const float* row_as_float(const void* data, DType dtype, int64_t n, std::vector<float>& buffer) {
  if (dtype == DType::f32) return static_cast<const float*>(data);
  if (buffer.size() < static_cast<size_t>(n)) buffer.resize(static_cast<size_t>(n));
  bf16_row_to_float(static_cast<const bf16*>(data), buffer.data(), n);
  return buffer.data();
}

const float* row_max_scaled(const float* x, float inv_temperature, int64_t n, std::vector<float>& buffer,
                           float& max, int64_t& nonfinite) {
  if (inv_temperature == 1.0f) {
    max = row_max(x, n, nonfinite);
    return x;
  }
  if (buffer.size() < static_cast<size_t>(n)) buffer.resize(static_cast<size_t>(n));
  float* out = buffer.data();
  float m = -INFINITY;
  int64_t bad = 0;
#pragma omp simd reduction(max : m) reduction(+ : bad)
  for (int64_t i = 0; i < n; ++i) {
    const float v = x[i];
    out[i] = v * inv_temperature;
    m = v > m ? v : m;
    bad += (v != v) | (v > 3.40282347e38f);
  }
  nonfinite += bad;
  max = m;
  return out;
}

void write_nan_row(const RowSetup& setup, const RowInput& in, RowOutput& out) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  out.nonfinite = true;
  out.kd = out.ce = nan;
  out.entropy = nan;
  out.agree = 0;
  if (in.student_dtype == DType::f32) {
    float* dz = static_cast<float*>(in.dz);
    for (int64_t i = 0; i < setup.vocab; ++i) dz[i] = nan;
  } else {
    bf16* dz = static_cast<bf16*>(in.dz);
    for (int64_t i = 0; i < setup.vocab; ++i) dz[i] = float_to_bf16(nan);
  }
}

namespace {

void zero_row(void* dz, DType dtype, int64_t n) {
  std::memset(dz, 0, static_cast<size_t>(n) * dtype_size(dtype));
}

}  // namespace
}  // namespace cpu

KdLossResult kd_loss_cpu(const TensorView& student, const TeacherLogits& teacher, const int32_t* labels,
                         const TensorView& dz, const KdLossParams& params, const KdLossMetrics& metrics) {
  const int64_t rows = student.rows, V = student.cols;
  const bool dense = teacher.kind == TeacherLogits::Kind::dense;
  const int64_t k = dense ? 0 : teacher.indices.cols;

  // Which rows count; labels and top-k indices outside the vocabulary are input errors.
  std::vector<uint8_t> counted(static_cast<size_t>(rows), 1);
  int64_t n_counted = rows;
  if (labels) {
    for (int64_t r = 0; r < rows; ++r) {
      const int32_t y = labels[r];
      if (y == params.ignore_index) {
        counted[static_cast<size_t>(r)] = 0;
        --n_counted;
      } else if (y < 0 || y >= V) {
        RETORT_INPUT_ERROR("kd_loss: labels[" + std::to_string(r) + "] = " + std::to_string(y) +
                           " is outside [0, " + std::to_string(V) + ") and is not ignore_index " +
                           std::to_string(params.ignore_index));
      }
    }
  }
  if (!dense) {
    const uint32_t* idx = static_cast<const uint32_t*>(teacher.indices.data);
    for (int64_t i = 0; i < rows * k; ++i)
      if (idx[i] >= static_cast<uint64_t>(V))
        RETORT_INPUT_ERROR("kd_loss: top-k index " + std::to_string(idx[i]) + " at row " + std::to_string(i / k) +
                           " is outside the vocabulary of " + std::to_string(V));
  }

  cpu::RowSetup setup;
  setup.divergence = cpu::effective_divergence(params);
  setup.temperature = params.temperature;
  setup.inv_temperature = 1.0f / params.temperature;
  setup.beta = params.beta;
  setup.tail = params.tail;
  setup.vocab = V;
  const double weight = params.reduction == Reduction::mean ? (n_counted > 0 ? 1.0 / n_counted : 0.0) : 1.0;
  setup.grad_kd = static_cast<float>(weight * (1.0 - params.alpha) * params.temperature);
  setup.grad_ce = static_cast<float>(weight * params.alpha);
  setup.with_ce = params.alpha > 0.0f && labels != nullptr;
  setup.want_entropy = metrics.teacher_entropy != nullptr;
  setup.want_agree = metrics.top1_agree != nullptr;

  const size_t zs = dtype_size(student.dtype);
  std::vector<cpu::RowOutput> outputs(static_cast<size_t>(rows));
#pragma omp parallel
  {
    thread_local cpu::RowScratch scratch;
    scratch.reserve(V);
#pragma omp for schedule(static)
    for (int64_t r = 0; r < rows; ++r) {
      cpu::RowOutput& out = outputs[static_cast<size_t>(r)];
      cpu::RowInput in;
      in.dz = static_cast<char*>(dz.data) + static_cast<size_t>(r * V) * zs;
      in.student_dtype = student.dtype;
      if (!counted[static_cast<size_t>(r)]) {
        cpu::zero_row(in.dz, student.dtype, V);
        out.entropy = std::numeric_limits<float>::quiet_NaN();
        continue;
      }
      in.student = static_cast<const char*>(student.data) + static_cast<size_t>(r * V) * zs;
      in.label = setup.with_ce ? labels[r] : -1;
      if (dense) {
        in.teacher_dtype = teacher.logits.dtype;
        in.teacher_dense = static_cast<const char*>(teacher.logits.data) +
                           static_cast<size_t>(r * V) * dtype_size(teacher.logits.dtype);
        cpu::dense_row(setup, in, scratch, out);
      } else {
        in.teacher_dtype = teacher.values.dtype;
        in.k = k;
        in.topk_indices = static_cast<const uint32_t*>(teacher.indices.data) + r * k;
        in.topk_values = static_cast<const char*>(teacher.values.data) +
                         static_cast<size_t>(r * k) * dtype_size(teacher.values.dtype);
        in.topk_lse = static_cast<const float*>(teacher.lse.data)[r];
        cpu::topk_row(setup, in, scratch, out);
      }
    }
  }

  KdLossResult result;
  result.rows_counted = n_counted;
  double kd = 0, ce = 0;
  for (int64_t r = 0; r < rows; ++r) {
    const cpu::RowOutput& out = outputs[static_cast<size_t>(r)];
    if (metrics.teacher_entropy) metrics.teacher_entropy[r] = out.entropy;
    if (metrics.top1_agree) metrics.top1_agree[r] = out.agree;
    if (!counted[static_cast<size_t>(r)]) continue;
    kd += out.kd;
    ce += out.ce;
    result.nonfinite_input = result.nonfinite_input || out.nonfinite;
  }
  result.kd = kd * weight;
  result.ce = setup.with_ce ? ce * weight : 0.0;
  result.loss = (1.0 - params.alpha) * result.kd + params.alpha * result.ce;
  return result;
}

}  // namespace retort::kernels
