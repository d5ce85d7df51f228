// Logits cache shards and index: writing, validating and gathering records.
#include "core/distill/logits_cache.h"

#include <xxhash.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fmt/format.h>
#include <type_traits>

#include "core/base/error.h"
#include "core/base/json_int.h"
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

// Sizes beyond these are not a cache this build wrote (and would overflow the byte arithmetic).
constexpr int64_t kMaxCacheSamples = int64_t{1} << 40;
constexpr int64_t kMaxCacheVocab = int64_t{1} << 32;

// j[key] as T; an input error naming `what` and the key when it is missing or of another type.
template <typename T>
T field(const nlohmann::json& j, const char* key, const std::string& what) {
  if (!j.is_object() || !j.contains(key)) RETORT_INPUT_ERROR(fmt::format("{}: field \"{}\" is missing", what, key));
  if constexpr (std::is_integral_v<T>) {
    try {
      return static_cast<T>(json_int64(j[key]));
    } catch (const nlohmann::json::type_error&) {
      if (j[key].is_number())
        RETORT_INPUT_ERROR(fmt::format("{}: field \"{}\" is not an integer below 2^63 ({})", what, key, j[key].dump()));
    }
  }
  try {
    return j[key].get<T>();
  } catch (const nlohmann::json::exception&) {
    RETORT_INPUT_ERROR(fmt::format("{}: field \"{}\" is not a {}", what, key,
                                   std::is_same_v<T, std::string> ? "string" : "number"));
  }
}

// index.json, parsed and checked against itself: the spec, and one entry per shard whose
// file is a plain name in the cache directory and whose first/count are exactly the rows that
// shard must hold. Input errors name the file and the field.
struct CacheIndex {
  CacheSpec spec;
  std::vector<std::string> files;
  std::vector<int64_t> bytes;
  std::vector<std::string> xxh3;
};

CacheIndex read_cache_index(const std::string& index_file) {
  std::error_code ec;
  const auto size = fs::file_size(index_file, ec);
  if (ec || !fs::is_regular_file(index_file)) RETORT_INPUT_ERROR(index_file + ": not a readable regular file");
  if (size > (uintmax_t{1} << 30)) RETORT_INPUT_ERROR(index_file + ": implausibly large for a cache index");
  const auto text = read_file(index_file);
  const auto index = nlohmann::json::parse(text.begin(), text.end(), nullptr, false);
  if (index.is_discarded()) RETORT_INPUT_ERROR(index_file + ": not valid JSON");
  if (!index.is_object() || !index.contains("format") || index["format"] != "retort-logits-cache")
    RETORT_INPUT_ERROR(index_file + ": not a Retort logits cache index");
  CacheIndex out;
  const int64_t version = index.contains("version") && index["version"].is_number_integer() ? index["version"].get<int64_t>() : -1;
  if (version != kCacheVersion)
    RETORT_INPUT_ERROR(fmt::format("{}: cache version {} is not supported (this build reads version {})", index_file,
                                   index.contains("version") ? index["version"].dump() : "(none)", kCacheVersion));
  if (!index.contains("spec")) RETORT_INPUT_ERROR(index_file + ": field \"spec\" is missing");
  out.spec = CacheSpec::from_json(index["spec"], index_file);
  if (!index.contains("shards") || !index["shards"].is_array())
    RETORT_INPUT_ERROR(index_file + ": field \"shards\" is missing or not a list");
  const nlohmann::json& shards = index["shards"];
  const int64_t expected = shard_count(out.spec);
  if (static_cast<int64_t>(shards.size()) != expected)
    RETORT_INPUT_ERROR(fmt::format("{}: lists {} shards, expected {} ({} samples in shards of {})", index_file,
                                   shards.size(), expected, out.spec.samples, out.spec.shard_rows));
  for (int64_t i = 0; i < expected; ++i) {
    const nlohmann::json& e = shards[static_cast<size_t>(i)];
    const std::string where = fmt::format("{}: shards[{}]", index_file, i);
    const std::string file = field<std::string>(e, "file", where);
    if (file.empty() || file.find('/') != std::string::npos || file == "." || file == "..")
      RETORT_INPUT_ERROR(fmt::format("{}: file '{}' is not a file name in the cache directory", where, file));
    const int64_t first = i * out.spec.shard_rows;
    const int64_t count = std::min(out.spec.shard_rows, out.spec.samples - first);
    const int64_t listed_first = field<int64_t>(e, "first", where), listed_count = field<int64_t>(e, "count", where);
    if (listed_first != first || listed_count != count)
      RETORT_INPUT_ERROR(fmt::format("{}: holds rows [{}, +{}), but spec.shard_rows = {} puts rows [{}, +{}) there",
                                     where, listed_first, listed_count, out.spec.shard_rows, first, count));
    out.files.push_back(file);
    out.bytes.push_back(field<int64_t>(e, "bytes", where));
    out.xxh3.push_back(field<std::string>(e, "xxh3", where));
  }
  return out;
}

}  // namespace

nlohmann::json CacheSpec::to_json() const {
  return {{"samples", samples}, {"vocab", vocab}, {"topk", topk}, {"dtype", dtype_name(dtype)},
          {"temperature", temperature}, {"shard_rows", shard_rows}, {"data", data_fingerprint},
          {"teacher", teacher_fingerprint}};
}

CacheSpec CacheSpec::from_json(const nlohmann::json& j, const std::string& what) {
  const std::string where = what + ": spec";
  CacheSpec s;
  s.samples = field<int64_t>(j, "samples", where);
  s.vocab = field<int64_t>(j, "vocab", where);
  s.topk = field<int64_t>(j, "topk", where);
  const std::string dtype = field<std::string>(j, "dtype", where);
  if (dtype != dtype_name(DType::f32) && dtype != dtype_name(DType::bf16))
    RETORT_INPUT_ERROR(fmt::format("{}: dtype '{}' is not {} or {}", where, dtype, dtype_name(DType::f32), dtype_name(DType::bf16)));
  s.dtype = parse_dtype(dtype);
  s.temperature = field<double>(j, "temperature", where);
  s.shard_rows = field<int64_t>(j, "shard_rows", where);
  s.data_fingerprint = field<std::string>(j, "data", where);
  s.teacher_fingerprint = field<std::string>(j, "teacher", where);
  if (s.samples <= 0 || s.samples > kMaxCacheSamples || s.vocab <= 0 || s.vocab > kMaxCacheVocab || s.topk < 0 ||
      s.topk > s.vocab || s.shard_rows <= 0 || s.shard_rows > kMaxCacheSamples)
    RETORT_INPUT_ERROR(what + ": cache description has impossible sizes");
  return s;
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
  CacheIndex index = read_cache_index(index_file);
  spec_ = index.spec;
  spec_.check_matches(expected, index_file);
  files_ = std::move(index.files);
  bytes_ = std::move(index.bytes);
  xxh3_ = std::move(index.xxh3);
}

const std::vector<std::byte>& LogitsCacheReader::shard(int64_t index) {
  if (auto it = loaded_.find(index); it != loaded_.end()) return it->second;
  const std::string file = (fs::path(dir_) / files_.at(static_cast<size_t>(index))).string();
  const int64_t first = index * spec_.shard_rows, count = std::min(spec_.shard_rows, spec_.samples - first);
  const uint64_t expected_bytes = sizeof(ShardHeader) + static_cast<uint64_t>(count) * record_bytes(spec_);
  std::error_code ec;
  const auto size = fs::file_size(file, ec);
  if (ec) RETORT_INPUT_ERROR(file + ": cannot read cache shard (" + ec.message() + ")");
  if (size != expected_bytes)
    RETORT_INPUT_ERROR(fmt::format("{}: {} bytes, expected {} (truncated shard, padded, or from another cache)", file,
                                   size, expected_bytes));
  if (static_cast<uint64_t>(bytes_[static_cast<size_t>(index)]) != expected_bytes)
    RETORT_INPUT_ERROR(fmt::format("{}: index.json lists {} bytes for {}, expected {}", dir_, bytes_[static_cast<size_t>(index)],
                                   files_[static_cast<size_t>(index)], expected_bytes));
  const auto bytes = read_file(file);
  ShardHeader h;
  if (bytes.size() != expected_bytes) RETORT_INPUT_ERROR(file + ": changed while being read");
  std::memcpy(&h, bytes.data(), sizeof h);
  if (h.magic != kCacheMagic || h.version != kCacheVersion) RETORT_INPUT_ERROR(file + ": not a version-1 Retort cache shard");
  if (h.first != first || h.count != count || h.vocab != spec_.vocab || h.topk != spec_.topk ||
      h.dtype != static_cast<uint8_t>(spec_.dtype) || h.row_bytes != record_bytes(spec_))
    RETORT_INPUT_ERROR(file + ": shard header does not match index.json");
  const uint64_t sum = XXH3_64bits(bytes.data() + sizeof h, count * h.row_bytes);
  if (sum != h.checksum || fmt::format("{:016x}", sum) != xxh3_[static_cast<size_t>(index)])
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
  const CacheIndex index = read_cache_index(index_file);
  const CacheSpec& s = index.spec;
  return fmt::format("logits cache {}\n  samples {}  vocab {}  {}  dtype {}  shards {} x {} rows\n  data {}\n  teacher {}\n",
                     index_file, s.samples, s.vocab, s.topk ? fmt::format("top-{} + lse(T={})", s.topk, s.temperature) : "dense",
                     dtype_name(s.dtype), index.files.size(), s.shard_rows, s.data_fingerprint, s.teacher_fingerprint);
}

}  // namespace retort::core
