// kd_objective: one chunk's rows of dense / top-k / sampled targets as kd_loss teacher views,
// the Compute's kd_loss slice by slice into a small dlogits scratch copied back in place, the
// sampled estimator's host term.
#include "core/lm/lm_head_kd.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <memory>

#include "core/base/error.h"

namespace retort::core {
namespace {

// Grow-only compute memory for one slice's dlogits, plus the host staging of sampled targets.
struct KdWorkspace {
  explicit KdWorkspace(Compute& c) : compute(c) {}
  ~KdWorkspace() { compute.release(dz); }
  KdWorkspace(const KdWorkspace&) = delete;
  KdWorkspace& operator=(const KdWorkspace&) = delete;
  float* dlogits(size_t count) {
    if (count > capacity) {
      compute.release(dz);
      dz = static_cast<float*>(compute.allocate(count * sizeof(float)));
      capacity = count;
    }
    return dz;
  }
  Compute& compute;
  float* dz = nullptr;
  size_t capacity = 0;
  std::vector<float> values, lse;  // sampled: T·log(c/n) per slot, zeros
  std::vector<uint8_t> agree;      // per chunk row: argmax z == argmax t
};

TensorView host_view(const void* p, DType dtype, int64_t rows, int64_t cols) {
  return TensorView{const_cast<void*>(p), dtype, rows, cols, Device::cpu};
}

// Rows [row0, row0 + rows) of the targets as a kd_loss teacher (sampled: the empirical c/n as
// top-k values T·log(c/n) with lse 0, staged in ws).
kernels::TeacherLogits teacher_rows(const LmTargets& t, int64_t row0, int64_t rows, KdWorkspace& ws) {
  const int64_t k = t.k;
  switch (t.kind) {
    case TargetKind::dense:
      return kernels::TeacherLogits::dense(
          host_view(t.values.data() + static_cast<size_t>(row0 * t.vocab) * dtype_size(t.dtype), t.dtype, rows, t.vocab));
    case TargetKind::topk:
      return kernels::TeacherLogits::topk(
          host_view(t.indices.data() + row0 * k, DType::u32, rows, k),
          host_view(t.values.data() + static_cast<size_t>(row0 * k) * dtype_size(t.dtype), t.dtype, rows, k),
          host_view(t.lse.data() + row0, DType::f32, rows, 1));
    case TargetKind::sampled: {
      ws.values.resize(static_cast<size_t>(rows * k));
      ws.lse.assign(static_cast<size_t>(rows), 0.f);
      const double n = k;
      for (int64_t i = 0; i < rows * k; ++i) {
        const uint16_t c = t.counts[row0 * k + i];
        ws.values[i] = c ? static_cast<float>(t.temperature * std::log(c / n)) : -INFINITY;
      }
      return kernels::TeacherLogits::topk(host_view(t.indices.data() + row0 * k, DType::u32, rows, k),
                                          host_view(ws.values.data(), DType::f32, rows, k),
                                          host_view(ws.lse.data(), DType::f32, rows, 1));
    }
  }
  RETORT_RUNTIME_ERROR("kd objective: unknown target kind");
}

// Σ_s (c_s/n)(log p_s − log(c_s/n)) of one sampled row: the estimator's student-free term (÷T²).
double sampled_offset(const LmTargets& t, int64_t row) {
  const double n = t.k;
  double s = 0;
  for (int64_t i = row * t.k; i < (row + 1) * t.k; ++i)
    if (t.counts[i]) s += (t.counts[i] / n) * (static_cast<double>(t.log_probs[i]) - std::log(t.counts[i] / n));
  return s;
}

// Index of the first maximum of z[0, n) (NaNs are skipped; 0 when every element is NaN).
int64_t first_argmax(const float* z, int64_t n) {
  float m = -INFINITY;
#pragma omp simd reduction(max : m)
  for (int64_t j = 0; j < n; ++j) m = z[j] > m ? z[j] : m;
  for (int64_t j = 0; j < n; ++j)
    if (z[j] == m) return j;
  return 0;
}

void check_targets(const LmTargets& t, const kernels::KdLossParams& params) {
  t.validate("kd objective");
  if (t.kind != TargetKind::dense && params.temperature != t.temperature)
    RETORT_INPUT_ERROR(fmt::format("kd objective: {} targets were made at temperature {}, the loss asks {}",
                                   target_kind_name(t.kind), t.temperature, params.temperature));
  const bool fkl = params.divergence == kernels::Divergence::fkl ||
                   (params.divergence == kernels::Divergence::jsd && params.beta == 0.0f);
  if (t.kind == TargetKind::sampled && !fkl)
    RETORT_INPUT_ERROR(fmt::format("kd objective: sampled targets support only divergence fkl (the unbiased "
                                   "estimate from teacher draws), got {}",
                                   kernels::divergence_name(params.divergence)));
}

}  // namespace

int64_t counted_tokens(const int32_t* host_labels, int64_t rows, int32_t ignore_index) {
  if (!host_labels) return rows;
  int64_t n = 0;
  for (int64_t r = 0; r < rows; ++r) n += host_labels[r] != ignore_index;
  return n;
}

HeadObjective kd_objective(Compute& compute, const LmTargets& targets, const int32_t* host_labels,
                           const kernels::KdLossParams& params, float grad_scale, LmKdTerms* terms,
                           size_t slice_bytes) {
  check_targets(targets, params);
  kernels::KdLossParams p = params;
  p.reduction = kernels::Reduction::sum;
  if (targets.kind == TargetKind::sampled) p.tail = kernels::Tail::bucket;
  auto ws = std::make_shared<KdWorkspace>(compute);
  return [&compute, &targets, host_labels, p, grad_scale, ws, terms, slice_bytes](const HeadChunk& ch) {
    if (ch.vocab != targets.vocab || ch.row0 < 0 || ch.row0 + ch.rows > targets.rows)
      RETORT_INPUT_ERROR(fmt::format("kd objective: chunk rows [{}, {}) x vocab {} do not fit {} targets of {} x {}",
                                     ch.row0, ch.row0 + ch.rows, ch.vocab, target_kind_name(targets.kind),
                                     targets.rows, targets.vocab));
    // Slices of the chunk's rows into the dz scratch, copied back over their logits (lm_head_kd.h).
    const int64_t slice = std::clamp<int64_t>(
        static_cast<int64_t>(slice_bytes / (static_cast<size_t>(ch.vocab) * sizeof(float))), 1, ch.rows);
    float* dz = ws->dlogits(static_cast<size_t>(slice * ch.vocab));
    const int32_t* labels = host_labels ? host_labels + ch.row0 : nullptr;
    const bool count_agreement = terms && compute.host_memory();
    if (count_agreement) ws->agree.assign(static_cast<size_t>(ch.rows), 0);
    const auto counted = [&](int64_t i) { return !labels || labels[i] != p.ignore_index; };
    HeadLossSums sums;
    if (labels && compute.host_memory()) {  // the argmax of the chunk's logits, before any slice overwrites them
      int64_t correct = 0;
#pragma omp parallel for reduction(+ : correct) schedule(static)
      for (int64_t i = 0; i < ch.rows; ++i)
        if (counted(i)) correct += first_argmax(ch.logits + i * ch.vocab, ch.vocab) == labels[i];
      sums.correct = correct;
    }
    double kd = 0, ce = 0;
    for (int64_t a = 0; a < ch.rows; a += slice) {
      const int64_t n = std::min(slice, ch.rows - a);
      float* z = ch.logits + a * ch.vocab;
      const kernels::TeacherLogits teacher = teacher_rows(targets, ch.row0 + a, n, *ws);
      const kernels::KdLossResult r =
          compute.kd_loss(z, teacher, labels ? labels + a : nullptr, dz, n, ch.vocab, p, grad_scale,
                          {nullptr, count_agreement ? ws->agree.data() + a : nullptr});
      sums.loss_sum += r.loss;
      sums.tokens += r.rows_counted;
      kd += r.kd;
      ce += r.ce;
      if (ch.backward) compute.copy(z, dz, static_cast<size_t>(n * ch.vocab) * sizeof(float));
    }
    if (targets.kind == TargetKind::sampled) {
      const double t2 = static_cast<double>(p.temperature) * p.temperature;
      const double w = (1.0 - p.alpha) * static_cast<double>(p.temperature) * p.temperature;
      for (int64_t i = 0; i < ch.rows; ++i)
        if (counted(i)) {
          const double offset = sampled_offset(targets, ch.row0 + i);
          sums.loss_sum += w * offset;
          kd += t2 * offset;
        }
    }
    if (terms) {
      terms->kd_sum += kd;
      terms->ce_sum += ce;
      for (uint8_t a : ws->agree) terms->agree += a;
    }
    return sums;
  };
}

HeadLossSums lm_head_kd(ChunkedHead& head, const HeadInputs& in, const LmTargets& targets,
                        const int32_t* host_labels, const kernels::KdLossParams& params, float grad_scale,
                        LmKdTerms* terms, size_t slice_bytes) {
  if (targets.rows != in.rows || targets.vocab != in.vocab)
    RETORT_INPUT_ERROR(fmt::format("lm_head_kd: {} targets are {} x {}, the head is {} rows x vocab {}",
                                   target_kind_name(targets.kind), targets.rows, targets.vocab, in.rows, in.vocab));
  return head.run(in, kd_objective(head.compute(), targets, host_labels, params, grad_scale, terms, slice_bytes));
}

}  // namespace retort::core
