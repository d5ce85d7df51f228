// The student's distillation objective: teacher logits from a TeacherSource, the fused KD loss
// (kernels/kd_loss.h, run by the student model's Compute on logits in its memory) over this
// rank's rows, and the per-window distillation metrics.
#pragma once
#include <memory>
#include <vector>

#include "core/config/config.h"
#include "core/distill/teacher_source.h"
#include "core/model/compute.h"
#include "core/train/objective.h"
#include "kernels/kd_loss.h"

namespace retort::core {

kernels::KdLossParams kd_params_from(const DistillConfig& distill);

class DistillObjective final : public Objective {
 public:
  // `compute` is the student model's: compute() gets logits and dlogits in its memory.
  DistillObjective(const DistillConfig& distill, std::unique_ptr<TeacherSource> source,
                   std::shared_ptr<Compute> compute = cpu_compute());
  ObjectiveResult compute(const StepBatch& batch, const float* logits, int64_t classes, float grad_scale,
                          float* dlogits) override;
  void report(nlohmann::json& record, double window_s) override;
  nlohmann::json summary(double wall_s) const override;
  void finish(int64_t end_step) override { source_->close(end_step); }
  const TeacherSource& source() const { return *source_; }

 private:
  kernels::KdLossParams params_;
  std::unique_ptr<TeacherSource> source_;
  std::shared_ptr<Compute> compute_;
  std::vector<float> host_logits_;  // a download of the logits for the accuracy count (device computes only)
  std::vector<float> entropy_;
  std::vector<uint8_t> agree_;
  // This rank's window since the last report.
  double kd_sum_ = 0, ce_sum_ = 0, agree_sum_ = 0, entropy_sum_ = 0, rows_ = 0, fetch_s_ = 0;
  int64_t nonfinite_steps_ = 0;
  double total_rows_ = 0, total_fetch_s_ = 0;  // the whole run
};

}  // namespace retort::core
