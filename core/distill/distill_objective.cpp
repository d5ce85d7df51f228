// DistillObjective: fetch the step's teacher logits (host memory), run the fused KD loss and
// scale the gradient through the student's Compute, count accuracy and agreement on the host.
#include "core/distill/distill_objective.h"

#include <chrono>
#include <cmath>

#include "core/base/error.h"

namespace retort::core {

kernels::KdLossParams kd_params_from(const DistillConfig& d) {
  kernels::KdLossParams p;
  p.temperature = static_cast<float>(d.temperature);
  p.alpha = static_cast<float>(d.alpha);
  p.beta = static_cast<float>(d.beta);
  p.divergence = kernels::parse_divergence(d.divergence.c_str());
  p.tail = d.tail == "renormalize" ? kernels::Tail::renormalize : kernels::Tail::bucket;
  p.reduction = kernels::Reduction::sum;  // the loop scales to the global-batch mean
  return p;
}

DistillObjective::DistillObjective(const DistillConfig& distill, std::unique_ptr<TeacherSource> source,
                                   std::shared_ptr<Compute> compute)
    : params_(kd_params_from(distill)), source_(std::move(source)), compute_(std::move(compute)) {}

ObjectiveResult DistillObjective::compute(const StepBatch& batch, const float* logits, int64_t classes,
                                          float grad_scale, float* dlogits) {
  const auto t0 = std::chrono::steady_clock::now();
  const kernels::TeacherLogits teacher = source_->fetch(batch.step, batch.ids);
  const double fetch_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  fetch_s_ += fetch_s;
  total_fetch_s_ += fetch_s;
  total_rows_ += static_cast<double>(batch.rows);

  entropy_.resize(static_cast<size_t>(batch.rows));
  agree_.resize(static_cast<size_t>(batch.rows));
  const kernels::KdLossResult r =
      compute_->kd_loss(logits, teacher, batch.labels, dlogits, batch.rows, classes, params_, grad_scale,
                        kernels::KdLossMetrics{entropy_.data(), agree_.data()});
  const float* host_logits = logits;
  if (!compute_->host_memory()) {
    host_logits_.resize(static_cast<size_t>(batch.rows * classes));
    compute_->download(host_logits_.data(), logits, host_logits_.size() * sizeof(float));
    host_logits = host_logits_.data();
  }

  ObjectiveResult out;
  out.loss_sum = r.loss;
  out.nonfinite = r.nonfinite_input || !std::isfinite(r.loss);
  for (int64_t row = 0; row < batch.rows; ++row) {
    const float* zr = host_logits + row * classes;
    int64_t best = 0;
    for (int64_t c = 1; c < classes; ++c)
      if (zr[c] > zr[best]) best = c;
    out.correct += best == batch.labels[row];
    agree_sum_ += agree_[row];
    entropy_sum_ += entropy_[row];
  }
  if (out.nonfinite) ++nonfinite_steps_;
  kd_sum_ += r.kd;
  ce_sum_ += r.ce;
  rows_ += static_cast<double>(batch.rows);
  return out;
}

nlohmann::json DistillObjective::summary(double wall_s) const {
  const nlohmann::json s = source_->stats();
  return {{"teacher_wait_fraction", wall_s > 0 ? total_fetch_s_ / wall_s : 0.0},
          {"teacher_wait_s", total_fetch_s_},
          {"bytes_received_per_sample", s.value("bytes", int64_t{0}) / std::max(total_rows_, 1.0)},
          {"teacher_messages", s.value("messages", int64_t{0})},
          {"nonfinite_teacher_steps", nonfinite_steps_}};
}

void DistillObjective::report(nlohmann::json& record, double window_s) {
  const double n = std::max(rows_, 1.0);
  record["kd"] = kd_sum_ / n;
  record["ce"] = ce_sum_ / n;
  record["teacher_agreement"] = agree_sum_ / n;
  record["teacher_entropy"] = entropy_sum_ / n;
  record["teacher_wait_s"] = fetch_s_;
  record["teacher_wait_fraction"] = window_s > 0 ? fetch_s_ / window_s : 0.0;
  record["nonfinite_teacher_steps"] = nonfinite_steps_;
  record["teacher_source"] = source_->stats();
  kd_sum_ = ce_sum_ = agree_sum_ = entropy_sum_ = rows_ = fetch_s_ = 0;
}

}  // namespace retort::core
