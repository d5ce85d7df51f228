// Classification with the MLP (Fashion-MNIST): the student task of the original engine, with
// exactly its operations (so its results are bitwise what they were before tasks existed).
#pragma once
#include <vector>

#include "core/data/dataset.h"
#include "core/model/model.h"
#include "core/train/student_task.h"

namespace retort::core {

class MlpTask final : public StudentTask {
 public:
  MlpTask(const Config& config, std::shared_ptr<Compute> compute);
  Network& network() override { return model_; }
  int64_t num_samples() const override { return data_.train.size; }
  int64_t loss_terms_per_sample() const override { return 1; }
  void initialize(uint64_t seed) override { model_.initialize(seed); }
  ObjectiveResult forward_loss(Objective& objective, const StepBatch& batch, float grad_scale) override;
  void backward(const GradReadyHook& ready) override;
  EvalResult evaluate(int64_t batch_size) override;

  Model& model() { return model_; }
  const DataSplits& data() const { return data_; }

 private:
  const Config cfg_;  // a copy: the caller's Config may be a temporary
  uint64_t seed_;
  DataSplits data_;
  Model model_;
  std::vector<float> x_;
  std::vector<int32_t> y_;
  std::vector<uint64_t> ids_u64_;
  BatchContext ctx_;
};

}  // namespace retort::core
