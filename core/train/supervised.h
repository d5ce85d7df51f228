// `retort train` without a teacher: plain supervised data-parallel training on every rank of
// the world. Writes <out_dir>/metrics.jsonl, checkpoints/, final.safetensors, summary.json.
#pragma once
#include <cstdint>

#include "comm/world.h"
#include "core/config/config.h"

namespace retort::core {

struct SupervisedOptions {
  // > 0: write a checkpoint and return after this many global steps (as if the job had been
  // stopped there); the next call with the same config resumes from it. Used by resume tests.
  int64_t stop_after_step = 0;
};

// Validates the config (input errors name the key), trains, evaluates every
// train.eval_every_steps and at the end. Returns 0; throws retort::Error on failure.
int run_supervised(const Config& config, comm::World& world, const SupervisedOptions& options = {});

}  // namespace retort::core
