// What a student minimises, seen by the shared training loop: given this rank's rows of a step
// and the model's logits, the loss sums and the gradient wrt the logits. Supervised training
// uses hard-label cross-entropy; distillation uses the fused KD loss against teacher logits.
// For a language model the objective owns the head's matmul (chunked with the loss), so it gets
// the final hidden states and the head instead of logits.
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <span>

#include "core/base/error.h"
#include "core/lm/lm_head_loss.h"

namespace retort::core {

struct StepBatch {
  int64_t step = 0;   // global optimizer step (0-based)
  int64_t epoch = 0;
  std::span<const int64_t> ids;  // this rank's sample ids
  const int32_t* labels = nullptr;
  int64_t rows = 0;
};

struct ObjectiveResult {
  double loss_sum = 0;     // Σ over this rank's rows of the row loss
  int64_t correct = 0;     // rows whose argmax logit is the label
  bool nonfinite = false;  // an input (e.g. teacher logits) was NaN/Inf: the step must not apply
};

// A language model's head as the objective sees it: hidden states, head weight, where dX and
// dW go, the chunk workspace, and the next-token labels (host; ignore_index = not counted).
struct LmHeadBatch {
  ChunkedHead* head = nullptr;
  HeadInputs in;
  const int32_t* labels = nullptr;  // [in.rows]
  int32_t ignore_index = -100;
};

class Objective {
 public:
  virtual ~Objective() = default;
  // logits[rows, classes] -> dlogits[rows, classes] = grad_scale · ∂(Σ row losses)/∂logits.
  virtual ObjectiveResult compute(const StepBatch& batch, const float* logits, int64_t classes,
                                  float grad_scale, float* dlogits) = 0;
  // Language models: loss sums over counted tokens; writes head.in.dhidden and accumulates
  // head.in.dweight, both times grad_scale.
  virtual ObjectiveResult compute_lm(const StepBatch& /*batch*/, const LmHeadBatch& /*head*/, float /*grad_scale*/) {
    RETORT_INPUT_ERROR("this objective does not train language models (student.arch llama trains with next-token "
                       "cross-entropy or, with a teacher, the LM distillation objective)");
  }
  // Adds objective-specific fields to a metrics record (this rank's window of `window_s`
  // seconds) and starts a new window.
  virtual void report(nlohmann::json& /*record*/, double /*window_s*/) {}
  // Fields for summary.json over the whole run of `wall_s` seconds (this rank's view).
  virtual nlohmann::json summary(double /*wall_s*/) const { return nlohmann::json::object(); }
  // Called once when the loop stops after `end_step` steps (the end of the run, a requested stop
  // or a preemption); a distillation source tells its teachers and drains its channel here.
  virtual void finish(int64_t /*end_step*/) {}
};

}  // namespace retort::core
