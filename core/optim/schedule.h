// Learning-rate schedules: constant, step, cosine, each with an optional linear warmup.
#pragma once
#include <cstdint>

#include "core/config/config.h"

namespace retort::core {

// Throws an input error naming the schedule.* key that is invalid.
void validate(const ScheduleConfig& schedule);

// Learning rate for 0-based step `step` of `total_steps`, from base rate `lr`:
//   step < W (warmup):  lr·(step+1)/W
//   else, s = step−W, T = total_steps−W:
//     constant lr;  step lr·gamma^⌊s/step_size⌋;  cosine min_lr + (lr−min_lr)·(1+cos(π·s/T))/2.
double learning_rate(const ScheduleConfig& schedule, double lr, int64_t step, int64_t total_steps);

}  // namespace retort::core
