// The optimizer over a model's flat buffers: SGD (momentum, Nesterov, weight decay) or AdamW,
// with optional global-norm gradient clipping folded into the fused update (no extra pass).
// The updates run on a Compute (model/compute.h); the state lives in its memory.
#pragma once
#include <span>
#include <string>
#include <vector>

#include "core/config/config.h"
#include "core/model/mirrored_buffer.h"

namespace retort::core {

// Throws an input error naming the optim.* key that is invalid.
void validate(const OptimConfig& optim);

class Optimizer {
 public:
  Optimizer(const OptimConfig& config, int64_t num_params, std::shared_ptr<Compute> compute = cpu_compute());

  struct StepInfo {
    double grad_norm = 0;   // global L2 norm of the gradient before clipping
    double clip_scale = 1;  // factor applied to the gradient (1 = not clipped)
    bool applied = true;    // false: the norm was NaN/Inf and nothing was changed
  };
  // One update of params[n] from grads[n] (both in the compute's memory, e.g. a model's
  // device_params() and device_grads()) at learning rate lr. A non-finite gradient norm leaves
  // parameters and state untouched and returns applied = false.
  StepInfo step(std::span<float> params, std::span<const float> grads, double lr);

  const OptimConfig& config() const { return config_; }
  int64_t steps_done() const { return steps_done_; }
  void set_steps_done(int64_t steps) { steps_done_ = steps; }
  // Named state buffers, each as long as the parameter buffer: host views for checkpoints
  // (writes reach the compute's copy before the next step).
  struct State {
    std::string name;
    std::span<float> data;
  };
  std::vector<State> state();

 private:
  OptimConfig config_;
  int64_t n_;
  int64_t steps_done_ = 0;
  std::shared_ptr<Compute> compute_;
  MirroredBuffer m_, v_;
};

}  // namespace retort::core
