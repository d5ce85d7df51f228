// libFuzzer target: the LM targets cache reader. Two real caches (top-k k=4 and sampled n=4,
// vocab 100, bf16, 4 windows of 2 tokens in 2 shards) are written at start-up. The first input
// byte picks the cache (bit 2) and what the rest replaces (bits 0-1): index.json (0); shard 0
// (1, with the header's and the index's XXH3 of the compressed body patched to match, so the
// checks behind the checksum are reached); or (2) the raw sections handed to the shard codec,
// split at the next 3 length bytes. Every window is then gathered.
#include <xxhash.h>

#include <cstring>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <vector>

#include "core/distill/lm_cache.h"
#include "core/distill/lm_shard_codec.h"
#include "tests/fuzz/fuzz_util.h"

namespace fs = std::filesystem;
using namespace retort::core;

namespace {
constexpr size_t kShardHeaderBytes = 128, kPackedChecksumOffset = 112;

struct Cache {
  LmCacheSpec spec;
  fs::path dir;
  std::vector<nlohmann::json> entries;
  std::vector<uint8_t> shard0;
};
Cache g_cache[2];

LmTargets window_targets(const LmTargetsSpec& s, int64_t first, int64_t windows) {
  const int64_t rows = windows * s.seq_len;
  LmTargets t = make_targets(s.kind, rows, s.vocab, s.k, s.dtype, s.temperature, s.seed);
  std::vector<int64_t> ids(static_cast<size_t>(rows));
  std::vector<int32_t> pos(static_cast<size_t>(rows));
  std::vector<float> logits(static_cast<size_t>(rows * s.vocab));
  for (int64_t r = 0; r < rows; ++r) {
    ids[r] = first + r / s.seq_len, pos[r] = static_cast<int32_t>(r % s.seq_len);
    for (int64_t j = 0; j < s.vocab; ++j) logits[r * s.vocab + j] = static_cast<float>((j * 37 + r * 11) % 17) * 0.5f;
  }
  encode_rows(logits.data(), 0, rows, {s.kind, s.k, s.dtype, s.temperature, s.seed, ids.data(), pos.data()}, t);
  for (float& lp : t.log_probs)
    if (std::isfinite(lp)) lp = retort::bf16_to_float(retort::float_to_bf16(lp));
  return t;
}

void write_bytes(const fs::path& p, const uint8_t* data, size_t size) {
  std::ofstream(p, std::ios::binary | std::ios::trunc).write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
}
}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  for (int c = 0; c < 2; ++c) {
    Cache& g = g_cache[c];
    g.dir = retort::fuzz::scratch_dir() / fmt::format("lm-cache-{}", c);
    fs::create_directories(g.dir);
    LmTargetsSpec& t = g.spec.targets;
    t.kind = c == 0 ? TargetKind::topk : TargetKind::sampled, t.k = 4, t.vocab = 100, t.dtype = retort::DType::bf16;
    t.temperature = 2, t.seed = 3, t.seq_len = 2, t.tokenizer_hash = 0xabcdef;
    g.spec.windows = 4, g.spec.shard_windows = 2, g.spec.data_fingerprint = "d", g.spec.teacher_fingerprint = "t";
    for (int64_t s = 0; s < lm_shard_count(g.spec); ++s)
      g.entries.push_back(write_lm_shard(g.dir.string(), g.spec, s, window_targets(t, 2 * s, 2)));
    write_lm_cache_index(g.dir.string(), g.spec, g.entries);
    std::ifstream in(g.dir / lm_shard_file_name(0), std::ios::binary);
    g.shard0.assign(std::istreambuf_iterator<char>(in), {});
  }
  if (const char* seeds = std::getenv("RETORT_FUZZ_SEED_DIR")) {  // mode byte + real file
    fs::create_directories(seeds);
    for (int c = 0; c < 2; ++c)
      for (auto [mode, name] : {std::pair{0, "index.json"}, std::pair{1, "shard-00000.rlt"}}) {
        std::ifstream in(g_cache[c].dir / name, std::ios::binary);
        std::string bytes((std::istreambuf_iterator<char>(in)), {});
        std::ofstream(fs::path(seeds) / fmt::format("lm-cache-{}-{}", c, name), std::ios::binary)
            << static_cast<char>(mode | (c << 2)) << bytes;
      }
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const int mode = data[0] & 3;
  Cache& g = g_cache[(data[0] >> 2) & 1];
  ++data, --size;
  if (mode == 2) {  // raw sections straight into the codec
    if (size < 3) return 0;
    std::vector<std::vector<uint8_t>> sections;
    const size_t parts = lm_section_names(g.spec.targets.kind).size();
    size_t at = 3;
    for (size_t i = 0; i < parts; ++i) {
      const size_t from = std::min(at, size), left = size - from;
      const size_t n = i + 1 < parts ? std::min<size_t>(data[i], left) : left;
      sections.emplace_back(data + from, data + from + n);
      at = from + n;
    }
    retort::fuzz::expect_clean_errors("fuzz_lm_cache", [&] { decode_lm_sections(sections, g.spec.targets, 4, "fuzz"); });
    return 0;
  }
  // Restore the real files, then replace one.
  std::vector<nlohmann::json> entries = g.entries;
  write_bytes(g.dir / lm_shard_file_name(0), g.shard0.data(), g.shard0.size());
  if (mode == 1) {
    std::vector<uint8_t> shard(data, data + size);
    if (shard.size() >= kShardHeaderBytes) {
      const uint64_t sum = XXH3_64bits(shard.data() + kShardHeaderBytes, shard.size() - kShardHeaderBytes);
      std::memcpy(shard.data() + kPackedChecksumOffset, &sum, sizeof sum);
      entries[0]["xxh3"] = fmt::format("{:016x}", sum);
      entries[0]["bytes"] = shard.size();
    }
    write_bytes(g.dir / lm_shard_file_name(0), shard.data(), shard.size());
    write_lm_cache_index(g.dir.string(), g.spec, entries);
  } else {
    write_bytes(g.dir / "index.json", data, size);
  }
  retort::fuzz::expect_clean_errors("fuzz_lm_cache", [&] {
    LmCacheReader reader(g.dir.string(), g.spec.targets, "d", "t");
    const std::vector<int64_t> ids = {0, 1, 2, 3};
    LmTargets out;
    reader.gather(ids, out);
  });
  retort::fuzz::expect_clean_errors("fuzz_lm_cache", [&] { describe_lm_cache((g.dir / "index.json").string()); });
  retort::fuzz::expect_clean_errors("fuzz_lm_cache", [&] { lm_cache_stats(g.dir.string()); });
  return 0;
}
