// The LM targets cache written by `retort teach` for language models and read by an LM student
// with teacher.source: cache: a directory of shard files (consecutive window ids, bit-packed and
// zstd-compressed per section, versioned header with XXH3-64 of the compressed and raw body) and
// index.json (the LmTargetsSpec, window counts, data and teacher fingerprints, one entry per shard).
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/distill/lm_target_source.h"
#include "core/distill/lm_teacher_pool.h"

namespace retort::core {

// What a cache holds.
struct LmCacheSpec {
  LmTargetsSpec targets;
  int64_t windows = 0;        // training windows (records)
  int64_t shard_windows = 0;  // windows per shard (the last shard may hold fewer)
  std::string data_fingerprint;
  std::string teacher_fingerprint;
};

inline constexpr uint32_t kLmCacheMagic = 0x544c5452u;  // "RTLT" in the file's first bytes
inline constexpr uint16_t kLmCacheVersion = 1;
inline constexpr char kLmCacheFormat[] = "retort-lm-cache";

std::string lm_shard_file_name(int64_t index);  // "shard-00003.rlt"
int64_t lm_shard_count(const LmCacheSpec& spec);
// Windows per shard: `wanted`, fewer when a shard's decoded targets would pass the reader's
// 4 GiB per-shard limit (input error when one window alone does).
int64_t lm_shard_windows(const LmTargetsSpec& spec, int64_t wanted);

// Input error naming `what`, the field and both values when `have` (what a cache was made with)
// cannot serve `expected` (what this job distills with). Dense targets may be re-tempered (they
// are raw logits), top-k and sampled may not (their lse / draws are at the cache's temperature).
void check_lm_targets_spec(const LmTargetsSpec& have, const LmTargetsSpec& expected, const std::string& what);

// Writes shard `index` (windows [index·shard_windows, +count), targets rows window-major)
// atomically; returns its index entry {file, first, count, bytes, xxh3, parts}.
nlohmann::json write_lm_shard(const std::string& dir, const LmCacheSpec& spec, int64_t index, const LmTargets& windows);
// Writes index.json atomically (write it last: a cache without an index is visibly incomplete).
void write_lm_cache_index(const std::string& dir, const LmCacheSpec& spec, const std::vector<nlohmann::json>& shards);

class LmCacheReader {
 public:
  // Reads index.json and checks it against the job (input errors name the file, the field and
  // both sides).
  LmCacheReader(std::string dir, const LmTargetsSpec& expected, const std::string& data_fingerprint,
                const std::string& teacher_fingerprint);
  const LmCacheSpec& spec() const { return spec_; }
  // Targets of windows `ids` (rows = ids.size() · seq_len, window-major) into `out`. A shard is
  // read, checked (size, header, both checksums) and decoded the first time one of its windows is.
  void gather(std::span<const int64_t> ids, LmTargets& out);
  int64_t shards_loaded() const { return static_cast<int64_t>(loaded_.size()); }
  int64_t file_bytes_read() const { return file_bytes_read_; }

 private:
  const LmTargets& shard(int64_t index);

  std::string dir_;
  LmCacheSpec spec_;
  LmTargetsSpec serve_;  // spec_.targets, at the job's temperature when dense targets are re-tempered
  std::vector<nlohmann::json> entries_;  // per shard, validated
  std::map<int64_t, LmTargets> loaded_;
  int64_t file_bytes_read_ = 0;
};

// An LmTargetSource reading the cache: stats {"messages", "bytes" (target payload bytes handed
// out), "file_bytes" (shard bytes read from disk), "wait_s" (seconds in reading and decoding)}.
std::unique_ptr<LmTargetSource> make_lm_cache_source(std::unique_ptr<LmCacheReader> reader);

// Whether `index_file` is an LM targets cache's index.json (by its "format").
bool is_lm_cache_index(const std::string& index_file);
// `retort inspect DIR/index.json` for an LM cache.
std::string describe_lm_cache(const std::string& index_file);
// `retort teach --stats DIR`: bytes per token of the whole cache (shard bytes / tokens) and of
// each part (compressed section bytes / tokens), from the index and every shard's header.
std::string lm_cache_stats(const std::string& dir);

}  // namespace retort::core
