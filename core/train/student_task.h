// What a student trains on, seen by the shared StudentTrainer loop: the network, the sample
// domain the sampler permutes, and one step's forward + objective and backward. Two tasks exist:
// classification with the MLP (mlp_task.h) and next-token language modelling with the Llama
// transformer (lm_task.h); the loop, reducer, optimizer and checkpoints are the same for both.
#pragma once
#include <memory>
#include <span>

#include "core/config/config.h"
#include "core/model/network.h"
#include "core/train/evaluate.h"
#include "core/train/objective.h"

namespace retort::core {

class StudentTask {
 public:
  virtual ~StudentTask() = default;
  virtual Network& network() = 0;
  // Sampler domain: images or sequences.
  virtual int64_t num_samples() const = 0;
  // Loss terms one sample contributes (1 for classification, counted tokens per sequence for a
  // language model): the global mean divides by batch_size times this.
  virtual int64_t loss_terms_per_sample() const = 0;
  // Tokens per sample for throughput metrics (0 = not a sequence task).
  virtual int64_t tokens_per_sample() const { return 0; }
  // Deterministic initial weights from the seed (or from student.init_from).
  virtual void initialize(uint64_t seed) { network().initialize(seed); }
  // Gathers this rank's samples `batch.ids` and runs forward and the objective; the gradient wrt
  // the network's outputs (logits, or the LM head's input) is kept for backward.
  virtual ObjectiveResult forward_loss(Objective& objective, const StepBatch& batch, float grad_scale) = 0;
  // Backward of the last forward_loss; `ready` receives finished gradient ranges.
  virtual void backward(const GradReadyHook& ready) = 0;
  // Evaluation on the held-out split (rank 0).
  virtual EvalResult evaluate(int64_t batch_size) = 0;
};

// Input error naming the key when student.arch, data.dataset, device and teacher do not fit.
void validate_task(const Config& config);
// The task `config` describes (data.dataset and student.arch), its network on `compute`.
std::unique_ptr<StudentTask> make_student_task(const Config& config, std::shared_ptr<Compute> compute);

}  // namespace retort::core
