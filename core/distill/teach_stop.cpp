// The shard-boundary stop of an offline `retort teach` job (see teach_stop.h).
#include "core/distill/teach_stop.h"

#include <filesystem>
#include <fmt/format.h>

#include "comm/collectives.h"
#include "core/base/log.h"

namespace retort::core {

TeachStop::TeachStop(const std::string& cache_dir, comm::World& world)
    : world_(world), relay_(0, fmt::format("teacher rank {}", world.rank()), nullptr) {
  if (world.rank() == 0) std::filesystem::remove(std::filesystem::path(cache_dir) / "index.json");
}

bool TeachStop::requested() { return stopped_ = stopped_ || stop_requested(); }

bool TeachStop::any_rank_stopped(size_t shards_written) {
  double ranks_stopped = stopped_ ? 1 : 0;
  comm::Group(world_.comm()).sum(&ranks_stopped, 1);
  if (ranks_stopped == 0) return false;
  log::warn("stopped on request after {} shard(s) of this rank; no index.json written: rerun to write the cache",
            shards_written);
  return true;
}

}  // namespace retort::core
