// The LM head fused with the distillation loss: a HeadObjective for ChunkedHead that runs the
// Compute's kd_loss (kernels/kd_loss.h) on one chunk's logits against that chunk's rows of
// per-token targets (core/lm/lm_targets.h), so loss, dX and dW never need an [N, V] tensor.
#pragma once
#include <cstddef>
#include <cstdint>

#include "core/lm/lm_head_loss.h"
#include "core/lm/lm_targets.h"
#include "kernels/kd_loss.h"

namespace retort::core {

// Per chunk: loss_sum += Σ_{counted rows} ℓ_r, dlogits = ∂ℓ_r/∂z · grad_scale, with ℓ_r the
// kd_loss row loss (1−α)·T²·D + α·CE for dense and top-k targets (params.tail as given) and,
// for sampled targets, (1−α)·L̂_r + α·CE with L̂_r the unbiased estimator of lm_targets.h
// (kd_loss on the empirical distribution c/n as a bucket top-k with an empty tail gives
// T²·KL(c/n‖q) and the gradient T(q − c/n); the student-free term T²·Σ (c/n)(log p − log c/n)
// is added on the host). params.reduction is ignored: rows are summed, and grad_scale carries
// the global mean (1 / counted tokens of the whole batch), so chunking never changes the math.
// host_labels [rows] may be null when params.alpha == 0 (then every row counts); rows labelled
// params.ignore_index count for nothing. `correct` is counted on host-memory Computes only.
// targets and host_labels are referenced, not copied: they must outlive the objective.
// Refused with an input error: a temperature other than the targets' (topk, sampled), a
// divergence other than fkl for sampled targets, targets that fail LmTargets::validate.
// `terms` (optional, accumulated over chunks): the loss's two parts and teacher agreement.
// kd_loss cannot write dz over z, so it runs on slices of a chunk's rows (slice_bytes of dlogits
// each, >= 1 row) into a scratch copied back over each slice's logits: the chunk's extra memory is
// one slice, not a second [rows, V] buffer. No gradient bit depends on the slicing (kd_loss rows
// are independent); the loss sums differ only in their float64 rounding.
struct LmKdTerms {
  double kd_sum = 0;       // Σ counted rows of T²·D (sampled: L̂_r), before the (1−α) weight
  double ce_sum = 0;       // Σ counted rows of CE(label), before the α weight (0 when α = 0)
  int64_t agree = 0;       // counted rows whose argmax z is the teacher's argmax (sampled: the
                           //   most drawn id; host-memory Computes only)
};
inline constexpr size_t kDefaultKdSliceBytes = size_t{1} << 20;  // 8 rows of a 32k vocabulary
HeadObjective kd_objective(Compute& compute, const LmTargets& targets, const int32_t* host_labels,
                           const kernels::KdLossParams& params, float grad_scale, LmKdTerms* terms = nullptr,
                           size_t slice_bytes = kDefaultKdSliceBytes);

// head.run with kd_objective (targets.rows and vocab must match the inputs).
HeadLossSums lm_head_kd(ChunkedHead& head, const HeadInputs& in, const LmTargets& targets,
                        const int32_t* host_labels, const kernels::KdLossParams& params, float grad_scale,
                        LmKdTerms* terms = nullptr, size_t slice_bytes = kDefaultKdSliceBytes);

// Rows whose label is not ignore_index (all rows when labels is null): the mean's denominator.
int64_t counted_tokens(const int32_t* host_labels, int64_t rows, int32_t ignore_index);

}  // namespace retort::core
