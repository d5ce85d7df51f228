// libFuzzer target: token shards. The first input byte picks what the rest is: a shard file
// (TokenShard::open, then every token copied out in chunks) or a shard directory's
// manifest.json (read_token_manifest).
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <vector>

#include "core/data/token_shards.h"
#include "tests/fuzz/fuzz_util.h"

using namespace retort::core;

namespace {
volatile int32_t g_sink;
}

// RETORT_FUZZ_SEED_DIR=DIR: a real shard (uint16 and uint32 ids) and manifest as seeds.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const char* seeds = std::getenv("RETORT_FUZZ_SEED_DIR");
  if (!seeds) return 0;
  const auto dir = retort::fuzz::scratch_dir() / "seed-shards";
  std::filesystem::create_directories(dir);
  std::filesystem::create_directories(seeds);
  TokenShardManifest manifest;
  for (int64_t vocab : {1000, 100000}) {
    const std::string name = "train-" + std::to_string(vocab) + ".tok";
    TokenShardWriter writer((dir / name).string(), vocab, 0xabcdef);
    const std::vector<int32_t> doc1 = {1, 2, 3, 999}, doc2 = {5, 6};
    writer.append_document(doc1);
    writer.append_document(doc2);
    writer.finish();
    manifest.train.shards.push_back(name);
    manifest.train.tokens += writer.tokens();
    manifest.train.documents += writer.documents();
    std::ifstream in(dir / name, std::ios::binary);
    std::ofstream out(std::filesystem::path(seeds) / ("shard-" + std::to_string(vocab)), std::ios::binary);
    out.put(0);
    out << in.rdbuf();
  }
  manifest.vocab_size = 1000;
  manifest.tokenizer_hash = 0xabcdef;
  manifest.separator_id = 999;
  write_token_manifest(dir.string(), manifest);
  std::ifstream in(dir / "manifest.json", std::ios::binary);
  std::ofstream out(std::filesystem::path(seeds) / "manifest", std::ios::binary);
  out.put(1);
  out << in.rdbuf();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  if (data[0] & 1) {
    const auto dir = retort::fuzz::scratch_dir() / "shards";
    std::filesystem::create_directories(dir);
    retort::fuzz::write_input("shards/manifest.json", data + 1, size - 1);
    retort::fuzz::expect_clean_errors("fuzz_token_shards", [&] { read_token_manifest(dir.string()); });
    return 0;
  }
  const std::string path = retort::fuzz::write_input("input.shard", data + 1, size - 1);
  retort::fuzz::expect_clean_errors("fuzz_token_shards", [&] {
    const TokenShard shard = TokenShard::open(path);
    std::vector<int32_t> chunk(4096);
    int32_t acc = 0;
    for (int64_t begin = 0; begin < shard.tokens(); begin += 4096) {
      const int64_t n = std::min<int64_t>(4096, shard.tokens() - begin);
      shard.copy(begin, n, chunk.data());
      for (int64_t i = 0; i < n; ++i) acc ^= chunk[static_cast<size_t>(i)];
    }
    g_sink = acc;
  });
  return 0;
}
