// `retort teach` for language models: the LM teacher pool over the cache's shards (shard i on
// teacher rank i mod ranks), rank 0 writing index.json last, and a bytes-per-token report; or
// a top-k cache derived from one of a larger k.
#pragma once
#include <string>

#include "comm/world.h"
#include "core/config/config.h"

namespace retort::core {

int run_lm_teach(const Config& config, comm::World& world);

// `retort teach CONFIG --from-cache SOURCE_DIR`: the top-k cache of `config` written from the
// top-k' cache at SOURCE_DIR (k' >= k; same teacher, data, dtype and temperature) with no teacher
// forward: each row's first k pairs (a top-k' row is ordered by descending logit, ties to the lower
// id, as a top-k encode orders it) and the same log-sum-exp, so the dropped pairs' mass joins the
// tail. Byte for byte the cache `retort teach CONFIG` writes. Input errors name the key or file.
int derive_lm_cache(const Config& config, const std::string& source_dir);

}  // namespace retort::core
