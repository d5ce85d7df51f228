// Units of the distillation job: batch-invariant teacher forward through a real model, dense and
// top-k encoding, and the logits cache (round trip, corruption and mismatch detection).
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include "core/base/error.h"
#include "core/distill/logits_cache.h"
#include "core/distill/teacher_logits.h"
#include "core/model/model.h"

using namespace retort;
using namespace retort::core;
namespace fs = std::filesystem;

namespace {
std::vector<float> random_rows(int64_t rows, int64_t cols, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(static_cast<size_t>(rows * cols));
  for (auto& x : v) x = d(rng);
  return v;
}
struct TempDir {
  fs::path path = fs::temp_directory_path() / ("retort-distill-" + std::to_string(std::random_device{}()));
  TempDir() { fs::create_directories(path); }
  ~TempDir() { fs::remove_all(path); }
};
}  // namespace

TEST_CASE("the teacher forward gives a sample the same logits in batches of 1, 7 and 128") {
  ModelConfig mc;
  mc.hidden = {96, 40};
  mc.activation = "gelu";
  Model model(ModelSpec{mc, 200, 10});
  model.initialize(11);
  const auto x = random_rows(128, 200, 5);
  auto forward = [&](int64_t first, int64_t rows) {
    BatchContext ctx;
    ctx.rows = rows;
    ctx.batch_invariant = true;
    const float* y = model.forward(x.data() + first * 200, ctx);
    return std::vector<float>(y, y + rows * 10);
  };
  const auto full = forward(0, 128);
  for (int64_t first : {0, 9, 64, 121}) {
    const auto seven = forward(first, 7);
    REQUIRE(std::memcmp(seven.data(), full.data() + first * 10, seven.size() * 4) == 0);
  }
  for (int64_t r : {0, 5, 77, 127}) {
    const auto one = forward(r, 1);
    REQUIRE(std::memcmp(one.data(), full.data() + r * 10, 40) == 0);
  }
}

TEST_CASE("top-k encoding keeps the k largest logits (ties to the lower index) and the exact lse") {
  const int64_t rows = 3, vocab = 9, k = 4;
  std::vector<float> t = random_rows(rows, vocab, 3, 2.0f);
  t[1] = t[2] = 50.0f;           // a tie in row 0: index 1 must come first
  t[vocab + 4] = -INFINITY;      // a masked token never enters the top-k
  EncodedLogits enc;
  enc.encode(t.data(), rows, vocab, {k, DType::f32, 2.5f});
  const comm::LogitsPayload p = enc.payload();
  REQUIRE(p.kind == comm::PayloadKind::topk);
  REQUIRE(p.indices[0] == 1);
  REQUIRE(p.indices[1] == 2);
  for (int64_t r = 0; r < rows; ++r) {
    std::vector<float> sorted(t.begin() + r * vocab, t.begin() + (r + 1) * vocab);
    std::sort(sorted.begin(), sorted.end(), std::greater<>());
    double lse_ref = 0;
    for (int64_t j = 0; j < vocab; ++j) lse_ref += std::exp(double(t[r * vocab + j]) / 2.5);
    lse_ref = std::log(lse_ref);
    CHECK(std::fabs(p.lse[r] - lse_ref) <= 1e-6 * std::fabs(lse_ref) + 1e-6);
    for (int64_t c = 0; c < k; ++c) {
      const float v = static_cast<const float*>(p.values)[r * k + c];
      CHECK(v == sorted[c]);
      CHECK(v == t[r * vocab + p.indices[r * k + c]]);
    }
  }
  const comm::LogitsPayload slice = enc.payload(1, 2);
  CHECK(slice.rows == 2);
  CHECK(slice.indices == p.indices + k);
  CHECK(slice.lse == p.lse + 1);
  CHECK_THROWS_WITH(enc.encode(t.data(), rows, vocab, {10, DType::f32, 1.0f}), Catch::Contains("distill.topk: 10"));
}

TEST_CASE("dense bf16 encoding rounds each logit to nearest even") {
  const std::vector<float> t = {1.0f, 1.00390625f, -3.14159f, 1e4f};
  EncodedLogits enc;
  enc.encode(t.data(), 1, 4, {0, DType::bf16, 1.0f});
  const auto* bits = static_cast<const uint16_t*>(enc.payload().values);
  for (int i = 0; i < 4; ++i) CHECK(bits[i] == float_to_bf16(t[i]).bits);
  CHECK(enc.row_bytes() == 8);
}

TEST_CASE("the logits cache round-trips records and refuses corrupt or mismatched shards") {
  TempDir dir;
  CacheSpec spec;
  spec.samples = 10;
  spec.vocab = 6;
  spec.topk = 2;
  spec.dtype = DType::bf16;
  spec.temperature = 2.0;
  spec.shard_rows = 4;
  spec.data_fingerprint = "data";
  spec.teacher_fingerprint = "teacher";
  const auto logits = random_rows(10, 6, 17);
  EncodedLogits all;
  all.encode(logits.data(), 10, 6, {2, DType::bf16, 2.0f});
  std::vector<nlohmann::json> entries;
  for (int64_t s = 0; s < shard_count(spec); ++s) {
    const int64_t first = s * 4, rows = std::min<int64_t>(4, 10 - first);
    EncodedLogits part;
    part.encode(logits.data() + first * 6, rows, 6, {2, DType::bf16, 2.0f});
    entries.push_back(write_shard(dir.path.string(), spec, s, part));
  }
  write_cache_index(dir.path.string(), spec, entries);

  LogitsCacheReader reader(dir.path.string(), spec);
  const std::vector<int64_t> ids = {9, 0, 5, 5};
  EncodedLogits got;
  reader.gather(ids, got);
  std::vector<std::byte> want(all.row_bytes()), have(all.row_bytes());
  for (size_t r = 0; r < ids.size(); ++r) {
    all.copy_row_out(ids[r], want.data());
    got.copy_row_out(static_cast<int64_t>(r), have.data());
    REQUIRE(want == have);
  }
  CHECK(reader.shards_loaded() == 3);

  CacheSpec other = spec;
  other.topk = 3;
  CHECK_THROWS_WITH(LogitsCacheReader(dir.path.string(), other),
                    Catch::Contains("cache has topk (distill.topk) = 2, but this job needs 3"));
  other = spec;
  other.teacher_fingerprint = "another teacher";
  CHECK_THROWS_WITH(LogitsCacheReader(dir.path.string(), other), Catch::Contains("teacher (teacher.checkpoint)"));

  const fs::path shard1 = dir.path / shard_file_name(1);
  {  // flip one byte of a record
    std::fstream f(shard1, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(60);
    char c;
    f.read(&c, 1);
    c ^= 0x10;
    f.seekp(60);
    f.write(&c, 1);
  }
  LogitsCacheReader corrupt(dir.path.string(), spec);
  const std::vector<int64_t> in_shard1 = {5};
  CHECK_THROWS_WITH(corrupt.gather(in_shard1, got), Catch::Contains("shard-00001.rlc: checksum mismatch"));
  fs::resize_file(shard1, 40);
  LogitsCacheReader truncated(dir.path.string(), spec);
  CHECK_THROWS_WITH(truncated.gather(in_shard1, got), Catch::Contains("truncated shard"));
  fs::remove(dir.path / "index.json");
  CHECK_THROWS_WITH(LogitsCacheReader(dir.path.string(), spec), Catch::Contains("write the cache with `retort teach`"));
}
