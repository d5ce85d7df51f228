// Supervised training: the shared StudentTrainer loop with the hard-label softmax
// cross-entropy objective (on the model's Compute; for language models next-token CE through
// the chunked head), on every rank of the world.
#include "core/train/supervised.h"

#include "core/base/error.h"
#include "core/train/objective.h"
#include "core/train/run_control.h"
#include "core/train/student_trainer.h"

namespace retort::core {
namespace {

// Logits and dlogits are in the model's memory; labels on the host.
class SoftmaxXentObjective final : public Objective {
 public:
  explicit SoftmaxXentObjective(Compute& compute) : compute_(compute) {}
  ObjectiveResult compute(const StepBatch& batch, const float* logits, int64_t classes,
                          float grad_scale, float* dlogits) override {
    const auto r = compute_.softmax_xent(logits, batch.labels, dlogits, batch.rows, classes, grad_scale);
    return {r.loss_sum, r.correct, false};
  }
  // Next-token cross-entropy through the chunked head (no [tokens, vocab] logits).
  ObjectiveResult compute_lm(const StepBatch&, const LmHeadBatch& head, float grad_scale) override {
    const HeadLossSums r = lm_head_cross_entropy(*head.head, head.in,
                                                 CrossEntropyTargets{head.labels, head.ignore_index, grad_scale});
    return {r.loss_sum, r.correct, false};
  }

 private:
  Compute& compute_;
};

void validate_supervised(const Config& c) {
  validate_training(c);
  if (c.teacher.present)
    RETORT_INPUT_ERROR("run_supervised: the config has a teacher: section (use the distillation job)");
  if (c.train.epochs <= 0) RETORT_INPUT_ERROR("train.epochs must be > 0");
  if (c.train.max_steps < 0) RETORT_INPUT_ERROR("train.max_steps must be >= 0");
  if (c.train.eval_every_steps < 0 || c.train.checkpoint_every_steps < 0 || c.train.log_every_steps < 0)
    RETORT_INPUT_ERROR("train.*_every_steps must be >= 0");
  if (c.train.nan_policy != "abort" && c.train.nan_policy != "skip")
    RETORT_INPUT_ERROR("train.nan_policy must be abort or skip, got '" + c.train.nan_policy + "'");
  if (c.run.resume != "auto" && c.run.resume != "never")
    RETORT_INPUT_ERROR("run.resume must be auto or never, got '" + c.run.resume + "'");
}

}  // namespace

int run_supervised(const Config& config, comm::World& world, const SupervisedOptions& options) {
  validate_supervised(config);
  Watchdog watchdog(config.train.step_timeout_s, "rank " + std::to_string(world.rank()), abort_job_on_expiry(world));
  StudentTrainer trainer(config, world.comm());
  trainer.set_watchdog(&watchdog);
  SoftmaxXentObjective objective(trainer.network().compute());
  return trainer.run(objective, options.stop_after_step);
}

}  // namespace retort::core
