// MlpTask: gather (with jitter), forward, objective on the logits, backward.
#include "core/train/mlp_task.h"

namespace retort::core {

MlpTask::MlpTask(const Config& config, std::shared_ptr<Compute> compute)
    : cfg_(config),
      seed_(static_cast<uint64_t>(config.run.seed)),
      data_(load_fashion_mnist(config.data, seed_)),
      model_(ModelSpec{config.student, data_.train.features(), data_.train.classes, data_.mean, data_.stddev},
             std::move(compute)) {}

ObjectiveResult MlpTask::forward_loss(Objective& objective, const StepBatch& batch, float grad_scale) {
  const auto rows = static_cast<size_t>(batch.rows);
  x_.resize(rows * static_cast<size_t>(model_.in_features()));
  y_.resize(rows);
  ids_u64_.resize(rows);
  gather_batch(data_.train, batch.ids, x_.data(), y_.data(), cfg_.data.jitter_px, seed_,
               static_cast<uint64_t>(batch.epoch));
  for (size_t i = 0; i < rows; ++i) ids_u64_[i] = static_cast<uint64_t>(batch.ids[i]);
  ctx_ = BatchContext{batch.rows, true, ids_u64_.data(), seed_, static_cast<uint64_t>(batch.epoch)};
  const float* logits = model_.forward(x_.data(), ctx_);
  StepBatch labelled = batch;
  labelled.labels = y_.data();
  return objective.compute(labelled, logits, model_.classes(), grad_scale, model_.dlogits());
}

void MlpTask::backward(const GradReadyHook& ready) { model_.backward(model_.dlogits(), ctx_, ready); }

EvalResult MlpTask::evaluate(int64_t batch_size) { return core::evaluate(model_, data_.test, batch_size); }

}  // namespace retort::core
