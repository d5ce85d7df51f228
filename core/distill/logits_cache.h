// The offline teacher-logits cache written by `retort teach` and read by `retort train` with
// teacher.source: cache. One record per training sample (dense or top-k + lse, in the wire
// dtype), in shards of consecutive sample ids, each shard a file with a versioned header and an
// XXH3-64 of its records, plus index.json describing the whole cache. All writes are atomic.
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "core/distill/teacher_logits.h"

namespace retort::core {

// What a cache holds; a reader refuses a cache whose description differs from what the job needs.
struct CacheSpec {
  int64_t samples = 0;        // training-set size after data.train_fraction
  int64_t vocab = 0;
  int64_t topk = 0;           // 0 = dense
  DType dtype = DType::f32;
  double temperature = 1.0;   // of the stored lse (top-k only)
  int64_t shard_rows = 0;
  std::string data_fingerprint;     // data dir, train_fraction, seed, normalize
  std::string teacher_fingerprint;  // XXH3-64 of the teacher's weights file

  nlohmann::json to_json() const;
  static CacheSpec from_json(const nlohmann::json& j, const std::string& what);
  // Input error naming `what` and the first field that differs.
  void check_matches(const CacheSpec& expected, const std::string& what) const;
};

inline constexpr uint32_t kCacheMagic = 0x434c5452u;  // "RTLC"
inline constexpr uint16_t kCacheVersion = 1;

// Shard file name of shard `index` ("shard-00003.rlc").
std::string shard_file_name(int64_t index);
int64_t shard_count(const CacheSpec& spec);

// Writes shard `index` (records of samples [index·shard_rows, +rows.rows())) atomically and
// returns its index entry {file, first, count, bytes, xxh3}.
nlohmann::json write_shard(const std::string& dir, const CacheSpec& spec, int64_t index, const EncodedLogits& rows);
// Writes index.json atomically from the spec and every shard's entry (in shard order).
void write_cache_index(const std::string& dir, const CacheSpec& spec, const std::vector<nlohmann::json>& shards);

class LogitsCacheReader {
 public:
  // Reads and validates index.json against `expected` (input errors name the file and field).
  LogitsCacheReader(std::string dir, const CacheSpec& expected);
  const CacheSpec& spec() const { return spec_; }
  // Records of `ids` into `out` (resized to ids.size() rows). Shards are loaded and verified
  // (header against the index, XXH3 of the records) the first time one of their rows is read.
  void gather(std::span<const int64_t> ids, EncodedLogits& out);
  int64_t shards_loaded() const { return static_cast<int64_t>(loaded_.size()); }

 private:
  const std::vector<std::byte>& shard(int64_t index);

  std::string dir_;
  CacheSpec spec_;
  std::vector<std::string> files_;  // per shard, from index.json (validated)
  std::vector<int64_t> bytes_;
  std::vector<std::string> xxh3_;
  std::map<int64_t, std::vector<std::byte>> loaded_;  // shard index -> records
};

// A human summary of a cache directory for `retort inspect DIR/index.json`.
std::string describe_cache(const std::string& index_file);

}  // namespace retort::core
