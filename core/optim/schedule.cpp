// Learning-rate schedule evaluation (a pure function of the step).
#include "core/optim/schedule.h"

#include <algorithm>
#include <cmath>

#include "core/base/error.h"

namespace retort::core {

void validate(const ScheduleConfig& s) {
  if (s.name != "constant" && s.name != "step" && s.name != "cosine")
    RETORT_INPUT_ERROR("schedule.name must be constant, step or cosine, got '" + s.name + "'");
  if (s.warmup_steps < 0) RETORT_INPUT_ERROR("schedule.warmup_steps must be >= 0");
  if (s.name == "step" && s.step_size <= 0) RETORT_INPUT_ERROR("schedule.step_size must be > 0");
  if (s.name == "step" && !(s.gamma > 0)) RETORT_INPUT_ERROR("schedule.gamma must be > 0");
  if (!(s.min_lr >= 0)) RETORT_INPUT_ERROR("schedule.min_lr must be >= 0");
}

double learning_rate(const ScheduleConfig& s, double lr, int64_t step, int64_t total_steps) {
  if (step < s.warmup_steps)
    return lr * static_cast<double>(step + 1) / static_cast<double>(s.warmup_steps);
  const int64_t since = step - s.warmup_steps;
  if (s.name == "step")
    return lr * std::pow(s.gamma, static_cast<double>(since / s.step_size));
  if (s.name == "cosine") {
    const int64_t span = std::max<int64_t>(total_steps - s.warmup_steps, 1);
    const double t = std::min(1.0, static_cast<double>(since) / static_cast<double>(span));
    return s.min_lr + (lr - s.min_lr) * 0.5 * (1.0 + std::cos(M_PI * t));
  }
  return lr;
}

}  // namespace retort::core
