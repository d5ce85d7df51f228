// The stop of an offline `retort teach` job (MLP or LM cache) at a shard boundary: a stop signal
// to any rank (the watchdog relays it) ends every rank after its current shard, with only whole
// shards written and no index.json (so the cache reads as incomplete), exit 75; a rerun rewrites it.
#pragma once
#include <cstddef>
#include <string>

#include "comm/world.h"
#include "core/train/run_control.h"

namespace retort::core {

class TeachStop {
 public:
  // Rank 0 removes cache_dir/index.json (a cache from an earlier run is incomplete from now on);
  // every rank starts its stop relay.
  TeachStop(const std::string& cache_dir, comm::World& world);
  // Before each shard: true once a stop was requested on any rank (the shard loop then ends).
  bool requested();
  // Collective, after the shard loop: true when any rank stopped; each rank then logs how many
  // shards it wrote (the job returns kExitPreempted without writing index.json).
  bool any_rank_stopped(size_t shards_written);

 private:
  comm::World& world_;
  Watchdog relay_;
  bool stopped_ = false;
};

}  // namespace retort::core
