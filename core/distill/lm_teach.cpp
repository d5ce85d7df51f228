// LM offline teacher inference: every teacher rank computes its shards' windows with the LM
// teacher pool (a batch of windows at a time) and writes them; rank 0 gathers the index entries,
// writes index.json last and logs bytes per token, total and per part. A top-k cache can also be
// derived from a larger-k one (each row truncated, no teacher forward).
#include "core/distill/lm_teach.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>

#include "comm/collectives.h"
#include "core/base/error.h"
#include "core/base/log.h"
#include "core/distill/lm_cache.h"
#include "core/distill/lm_teacher_pool.h"
#include "core/distill/teach_stop.h"
#include "core/train/run_control.h"
#include "core/train/lm_task.h"

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

// The first `k` pairs of every row of top-k' targets `wide` (lse unchanged).
LmTargets truncate_topk(const LmTargets& wide, int32_t k) {
  LmTargets out = make_targets(TargetKind::topk, wide.rows, wide.vocab, k, wide.dtype, wide.temperature, wide.seed);
  const size_t value = dtype_size(wide.dtype), from_k = static_cast<size_t>(wide.k), to_k = static_cast<size_t>(k);
  for (size_t r = 0; r < static_cast<size_t>(wide.rows); ++r) {
    std::copy_n(wide.indices.begin() + r * from_k, to_k, out.indices.begin() + r * to_k);
    std::copy_n(wide.values.begin() + r * from_k * value, to_k * value, out.values.begin() + r * to_k * value);
  }
  out.lse = wide.lse;
  return out;
}

// The pairs per row of the cache at `dir`, from its index.json (the reader checks the rest).
int32_t cache_topk(const std::string& dir) {
  const std::string index_file = (fs::path(dir) / "index.json").string();
  std::ifstream in(index_file);
  const nlohmann::json j = nlohmann::json::parse(in, nullptr, false);
  if (!in || j.is_discarded() || !j.contains("spec") || !j["spec"].contains("k") || !j["spec"]["k"].is_number_integer())
    RETORT_INPUT_ERROR("--from-cache: " + index_file + " is not a readable LM targets cache index with spec.k");
  if (j["spec"].value("kind", "") != "topk")
    RETORT_INPUT_ERROR("--from-cache: " + index_file + " holds " + j["spec"].value("kind", "?") + " targets, not topk");
  return j["spec"]["k"].get<int32_t>();
}

}  // namespace

int derive_lm_cache(const Config& cfg, const std::string& source_dir) {
  if (!cfg.teacher.present || cfg.teacher.cache_dir.empty())
    RETORT_INPUT_ERROR("teacher.cache_dir: retort teach --from-cache needs a teacher: section with cache_dir (where to write)");
  if (cfg.teacher.checkpoint.empty())
    RETORT_INPUT_ERROR("teacher.checkpoint: required with --from-cache (the source cache must be of this teacher)");
  std::error_code ec;
  if (fs::equivalent(source_dir, cfg.teacher.cache_dir, ec))
    RETORT_INPUT_ERROR("--from-cache: " + source_dir + " is teacher.cache_dir itself");
  LmCacheSpec spec;
  spec.targets = lm_job_targets_spec(cfg);
  if (spec.targets.kind != TargetKind::topk)
    RETORT_INPUT_ERROR(fmt::format("distill.targets: --from-cache derives top-k targets only, this config asks for {}",
                                   target_kind_name(spec.targets.kind)));
  spec.windows = load_token_splits(cfg).train.count;
  spec.shard_windows = lm_shard_windows(spec.targets, std::max<int64_t>(1, kShardTokens / spec.targets.seq_len));
  spec.data_fingerprint = lm_data_fingerprint(cfg, spec.windows, spec.targets.tokenizer_hash);
  spec.teacher_fingerprint = lm_teacher_fingerprint(cfg.teacher.checkpoint);
  LmTargetsSpec source = spec.targets;
  source.k = cache_topk(source_dir);
  if (source.k < spec.targets.k)
    RETORT_INPUT_ERROR(fmt::format("--from-cache: {} holds top-{} targets, fewer than distill.topk {}", source_dir,
                                   source.k, spec.targets.k));
  LmCacheReader reader(source_dir, source, spec.data_fingerprint, spec.teacher_fingerprint);
  fs::create_directories(cfg.teacher.cache_dir);
  std::vector<nlohmann::json> entries;
  LmTargets wide;
  for (int64_t shard = 0; shard < lm_shard_count(spec); ++shard) {
    const int64_t first = shard * spec.shard_windows, last = std::min(spec.windows, first + spec.shard_windows);
    std::vector<int64_t> ids;
    for (int64_t w = first; w < last; ++w) ids.push_back(w);
    reader.gather(ids, wide);
    entries.push_back(write_lm_shard(cfg.teacher.cache_dir, spec, shard, truncate_topk(wide, spec.targets.k)));
  }
  write_lm_cache_index(cfg.teacher.cache_dir, spec, entries);
  log::info("wrote {}/index.json: top-{} of {}'s top-{}, {} windows in {} shards", cfg.teacher.cache_dir,
            spec.targets.k, source_dir, source.k, spec.windows, entries.size());
  std::fputs(lm_cache_stats(cfg.teacher.cache_dir).c_str(), stdout);
  return 0;
}

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
  TeachStop stop(cfg.teacher.cache_dir, world);  // a stop signal ends the job at a shard boundary, exit 75
  const auto start = std::chrono::steady_clock::now();
  const int64_t batch = std::max<int64_t>(1, cfg.distill.teacher_batch > 0 ? cfg.distill.teacher_batch : cfg.train.batch_size);
  std::vector<nlohmann::json> mine;
  for (int64_t shard = world.rank(); shard < lm_shard_count(spec); shard += world.size()) {
    if (stop.requested()) break;
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
  if (stop.any_rank_stopped(mine.size())) return kExitPreempted;
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
