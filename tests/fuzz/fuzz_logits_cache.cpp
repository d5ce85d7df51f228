// libFuzzer target: the logits cache reader. A real 2-shard cache (8 dense rows, vocab 3) is
// written at start-up; the first input byte picks what the rest replaces: index.json (mode 0),
// or shard 0 (mode 1, with the header checksum and index entry patched to match the bytes, so
// the header and size checks behind the checksum are reached). Every row is then gathered.
#include <xxhash.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <fmt/format.h>
#include <vector>

#include "core/distill/logits_cache.h"
#include "tests/fuzz/fuzz_util.h"

namespace fs = std::filesystem;
using namespace retort::core;

namespace {
CacheSpec g_spec;
fs::path g_dir;
std::vector<nlohmann::json> g_entries;
constexpr size_t kShardHeaderBytes = 56, kChecksumOffset = 48;

void write_bytes(const fs::path& p, const uint8_t* data, size_t size) {
  std::ofstream(p, std::ios::binary | std::ios::trunc).write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
}
}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  g_dir = retort::fuzz::scratch_dir() / "cache";
  fs::create_directories(g_dir);
  g_spec.samples = 8;
  g_spec.vocab = 3;
  g_spec.shard_rows = 4;
  g_spec.data_fingerprint = "d";
  g_spec.teacher_fingerprint = "t";
  for (int64_t s = 0; s < shard_count(g_spec); ++s) {
    std::vector<float> logits(12);
    for (size_t i = 0; i < logits.size(); ++i) logits[i] = static_cast<float>(i) * 0.25f - 1;
    EncodedLogits part;
    part.encode(logits.data(), 4, 3, {0, retort::DType::f32, 1.0f});
    g_entries.push_back(write_shard(g_dir.string(), g_spec, s, part));
  }
  if (const char* seeds = std::getenv("RETORT_FUZZ_SEED_DIR")) {  // mode byte + real file
    fs::create_directories(seeds);
    write_cache_index(g_dir.string(), g_spec, g_entries);
    for (auto [mode, name] : {std::pair{'\0', "index.json"}, std::pair{'\1', "shard-00000.rlc"}}) {
      std::ifstream in(g_dir / name, std::ios::binary);
      std::string bytes((std::istreambuf_iterator<char>(in)), {});
      std::ofstream(fs::path(seeds) / (std::string("cache-") + name), std::ios::binary) << mode << bytes;
    }
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const bool shard_mode = data[0] & 1;
  ++data, --size;
  // Restore the real files, then replace one.
  std::vector<nlohmann::json> entries = g_entries;
  {
    std::vector<float> logits(12);
    for (size_t i = 0; i < logits.size(); ++i) logits[i] = static_cast<float>(i) * 0.25f - 1;
    EncodedLogits part;
    part.encode(logits.data(), 4, 3, {0, retort::DType::f32, 1.0f});
    write_shard(g_dir.string(), g_spec, 0, part);
  }
  if (shard_mode) {
    std::vector<uint8_t> shard(data, data + size);
    if (shard.size() >= kShardHeaderBytes) {
      const uint64_t sum = XXH3_64bits(shard.data() + kShardHeaderBytes, shard.size() - kShardHeaderBytes);
      std::memcpy(shard.data() + kChecksumOffset, &sum, sizeof sum);
      entries[0]["xxh3"] = fmt::format("{:016x}", sum);
      entries[0]["bytes"] = shard.size();
    }
    write_bytes(g_dir / "shard-00000.rlc", shard.data(), shard.size());
    write_cache_index(g_dir.string(), g_spec, entries);
  } else {
    write_bytes(g_dir / "index.json", data, size);
  }
  retort::fuzz::expect_clean_errors("fuzz_logits_cache", [&] {
    LogitsCacheReader reader(g_dir.string(), g_spec);
    const std::vector<int64_t> ids = {0, 1, 2, 3, 4, 5, 6, 7};
    EncodedLogits out;
    reader.gather(ids, out);
    std::vector<std::byte> row(out.row_bytes());
    for (int64_t r = 0; r < out.rows(); ++r) out.copy_row_out(r, row.data());
  });
  retort::fuzz::expect_clean_errors("fuzz_logits_cache", [&] { describe_cache((g_dir / "index.json").string()); });
  return 0;
}
