// `retort teach` for language models: the LM teacher pool over the cache's shards (shard i on
// teacher rank i mod ranks), rank 0 writing index.json last, and a bytes-per-token report.
#pragma once
#include "comm/world.h"
#include "core/config/config.h"

namespace retort::core {

int run_lm_teach(const Config& config, comm::World& world);

}  // namespace retort::core
