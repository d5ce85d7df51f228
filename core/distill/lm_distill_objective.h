// The LM student's distillation objective: per-token teacher targets from an LmTargetSource
// (online channel or cache), the chunked LM head fused with the KD loss (core/lm/lm_head_kd.h),
// and the per-window metrics (kd and ce terms, teacher agreement, teacher wait, bytes per token).
#pragma once
#include <memory>

#include "core/config/config.h"
#include "core/distill/lm_target_source.h"
#include "core/lm/lm_head_kd.h"
#include "core/train/objective.h"

namespace retort::core {

class LmDistillObjective final : public Objective {
 public:
  LmDistillObjective(const DistillConfig& distill, std::unique_ptr<LmTargetSource> source);
  // Classification logits are not an LM's: a runtime error (LmTask calls compute_lm).
  ObjectiveResult compute(const StepBatch& batch, const float* logits, int64_t classes, float grad_scale,
                          float* dlogits) override;
  ObjectiveResult compute_lm(const StepBatch& batch, const LmHeadBatch& head, float grad_scale) override;
  void report(nlohmann::json& record, double window_s) override;
  nlohmann::json summary(double wall_s) const override;
  void finish(int64_t end_step) override { source_->close(end_step); }
  const LmTargetSource& source() const { return *source_; }

 private:
  kernels::KdLossParams params_;
  std::unique_ptr<LmTargetSource> source_;
  // This rank's window since the last report, then the whole run.
  LmKdTerms window_;
  double tokens_ = 0, fetch_s_ = 0;
  int64_t nonfinite_steps_ = 0;
  double total_rows_ = 0, total_fetch_s_ = 0;  // rows: every token targets came for (counted or not)
};

}  // namespace retort::core
