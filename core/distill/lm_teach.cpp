// LM offline teacher inference: every teacher rank computes its shards' windows with the LM
// teacher pool (a batch of windows at a time) and writes them; rank 0 gathers the index entries,
// writes index.json last and logs bytes per token, total and per part.
#include "core/distill/lm_teach.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fmt/format.h>

#include "comm/collectives.h"
#include "core/base/error.h"
#include "core/base/log.h"
#include "core/distill/lm_cache.h"
#include "core/distill/lm_teacher_pool.h"
#include "core/train/run_control.h"

namespace retort::core {
namespace fs = std::filesystem;
namespace {

constexpr int64_t kShardTokens = int64_t{1} << 16;  // tokens per shard file (fewer if over the size limit)

// Appends `more`'s rows to `all` (same kind and sizes per row).
void append_rows(LmTargets& all, const LmTargets& more) {
  all.rows += more.rows;
  all.values.insert(all.values.end(), more.values.begin(), more.values.end());
  all.indices.insert(all.indices.end(), more.indices.begin(), more.indices.end());
  all.lse.insert(all.lse.end(), more.lse.begin(), more.lse.end());
  all.counts.insert(all.counts.end(), more.counts.begin(), more.counts.end());
  all.log_probs.insert(all.log_probs.end(), more.log_probs.begin(), more.log_probs.end());
}

// Every rank's JSON entries, on rank 0 (others get an empty list).
std::vector<nlohmann::json> gather_entries(const std::vector<nlohmann::json>& mine, comm::World& world) {
  std::vector<nlohmann::json> out;
  for (const std::string& text : comm::Group(world.comm()).gather(nlohmann::json(mine).dump(), 0))
    for (const auto& e : nlohmann::json::parse(text)) out.push_back(e);
  return out;
}

}  // namespace

int run_lm_teach(const Config& cfg, comm::World& world) {
  if (!cfg.teacher.present || cfg.teacher.cache_dir.empty())
    RETORT_INPUT_ERROR("teacher.cache_dir: retort teach needs a teacher: section with cache_dir (where to write the cache)");
  log::set_identity(world.size() > 1 ? world.rank() : -1, "teacher");
  LmTeacherPool pool(cfg);
  LmCacheSpec spec;
  spec.targets = pool.spec();
  spec.windows = pool.train_windows();
  spec.shard_windows = lm_shard_windows(spec.targets, std::max<int64_t>(1, kShardTokens / spec.targets.seq_len));
  spec.data_fingerprint = pool.data_fingerprint();
  spec.teacher_fingerprint = pool.teacher_fingerprint();
  if (spec.windows < 1) RETORT_INPUT_ERROR("data: the training split has no windows to write a cache of");
  fs::create_directories(cfg.teacher.cache_dir);
  // A stop signal (to any rank: the watchdog relays it) ends the job at the next shard boundary:
  // the shards written are whole, no index.json (removed first) marks the cache complete, exit 75.
  if (world.rank() == 0) fs::remove(fs::path(cfg.teacher.cache_dir) / "index.json");
  Watchdog stop_relay(0, fmt::format("teacher rank {}", world.rank()), nullptr);
  bool stopped = false;
  const auto start = std::chrono::steady_clock::now();
  const int64_t batch = std::max<int64_t>(1, cfg.distill.teacher_batch > 0 ? cfg.distill.teacher_batch : cfg.train.batch_size);
  std::vector<nlohmann::json> mine;
  for (int64_t shard = world.rank(); shard < lm_shard_count(spec); shard += world.size()) {
    if ((stopped = stop_requested())) break;
    const int64_t first = shard * spec.shard_windows, last = std::min(spec.windows, first + spec.shard_windows);
    LmTargets targets, part;
    for (int64_t b = first; b < last; b += batch) {
      std::vector<int64_t> ids;
      for (int64_t w = b; w < std::min(last, b + batch); ++w) ids.push_back(w);
      pool.compute(ids, part);
      if (b == first) targets = std::move(part);
      else append_rows(targets, part);
    }
    mine.push_back(write_lm_shard(cfg.teacher.cache_dir, spec, shard, targets));
    log::info("LM cache shard {} (windows {}..{}) written, {} bytes", shard, first, last - 1,
              mine.back()["bytes"].get<int64_t>());
  }
  double ranks_stopped = stopped ? 1 : 0;
  comm::Group(world.comm()).sum(&ranks_stopped, 1);
  if (ranks_stopped > 0) {
    log::warn("stopped on request after {} shard(s) of this rank; no index.json written: rerun to write the cache",
              mine.size());
    return kExitPreempted;
  }
  std::vector<nlohmann::json> entries = gather_entries(mine, world);
  if (world.rank() != 0) return 0;
  std::sort(entries.begin(), entries.end(),
            [](const nlohmann::json& a, const nlohmann::json& b) { return a["first"].get<int64_t>() < b["first"].get<int64_t>(); });
  write_lm_cache_index(cfg.teacher.cache_dir, spec, entries);
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  log::info("wrote {}/index.json: {} windows in {} shards, {:.1f} s", cfg.teacher.cache_dir, spec.windows, entries.size(), wall);
  std::fputs(lm_cache_stats(cfg.teacher.cache_dir).c_str(), stdout);
  return 0;
}

}  // namespace retort::core
