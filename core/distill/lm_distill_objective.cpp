// LmDistillObjective: fetch the step's targets, run lm_head_kd, keep the window's terms.
#include "core/distill/lm_distill_objective.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "core/base/error.h"
#include "core/distill/distill_objective.h"

namespace retort::core {

LmDistillObjective::LmDistillObjective(const DistillConfig& distill, std::unique_ptr<LmTargetSource> source)
    : params_(kd_params_from(distill)), source_(std::move(source)) {}

ObjectiveResult LmDistillObjective::compute(const StepBatch&, const float*, int64_t, float, float*) {
  RETORT_RUNTIME_ERROR("LmDistillObjective distils language models (compute_lm), not classification logits");
}

ObjectiveResult LmDistillObjective::compute_lm(const StepBatch& batch, const LmHeadBatch& head, float grad_scale) {
  const auto t0 = std::chrono::steady_clock::now();
  const LmTargets& targets = source_->fetch(batch.step, batch.ids);
  const double fetch_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  fetch_s_ += fetch_s;
  total_fetch_s_ += fetch_s;
  kernels::KdLossParams p = params_;
  p.ignore_index = head.ignore_index;
  const HeadLossSums sums = lm_head_kd(*head.head, head.in, targets, head.labels, p, grad_scale, &window_);
  tokens_ += static_cast<double>(sums.tokens);
  total_rows_ += static_cast<double>(head.in.rows);
  ObjectiveResult out;
  out.loss_sum = sums.loss_sum;
  out.correct = sums.correct;
  out.nonfinite = !std::isfinite(sums.loss_sum);
  if (out.nonfinite) ++nonfinite_steps_;
  return out;
}

void LmDistillObjective::report(nlohmann::json& record, double window_s) {
  const double n = std::max(tokens_, 1.0);
  const nlohmann::json s = source_->stats();
  record["kd"] = window_.kd_sum / n;
  record["ce"] = window_.ce_sum / n;
  record["teacher_agreement"] = static_cast<double>(window_.agree) / n;
  record["teacher_wait_s"] = fetch_s_;
  record["teacher_wait_fraction"] = window_s > 0 ? fetch_s_ / window_s : 0.0;
  record["teacher_bytes_per_token"] = s.value("bytes", int64_t{0}) / std::max(total_rows_, 1.0);
  record["nonfinite_teacher_steps"] = nonfinite_steps_;
  record["teacher_source"] = s;
  window_ = {};
  tokens_ = fetch_s_ = 0;
}

nlohmann::json LmDistillObjective::summary(double wall_s) const {
  const nlohmann::json s = source_->stats();
  return {{"teacher_wait_fraction", wall_s > 0 ? total_fetch_s_ / wall_s : 0.0},
          {"teacher_wait_s", total_fetch_s_},
          {"teacher_bytes_per_token", s.value("bytes", int64_t{0}) / std::max(total_rows_, 1.0)},
          {"teacher_messages", s.value("messages", int64_t{0})},
          {"nonfinite_teacher_steps", nonfinite_steps_}};
}

}  // namespace retort::core
