// Logits cache shards and index: writing, validating and gathering records.
#include "core/distill/logits_cache.h"

#include <xxhash.h>

#include <cstring>
#include <filesystem>
#include <fmt/format.h>

#include "core/base/error.h"
#include "core/checkpoint/durable_io.h"

namespace retort::core {
namespace fs = std::filesystem;
namespace {

// Fixed little-endian shard header; the records follow it.
struct ShardHeader {
  uint32_t magic = kCacheMagic;
  uint16_t version = kCacheVersion;
  uint8_t dtype = 0;
  uint8_t reserved = 0;
  int64_t first = 0;
  int64_t count = 0;
  int64_t vocab = 0;
  int64_t topk = 0;
  uint64_t row_bytes = 0;
  uint64_t checksum = 0;  // XXH3-64 of the records
};
static_assert(sizeof(ShardHeader) == 56);

size_t record_bytes(const CacheSpec& s) {
  const size_t v = dtype_size(s.dtype);
  return s.topk ? static_cast<size_t>(s.topk) * (4 + v) + 4 : static_cast<size_t>(s.vocab) * v;
}

}  // namespace

nlohmann::json CacheSpec::to_json() const {
  return {{"samples", samples}, {"vocab", vocab}, {"topk", topk}, {"dtype", dtype_name(dtype)},
          {"temperature", temperature}, {"shard_rows", shard_rows}, {"data", data_fingerprint},
          {"teacher", teacher_fingerprint}};
}

CacheSpec CacheSpec::from_json(const nlohmann::json& j, const std::string& what) {
  try {
    CacheSpec s;
    s.samples = j.at("samples").get<int64_t>();
    s.vocab = j.at("vocab").get<int64_t>();
    s.topk = j.at("topk").get<int64_t>();
    s.dtype = parse_dtype(j.at("dtype").get<std::string>());
    s.temperature = j.at("temperature").get<double>();
    s.shard_rows = j.at("shard_rows").get<int64_t>();
    s.data_fingerprint = j.at("data").get<std::string>();
    s.teacher_fingerprint = j.at("teacher").get<std::string>();
    if (s.samples <= 0 || s.vocab <= 0 || s.topk < 0 || s.topk > s.vocab || s.shard_rows <= 0)
      RETORT_INPUT_ERROR(what + ": cache description has impossible sizes");
    return s;
  } catch (const nlohmann::json::exception& e) {
    RETORT_INPUT_ERROR(what + ": malformed cache index: " + e.what());
  }
}

void CacheSpec::check_matches(const CacheSpec& e, const std::string& what) const {
  auto differ = [&](const char* field, const std::string& have, const std::string& want) {
    if (have != want)
      RETORT_INPUT_ERROR(fmt::format("{}: cache has {} = {}, but this job needs {} (rerun `retort teach`)",
                                     what, field, have, want));
  };
  differ("samples", std::to_string(samples), std::to_string(e.samples));
  differ("vocab", std::to_string(vocab), std::to_string(e.vocab));
  differ("topk (distill.topk)", std::to_string(topk), std::to_string(e.topk));
  differ("dtype (distill.wire_dtype)", dtype_name(dtype), dtype_name(e.dtype));
  if (topk) differ("temperature (distill.temperature)", fmt::format("{}", temperature), fmt::format("{}", e.temperature));
  differ("data (data.* and run.seed)", data_fingerprint, e.data_fingerprint);
  differ("teacher (teacher.checkpoint)", teacher_fingerprint, e.teacher_fingerprint);
}

std::string shard_file_name(int64_t index) { return fmt::format("shard-{:05d}.rlc", index); }

int64_t shard_count(const CacheSpec& s) { return (s.samples + s.shard_rows - 1) / s.shard_rows; }

nlohmann::json write_shard(const std::string& dir, const CacheSpec& spec, int64_t index, const EncodedLogits& rows) {
  RETORT_CHECK(rows.row_bytes() == record_bytes(spec), "shard records match the cache spec");
  ShardHeader h;
  h.dtype = static_cast<uint8_t>(spec.dtype);
  h.first = index * spec.shard_rows;
  h.count = rows.rows();
  h.vocab = spec.vocab;
  h.topk = spec.topk;
  h.row_bytes = rows.row_bytes();
  std::vector<uint8_t> bytes(sizeof h + h.count * h.row_bytes);
  auto* records = reinterpret_cast<std::byte*>(bytes.data() + sizeof h);
  for (int64_t r = 0; r < h.count; ++r) rows.copy_row_out(r, records + r * h.row_bytes);
  h.checksum = XXH3_64bits(records, h.count * h.row_bytes);
  std::memcpy(bytes.data(), &h, sizeof h);
  const std::string file = shard_file_name(index);
  write_file_atomic((fs::path(dir) / file).string(), bytes);
  return {{"file", file}, {"first", h.first}, {"count", h.count}, {"bytes", bytes.size()},
          {"xxh3", fmt::format("{:016x}", h.checksum)}};
}

void write_cache_index(const std::string& dir, const CacheSpec& spec, const std::vector<nlohmann::json>& shards) {
  nlohmann::json index = {{"format", "retort-logits-cache"}, {"version", kCacheVersion},
                          {"spec", spec.to_json()}, {"shards", shards}};
  const std::string text = index.dump(2) + "\n";
  write_file_atomic((fs::path(dir) / "index.json").string(),
                    std::span(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
}

LogitsCacheReader::LogitsCacheReader(std::string dir, const CacheSpec& expected) : dir_(std::move(dir)) {
  const std::string index_file = (fs::path(dir_) / "index.json").string();
  if (!fs::exists(index_file))
    RETORT_INPUT_ERROR("teacher.cache_dir: " + index_file + " does not exist (write the cache with `retort teach`)");
  const auto bytes = read_file(index_file);
  nlohmann::json index;
  try {
    index = nlohmann::json::parse(bytes.begin(), bytes.end());
  } catch (const nlohmann::json::exception& e) {
    RETORT_INPUT_ERROR(index_file + ": not valid JSON: " + e.what());
  }
  if (index.value("format", "") != "retort-logits-cache")
    RETORT_INPUT_ERROR(index_file + ": not a Retort logits cache index");
  if (index.value("version", 0) != kCacheVersion)
    RETORT_INPUT_ERROR(fmt::format("{}: cache version {} is not supported (this build reads version {})",
                                   index_file, index.value("version", 0), kCacheVersion));
  spec_ = CacheSpec::from_json(index.at("spec"), index_file);
  spec_.check_matches(expected, index_file);
  entries_ = index.at("shards");
  if (static_cast<int64_t>(entries_.size()) != shard_count(spec_))
    RETORT_INPUT_ERROR(fmt::format("{}: lists {} shards, expected {}", index_file, entries_.size(), shard_count(spec_)));
}

const std::vector<std::byte>& LogitsCacheReader::shard(int64_t index) {
  if (auto it = loaded_.find(index); it != loaded_.end()) return it->second;
  const auto& entry = entries_.at(index);
  const std::string file = (fs::path(dir_) / entry.at("file").get<std::string>()).string();
  const auto bytes = read_file(file);
  ShardHeader h;
  if (bytes.size() < sizeof h) RETORT_INPUT_ERROR(file + ": truncated shard (no header)");
  std::memcpy(&h, bytes.data(), sizeof h);
  const int64_t first = entry.at("first").get<int64_t>(), count = entry.at("count").get<int64_t>();
  if (h.magic != kCacheMagic || h.version != kCacheVersion) RETORT_INPUT_ERROR(file + ": not a version-1 Retort cache shard");
  if (h.first != first || h.count != count || h.vocab != spec_.vocab || h.topk != spec_.topk ||
      h.dtype != static_cast<uint8_t>(spec_.dtype) || h.row_bytes != record_bytes(spec_))
    RETORT_INPUT_ERROR(file + ": shard header does not match index.json");
  if (bytes.size() != sizeof h + count * h.row_bytes)
    RETORT_INPUT_ERROR(fmt::format("{}: {} bytes, expected {} (truncated or padded)", file, bytes.size(),
                                   sizeof h + count * h.row_bytes));
  const uint64_t sum = XXH3_64bits(bytes.data() + sizeof h, count * h.row_bytes);
  if (sum != h.checksum || fmt::format("{:016x}", sum) != entry.at("xxh3").get<std::string>())
    RETORT_INPUT_ERROR(file + ": checksum mismatch (corrupt shard)");
  std::vector<std::byte> records(count * h.row_bytes);
  std::memcpy(records.data(), bytes.data() + sizeof h, records.size());
  return loaded_.emplace(index, std::move(records)).first->second;
}

void LogitsCacheReader::gather(std::span<const int64_t> ids, EncodedLogits& out) {
  out.resize(static_cast<int64_t>(ids.size()), spec_.vocab, spec_.topk, spec_.dtype);
  const size_t row_bytes = record_bytes(spec_);
  for (size_t r = 0; r < ids.size(); ++r) {
    const int64_t id = ids[r];
    if (id < 0 || id >= spec_.samples)
      RETORT_RUNTIME_ERROR(fmt::format("sample id {} is outside the cache's {} samples", id, spec_.samples));
    const auto& records = shard(id / spec_.shard_rows);
    out.copy_row_in(static_cast<int64_t>(r), records.data() + (id % spec_.shard_rows) * row_bytes);
  }
}

std::string describe_cache(const std::string& index_file) {
  const auto bytes = read_file(index_file);
  const auto index = nlohmann::json::parse(bytes.begin(), bytes.end(), nullptr, false);
  if (index.is_discarded()) RETORT_INPUT_ERROR(index_file + ": not valid JSON");
  const CacheSpec s = CacheSpec::from_json(index.at("spec"), index_file);
  return fmt::format("logits cache {}\n  samples {}  vocab {}  {}  dtype {}  shards {} x {} rows\n  data {}\n  teacher {}\n",
                     index_file, s.samples, s.vocab, s.topk ? fmt::format("top-{} + lse(T={})", s.topk, s.temperature) : "dense",
                     dtype_name(s.dtype), index.at("shards").size(), s.shard_rows, s.data_fingerprint,
                     s.teacher_fingerprint);
}

}  // namespace retort::core
