// LM targets cache: index.json, shard files (header + one zstd frame per section), the reader
// that checks everything against the job, and the summaries for inspect and --stats.
#include "core/distill/lm_cache.h"

#include <xxhash.h>
#include <zstd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>

#include "core/base/error.h"
#include "core/checkpoint/durable_io.h"
#include "core/distill/lm_shard_codec.h"

namespace retort::core {
namespace fs = std::filesystem;
namespace {

// Fixed little-endian shard header; the sections' zstd frames follow it, in order.
struct LmShardHeader {
  uint32_t magic = kLmCacheMagic;
  uint16_t version = kLmCacheVersion;
  uint8_t kind = 0;
  uint8_t dtype = 0;
  uint32_t k = 0;
  uint32_t sections = 0;
  int64_t first = 0;  // window ids [first, first + count)
  int64_t count = 0;
  int64_t vocab = 0;
  int64_t seq_len = 0;
  uint64_t raw_bytes[kMaxLmSections] = {};     // per section, before compression
  uint64_t packed_bytes[kMaxLmSections] = {};  // per section, its zstd frame
  uint64_t xxh3_packed = 0;                    // XXH3-64 of the frames (the file after the header)
  uint64_t xxh3_raw = 0;                       // XXH3-64 of the raw sections, concatenated
};
static_assert(sizeof(LmShardHeader) == 128);

constexpr int kZstdLevel = 9;
// Sizes beyond these are not a cache this build wrote (and no header may make us allocate more).
constexpr int64_t kMaxWindows = int64_t{1} << 40;
constexpr int64_t kMaxVocab = int64_t{1} << 31;
constexpr int64_t kMaxSeqLen = int64_t{1} << 24;
constexpr uint64_t kMaxShardBytes = uint64_t{1} << 34;
constexpr long double kMaxShardDecodedBytes = 4.0L * (1 << 30);

// Bytes of the decoded LmTargets of `windows` windows (what the reader keeps per shard).
long double decoded_bytes(const LmTargetsSpec& t, int64_t windows) {
  const long double rows = static_cast<long double>(windows) * t.seq_len, value = dtype_size(t.dtype);
  switch (t.kind) {
    case TargetKind::dense: return rows * t.vocab * value;
    case TargetKind::topk: return rows * (t.k * (4 + value) + 4);
    case TargetKind::sampled: return rows * t.k * 10;
  }
  return 0;
}

[[noreturn]] void missing_or_wrong(const std::string& what, const char* key, const char* type) {
  RETORT_INPUT_ERROR(fmt::format("{}: field \"{}\" is missing or not {}", what, key, type));
}
int64_t int_field(const nlohmann::json& j, const char* key, const std::string& what) {
  if (!j.is_object() || !j.contains(key) || !j[key].is_number_integer()) missing_or_wrong(what, key, "an integer");
  if (j[key].is_number_unsigned() && j[key].get<uint64_t>() > static_cast<uint64_t>(INT64_MAX))
    missing_or_wrong(what, key, "an integer below 2^63");
  return j[key].get<int64_t>();
}
uint64_t uint_field(const nlohmann::json& j, const char* key, const std::string& what) {
  if (!j.is_object() || !j.contains(key) || !j[key].is_number_unsigned()) missing_or_wrong(what, key, "an unsigned integer");
  return j[key].get<uint64_t>();
}
double number_field(const nlohmann::json& j, const char* key, const std::string& what) {
  if (!j.is_object() || !j.contains(key) || !j[key].is_number()) missing_or_wrong(what, key, "a number");
  return j[key].get<double>();
}
std::string string_field(const nlohmann::json& j, const char* key, const std::string& what) {
  if (!j.is_object() || !j.contains(key) || !j[key].is_string()) missing_or_wrong(what, key, "a string");
  return j[key].get<std::string>();
}

nlohmann::json targets_to_json(const LmTargetsSpec& s) {
  return {{"kind", target_kind_name(s.kind)}, {"k", s.k}, {"vocab", s.vocab}, {"dtype", dtype_name(s.dtype)},
          {"temperature", s.temperature}, {"seed", s.seed}, {"seq_len", s.seq_len},
          {"tokenizer_hash", fmt::format("{:016x}", s.tokenizer_hash)}};
}

LmTargetsSpec targets_from_json(const nlohmann::json& j, const std::string& what) {
  LmTargetsSpec s;
  const std::string kind = string_field(j, "kind", what);
  if (kind == "dense") s.kind = TargetKind::dense;
  else if (kind == "topk") s.kind = TargetKind::topk;
  else if (kind == "sampled") s.kind = TargetKind::sampled;
  else RETORT_INPUT_ERROR(fmt::format("{}: kind '{}' is not dense, topk or sampled", what, kind));
  const std::string dtype = string_field(j, "dtype", what);
  if (dtype != dtype_name(DType::f32) && dtype != dtype_name(DType::bf16))
    RETORT_INPUT_ERROR(fmt::format("{}: dtype '{}' is not fp32 or bf16", what, dtype));
  s.dtype = parse_dtype(dtype);
  s.vocab = int_field(j, "vocab", what);
  s.seq_len = int_field(j, "seq_len", what);
  const int64_t k = int_field(j, "k", what);
  const double t = number_field(j, "temperature", what);
  s.seed = uint_field(j, "seed", what);
  const std::string hash = string_field(j, "tokenizer_hash", what);
  if (s.vocab < 2 || s.vocab > kMaxVocab || s.seq_len < 1 || s.seq_len > kMaxSeqLen)
    RETORT_INPUT_ERROR(fmt::format("{}: vocab {} / seq_len {} out of range", what, s.vocab, s.seq_len));
  const int64_t k_max = s.kind == TargetKind::dense ? 0 : s.kind == TargetKind::topk ? s.vocab : std::min<int64_t>(s.vocab, 65535);
  if (s.kind == TargetKind::dense ? k != 0 : (k < 1 || k > k_max))
    RETORT_INPUT_ERROR(fmt::format("{}: k {} out of range for {} targets of vocab {}", what, k, kind, s.vocab));
  s.k = static_cast<int32_t>(k);
  if (!(t > 0) || !(t < 1e6)) RETORT_INPUT_ERROR(fmt::format("{}: temperature {} is not > 0", what, t));
  s.temperature = static_cast<float>(t);
  if (hash.size() != 16 || hash.find_first_not_of("0123456789abcdef") != std::string::npos)
    RETORT_INPUT_ERROR(fmt::format("{}: tokenizer_hash '{}' is not 16 hex digits", what, hash));
  s.tokenizer_hash = std::stoull(hash, nullptr, 16);
  return s;
}

std::string hex(uint64_t v) { return fmt::format("{:016x}", v); }

// index.json parsed and checked against itself: every entry is a plain file name holding exactly
// the windows its position says. Input errors name the file and the field.
struct LmCacheIndex {
  LmCacheSpec spec;
  std::vector<nlohmann::json> shards;
};

LmCacheIndex read_lm_cache_index(const std::string& index_file) {
  std::error_code ec;
  const auto size = fs::file_size(index_file, ec);
  if (ec || !fs::is_regular_file(index_file)) RETORT_INPUT_ERROR(index_file + ": not a readable regular file");
  if (size > (uintmax_t{1} << 30)) RETORT_INPUT_ERROR(index_file + ": implausibly large for a cache index");
  const auto text = read_file(index_file);
  const auto j = nlohmann::json::parse(text.begin(), text.end(), nullptr, false);
  if (j.is_discarded()) RETORT_INPUT_ERROR(index_file + ": not valid JSON");
  if (!j.is_object() || !j.contains("format") || j["format"] != kLmCacheFormat)
    RETORT_INPUT_ERROR(index_file + ": not a Retort LM targets cache index (format is not \"retort-lm-cache\")");
  if (!j.contains("version") || j["version"] != kLmCacheVersion)
    RETORT_INPUT_ERROR(fmt::format("{}: LM cache version {} is not supported (this build reads version {})", index_file,
                                   j.contains("version") ? j["version"].dump() : "(none)", kLmCacheVersion));
  LmCacheIndex out;
  LmCacheSpec& s = out.spec;
  if (!j.contains("spec")) RETORT_INPUT_ERROR(index_file + ": field \"spec\" is missing");
  s.targets = targets_from_json(j["spec"], index_file + ": spec");
  s.windows = int_field(j, "windows", index_file);
  s.shard_windows = int_field(j, "shard_windows", index_file);
  s.data_fingerprint = string_field(j, "data", index_file);
  s.teacher_fingerprint = string_field(j, "teacher", index_file);
  if (s.windows < 1 || s.windows > kMaxWindows || s.shard_windows < 1 || s.shard_windows > kMaxWindows)
    RETORT_INPUT_ERROR(fmt::format("{}: windows {} / shard_windows {} out of range", index_file, s.windows, s.shard_windows));
  if (decoded_bytes(s.targets, std::min(s.windows, s.shard_windows)) > kMaxShardDecodedBytes)
    RETORT_INPUT_ERROR(fmt::format("{}: shards of {} windows would decode to more than 4 GiB (not a cache this build writes)",
                                   index_file, s.shard_windows));
  if (!j.contains("shards") || !j["shards"].is_array())
    RETORT_INPUT_ERROR(index_file + ": field \"shards\" is missing or not a list");
  const int64_t expected = lm_shard_count(s);
  if (static_cast<int64_t>(j["shards"].size()) != expected)
    RETORT_INPUT_ERROR(fmt::format("{}: lists {} shards, expected {} ({} windows in shards of {})", index_file,
                                   j["shards"].size(), expected, s.windows, s.shard_windows));
  for (int64_t i = 0; i < expected; ++i) {
    const nlohmann::json& e = j["shards"][static_cast<size_t>(i)];
    const std::string where = fmt::format("{}: shards[{}]", index_file, i);
    const std::string file = string_field(e, "file", where);
    if (file.empty() || file.find('/') != std::string::npos || file == "." || file == "..")
      RETORT_INPUT_ERROR(fmt::format("{}: file '{}' is not a file name in the cache directory", where, file));
    const int64_t first = i * s.shard_windows, count = std::min(s.shard_windows, s.windows - first);
    const int64_t listed_first = int_field(e, "first", where), listed_count = int_field(e, "count", where);
    if (listed_first != first || listed_count != count)
      RETORT_INPUT_ERROR(fmt::format("{}: holds windows [{}, +{}), but shard_windows = {} puts windows [{}, +{}) there",
                                     where, listed_first, listed_count, s.shard_windows, first, count));
    const int64_t bytes = int_field(e, "bytes", where);
    if (bytes < static_cast<int64_t>(sizeof(LmShardHeader)) || static_cast<uint64_t>(bytes) > kMaxShardBytes)
      RETORT_INPUT_ERROR(fmt::format("{}: bytes {} out of range", where, bytes));
    string_field(e, "xxh3", where);
    out.shards.push_back(e);
  }
  return out;
}

// The header of a shard file, checked against the spec and index entry (not the body).
LmShardHeader read_checked_header(const std::string& file, const uint8_t* bytes, uint64_t file_size, const LmCacheSpec& spec,
                                  int64_t index) {
  LmShardHeader h;
  if (file_size < sizeof h) RETORT_INPUT_ERROR(fmt::format("{}: {} bytes, shorter than a shard header", file, file_size));
  std::memcpy(&h, bytes, sizeof h);
  if (h.magic != kLmCacheMagic) RETORT_INPUT_ERROR(file + ": not a Retort LM cache shard (bad magic)");
  if (h.version != kLmCacheVersion)
    RETORT_INPUT_ERROR(fmt::format("{}: shard version {}, this build reads version {}", file, h.version, kLmCacheVersion));
  const LmTargetsSpec& t = spec.targets;
  const int64_t first = index * spec.shard_windows, count = std::min(spec.shard_windows, spec.windows - first);
  const auto sections = lm_section_names(t.kind).size();
  auto differ = [&](const char* field, auto have, auto want) {
    if (have != want) RETORT_INPUT_ERROR(fmt::format("{}: header {} = {}, index.json says {}", file, field, have, want));
  };
  differ("kind", static_cast<int>(h.kind), static_cast<int>(t.kind));
  differ("dtype", static_cast<int>(h.dtype), static_cast<int>(t.dtype));
  differ("k", static_cast<int64_t>(h.k), static_cast<int64_t>(t.k));
  differ("sections", static_cast<uint64_t>(h.sections), static_cast<uint64_t>(sections));
  differ("first", h.first, first);
  differ("count", h.count, count);
  differ("vocab", h.vocab, t.vocab);
  differ("seq_len", h.seq_len, t.seq_len);
  uint64_t body = 0;
  for (size_t i = 0; i < kMaxLmSections; ++i) {
    const uint64_t max_raw = i < sections ? max_lm_section_bytes(t, count * t.seq_len, static_cast<int>(i)) : 0;
    if (h.raw_bytes[i] > max_raw || h.packed_bytes[i] > kMaxShardBytes || (i >= sections && h.packed_bytes[i] != 0))
      RETORT_INPUT_ERROR(fmt::format("{}: header section {} sizes ({} raw, {} packed) do not fit the spec (at most {} raw)",
                                     file, i, h.raw_bytes[i], h.packed_bytes[i], max_raw));
    body += h.packed_bytes[i];
  }
  if (sizeof h + body != file_size)
    RETORT_INPUT_ERROR(fmt::format("{}: {} bytes, its header accounts for {} (truncated or padded shard)", file, file_size,
                                   sizeof h + body));
  return h;
}

}  // namespace

std::string lm_shard_file_name(int64_t index) { return fmt::format("shard-{:05d}.rlt", index); }

int64_t lm_shard_count(const LmCacheSpec& s) { return (s.windows + s.shard_windows - 1) / s.shard_windows; }

int64_t lm_shard_windows(const LmTargetsSpec& spec, int64_t wanted) {
  const long double one = decoded_bytes(spec, 1);
  if (one > kMaxShardDecodedBytes)
    RETORT_INPUT_ERROR(fmt::format("LM targets cache: one window of {} {} targets (vocab {}, seq_len {}) is over the 4 GiB "
                                   "shard limit", target_kind_name(spec.kind), dtype_name(spec.dtype), spec.vocab, spec.seq_len));
  return std::max<int64_t>(1, std::min<int64_t>(wanted, static_cast<int64_t>(kMaxShardDecodedBytes / one)));
}

void check_lm_targets_spec(const LmTargetsSpec& have, const LmTargetsSpec& want, const std::string& what) {
  auto differ = [&](const char* field, const std::string& made, const std::string& needs) {
    if (made != needs)
      RETORT_INPUT_ERROR(fmt::format("{}: {}: made with {}, this job distills with {} (rerun `retort teach`)", what,
                                     field, made, needs));
  };
  differ("kind", target_kind_name(have.kind), target_kind_name(want.kind));
  differ(have.kind == TargetKind::sampled ? "n (draws per token)" : "k", std::to_string(have.k), std::to_string(want.k));
  differ("vocab", std::to_string(have.vocab), std::to_string(want.vocab));
  differ("dtype", dtype_name(have.dtype), dtype_name(want.dtype));
  differ("seq_len", std::to_string(have.seq_len), std::to_string(want.seq_len));
  differ("tokenizer hash", hex(have.tokenizer_hash), hex(want.tokenizer_hash));
  if (have.kind == TargetKind::sampled) differ("seed", std::to_string(have.seed), std::to_string(want.seed));
  if (have.kind != TargetKind::dense && have.temperature != want.temperature)
    RETORT_INPUT_ERROR(fmt::format("{}: made at temperature {}, this job distills at {} ({} targets hold {} at the "
                                   "cache's temperature and cannot be re-tempered; rerun `retort teach`)",
                                   what, have.temperature, want.temperature, target_kind_name(have.kind),
                                   have.kind == TargetKind::topk ? "the log-sum-exp" : "draws and log-probabilities"));
}

nlohmann::json write_lm_shard(const std::string& dir, const LmCacheSpec& spec, int64_t index, const LmTargets& windows) {
  const int64_t first = index * spec.shard_windows, count = std::min(spec.shard_windows, spec.windows - first);
  RETORT_CHECK(index >= 0 && count > 0 && windows.rows == count * spec.targets.seq_len,
               "LM cache shard targets are the shard's windows");
  if (decoded_bytes(spec.targets, spec.shard_windows) > kMaxShardDecodedBytes)
    RETORT_RUNTIME_ERROR(fmt::format("LM cache: shards of {} windows pass the 4 GiB limit (use lm_shard_windows)",
                                     spec.shard_windows));
  const std::vector<std::vector<uint8_t>> raw = encode_lm_sections(windows, spec.targets);
  LmShardHeader h;
  h.kind = static_cast<uint8_t>(spec.targets.kind);
  h.dtype = static_cast<uint8_t>(spec.targets.dtype);
  h.k = static_cast<uint32_t>(spec.targets.k);
  h.sections = static_cast<uint32_t>(raw.size());
  h.first = first, h.count = count, h.vocab = spec.targets.vocab, h.seq_len = spec.targets.seq_len;
  std::vector<uint8_t> file(sizeof h);
  XXH3_state_t* state = XXH3_createState();
  XXH3_64bits_reset(state);
  const std::vector<std::string> names = lm_section_names(spec.targets.kind);
  nlohmann::json parts = nlohmann::json::object();
  for (size_t i = 0; i < raw.size(); ++i) {
    XXH3_64bits_update(state, raw[i].data(), raw[i].size());
    const size_t at = file.size();
    file.resize(at + ZSTD_compressBound(raw[i].size()));
    const size_t n = ZSTD_compress(file.data() + at, file.size() - at, raw[i].data(), raw[i].size(), kZstdLevel);
    if (ZSTD_isError(n)) RETORT_RUNTIME_ERROR(std::string("LM cache: zstd compression failed: ") + ZSTD_getErrorName(n));
    file.resize(at + n);
    h.raw_bytes[i] = raw[i].size(), h.packed_bytes[i] = n;
    parts[names[i]] = n;
  }
  h.xxh3_raw = XXH3_64bits_digest(state);
  XXH3_freeState(state);
  h.xxh3_packed = XXH3_64bits(file.data() + sizeof h, file.size() - sizeof h);
  if (file.size() > kMaxShardBytes)
    RETORT_RUNTIME_ERROR(fmt::format("LM cache: shard {} would be {} bytes (over 16 GiB): use fewer windows per shard",
                                     index, file.size()));
  std::memcpy(file.data(), &h, sizeof h);
  const std::string name = lm_shard_file_name(index);
  write_file_atomic((fs::path(dir) / name).string(), file);
  return {{"file", name}, {"first", first}, {"count", count}, {"bytes", file.size()}, {"xxh3", hex(h.xxh3_packed)},
          {"parts", parts}};
}

void write_lm_cache_index(const std::string& dir, const LmCacheSpec& spec, const std::vector<nlohmann::json>& shards) {
  const nlohmann::json index = {{"format", kLmCacheFormat}, {"version", kLmCacheVersion},
                                {"spec", targets_to_json(spec.targets)}, {"windows", spec.windows},
                                {"shard_windows", spec.shard_windows}, {"data", spec.data_fingerprint},
                                {"teacher", spec.teacher_fingerprint}, {"shards", shards}};
  const std::string text = index.dump(2) + "\n";
  write_file_atomic((fs::path(dir) / "index.json").string(),
                    std::span(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
}

LmCacheReader::LmCacheReader(std::string dir, const LmTargetsSpec& expected, const std::string& data_fingerprint,
                             const std::string& teacher_fingerprint)
    : dir_(std::move(dir)) {
  const std::string index_file = (fs::path(dir_) / "index.json").string();
  if (!fs::exists(index_file))
    RETORT_INPUT_ERROR("teacher.cache_dir: " + index_file + " does not exist (write the cache with `retort teach`)");
  LmCacheIndex index = read_lm_cache_index(index_file);
  spec_ = index.spec;
  entries_ = std::move(index.shards);
  check_lm_targets_spec(spec_.targets, expected, index_file);
  if (spec_.data_fingerprint != data_fingerprint)
    RETORT_INPUT_ERROR(fmt::format("{}: data: made from {}, this job trains on {} (rerun `retort teach`)", index_file,
                                   spec_.data_fingerprint, data_fingerprint));
  if (spec_.teacher_fingerprint != teacher_fingerprint)
    RETORT_INPUT_ERROR(fmt::format("{}: teacher: made by {}, this job's teacher is {} (rerun `retort teach`)", index_file,
                                   spec_.teacher_fingerprint, teacher_fingerprint));
  serve_ = spec_.targets;
  serve_.temperature = expected.temperature;  // differs only for dense targets (re-tempered)
}

const LmTargets& LmCacheReader::shard(int64_t index) {
  if (auto it = loaded_.find(index); it != loaded_.end()) return it->second;
  const nlohmann::json& entry = entries_[static_cast<size_t>(index)];
  const std::string file = (fs::path(dir_) / entry["file"].get<std::string>()).string();
  std::error_code ec;
  const auto size = fs::file_size(file, ec);
  if (ec) RETORT_INPUT_ERROR(file + ": cannot read LM cache shard (" + ec.message() + ")");
  if (static_cast<int64_t>(size) != entry["bytes"].get<int64_t>())
    RETORT_INPUT_ERROR(fmt::format("{}: {} bytes, index.json lists {} (truncated, padded or from another cache)", file,
                                   size, entry["bytes"].get<int64_t>()));
  const std::vector<uint8_t> bytes = read_file(file);
  if (bytes.size() != size) RETORT_INPUT_ERROR(file + ": changed while being read");
  file_bytes_read_ += static_cast<int64_t>(size);
  const LmShardHeader h = read_checked_header(file, bytes.data(), size, spec_, index);
  const uint64_t packed_sum = XXH3_64bits(bytes.data() + sizeof h, size - sizeof h);
  if (packed_sum != h.xxh3_packed || hex(packed_sum) != entry["xxh3"].get<std::string>())
    RETORT_INPUT_ERROR(fmt::format("{}: checksum mismatch of the compressed body (XXH3 {}, header {}, index.json {}): corrupt shard",
                                   file, hex(packed_sum), hex(h.xxh3_packed), entry["xxh3"].get<std::string>()));
  std::vector<std::vector<uint8_t>> raw(h.sections);
  size_t at = sizeof h;
  XXH3_state_t* state = XXH3_createState();
  XXH3_64bits_reset(state);
  for (uint32_t i = 0; i < h.sections; ++i) {
    const uint8_t* frame = bytes.data() + at;
    const unsigned long long content = ZSTD_getFrameContentSize(frame, h.packed_bytes[i]);
    if (content != h.raw_bytes[i] || ZSTD_findFrameCompressedSize(frame, h.packed_bytes[i]) != h.packed_bytes[i]) {
      XXH3_freeState(state);
      RETORT_INPUT_ERROR(fmt::format("{}: section {} is not one zstd frame of {} bytes", file, i, h.raw_bytes[i]));
    }
    raw[i].resize(h.raw_bytes[i]);
    const size_t n = ZSTD_decompress(raw[i].data(), raw[i].size(), frame, h.packed_bytes[i]);
    if (ZSTD_isError(n) || n != h.raw_bytes[i]) {
      XXH3_freeState(state);
      RETORT_INPUT_ERROR(fmt::format("{}: section {} does not decompress", file, i));
    }
    XXH3_64bits_update(state, raw[i].data(), raw[i].size());
    at += h.packed_bytes[i];
  }
  const uint64_t raw_sum = XXH3_64bits_digest(state);
  XXH3_freeState(state);
  if (raw_sum != h.xxh3_raw) RETORT_INPUT_ERROR(file + ": checksum mismatch of the decompressed body: corrupt shard");
  LmTargets t = decode_lm_sections(raw, serve_, h.count * spec_.targets.seq_len, file);
  return loaded_.emplace(index, std::move(t)).first->second;
}

void LmCacheReader::gather(std::span<const int64_t> ids, LmTargets& out) {
  const LmTargetsSpec& s = serve_;
  const int64_t T = s.seq_len;
  out = make_targets(s.kind, static_cast<int64_t>(ids.size()) * T, s.vocab, s.k, s.dtype, s.temperature, s.seed);
  const size_t slots = static_cast<size_t>(out.slots()), value = dtype_size(out.dtype);
  for (size_t w = 0; w < ids.size(); ++w) {
    const int64_t id = ids[w];
    if (id < 0 || id >= spec_.windows)
      RETORT_RUNTIME_ERROR(fmt::format("{}: window {} is outside the cache's {} windows", dir_, id, spec_.windows));
    const LmTargets& src = shard(id / spec_.shard_windows);
    const size_t from = static_cast<size_t>((id % spec_.shard_windows) * T), to = w * static_cast<size_t>(T);
    const size_t n = static_cast<size_t>(T) * slots;
    auto copy = [&](auto& dst, const auto& in, size_t per_row) {
      if (!in.empty()) std::copy_n(in.begin() + from * per_row, T * per_row, dst.begin() + to * per_row);
    };
    if (!src.values.empty()) std::copy_n(src.values.begin() + from * slots * value, n * value, out.values.begin() + to * slots * value);
    copy(out.indices, src.indices, slots);
    copy(out.lse, src.lse, 1);
    copy(out.counts, src.counts, slots);
    copy(out.log_probs, src.log_probs, slots);
  }
}

bool is_lm_cache_index(const std::string& index_file) {
  std::error_code ec;
  if (!fs::is_regular_file(index_file, ec) || fs::file_size(index_file, ec) > (uintmax_t{1} << 30)) return false;
  const auto text = read_file(index_file);
  const auto j = nlohmann::json::parse(text.begin(), text.end(), nullptr, false);
  return j.is_object() && j.contains("format") && j["format"] == kLmCacheFormat;
}

std::string describe_lm_cache(const std::string& index_file) {
  const LmCacheIndex index = read_lm_cache_index(index_file);
  const LmCacheSpec& s = index.spec;
  const LmTargetsSpec& t = s.targets;
  const std::string kind = t.kind == TargetKind::topk      ? fmt::format("top-{} + lse (T={})", t.k, t.temperature)
                           : t.kind == TargetKind::sampled ? fmt::format("sampled n={} (T={}, seed {})", t.k, t.temperature, t.seed)
                                                           : std::string("dense");
  int64_t bytes = 0;
  for (const auto& e : index.shards) bytes += e["bytes"].get<int64_t>();
  return fmt::format("LM targets cache {}\n  windows {} x {} tokens  vocab {}  {}  dtype {}  shards {} x {} windows  {} bytes\n"
                     "  tokenizer {}\n  data {}\n  teacher {}\n",
                     index_file, s.windows, t.seq_len, t.vocab, kind, dtype_name(t.dtype), index.shards.size(),
                     s.shard_windows, bytes, hex(t.tokenizer_hash), s.data_fingerprint, s.teacher_fingerprint);
}

std::string lm_cache_stats(const std::string& dir) {
  const std::string index_file = (fs::path(dir) / "index.json").string();
  const LmCacheIndex index = read_lm_cache_index(index_file);
  const LmCacheSpec& s = index.spec;
  const std::vector<std::string> names = lm_section_names(s.targets.kind);
  std::vector<uint64_t> packed(names.size(), 0), raw(names.size(), 0);
  uint64_t total = 0, headers = 0;
  for (size_t i = 0; i < index.shards.size(); ++i) {
    const std::string file = (fs::path(dir) / index.shards[i]["file"].get<std::string>()).string();
    std::error_code ec;
    const auto size = fs::file_size(file, ec);
    if (ec) RETORT_INPUT_ERROR(file + ": cannot read LM cache shard (" + ec.message() + ")");
    uint8_t head[sizeof(LmShardHeader)] = {};
    std::ifstream in(file, std::ios::binary);
    in.read(reinterpret_cast<char*>(head), sizeof head);
    const LmShardHeader h = read_checked_header(file, head, size, s, static_cast<int64_t>(i));
    for (size_t p = 0; p < names.size(); ++p) packed[p] += h.packed_bytes[p], raw[p] += h.raw_bytes[p];
    total += size, headers += sizeof h;
  }
  const double tokens = static_cast<double>(s.windows * s.targets.seq_len);
  std::string out = fmt::format("{}: {} tokens ({} windows x {}), {} {} k={} vocab {}, {} shards, {} bytes\n", dir,
                                static_cast<int64_t>(tokens), s.windows, s.targets.seq_len, target_kind_name(s.targets.kind),
                                dtype_name(s.targets.dtype), s.targets.k, s.targets.vocab, index.shards.size(), total);
  out += fmt::format("  bytes/token {:.2f} (shard bytes / tokens)\n", total / tokens);
  for (size_t p = 0; p < names.size(); ++p)
    out += fmt::format("    {:<10} {:8.2f} compressed  {:8.2f} packed before zstd\n", names[p], packed[p] / tokens, raw[p] / tokens);
  out += fmt::format("    {:<10} {:8.2f}\n", "headers", headers / tokens);
  return out;
}

}  // namespace retort::core
