// LM targets cache round trips: what gather gives back is bitwise what was written, for every
// kind, dtype, power-of-two and other vocabularies (2..152064) and k / n from 1 to V; the cache
// source's counters; the inspect / --stats summaries.
#include <catch2/catch.hpp>

#include <fmt/format.h>

#include "tests/unit/lm_cache/lm_cache_fixture.h"

using namespace retort;
using core::TargetKind;

namespace {

void round_trip(const core::LmTargetsSpec& t) {
  INFO(core::target_kind_name(t.kind) << " k " << t.k << " V " << t.vocab << " " << dtype_name(t.dtype));
  test::TempDir dir;
  const core::LmCacheSpec c = test::lm_cache_spec(t, 5, 2);  // shards of 2, 2, 1 windows
  const core::LmTargets all = test::write_lm_cache(dir.str(), c);
  core::LmCacheReader reader(dir.str(), t, c.data_fingerprint, c.teacher_fingerprint);
  const std::vector<int64_t> ids = {4, 0, 3, 3, 1, 2};
  core::LmTargets got;
  reader.gather(ids, got);
  test::require_windows_equal(got, all, ids, t.seq_len);
  CHECK(reader.shards_loaded() == 3);
}

}  // namespace

TEST_CASE("lm cache: gather returns the written targets bit for bit", "[lm_cache]") {
  for (int64_t V : {int64_t{2}, int64_t{3}, int64_t{256}, int64_t{1000}, int64_t{32000}, int64_t{152064}})
    for (DType dtype : {DType::f32, DType::bf16}) {
      round_trip(test::lm_spec(TargetKind::dense, 0, V, dtype));
      for (int64_t k : {int64_t{1}, std::min<int64_t>(V, 32), V}) round_trip(test::lm_spec(TargetKind::topk, static_cast<int32_t>(k), V, dtype));
      for (int64_t n : {int64_t{1}, std::min<int64_t>(V, 16), std::min<int64_t>(V, 300)})
        round_trip(test::lm_spec(TargetKind::sampled, static_cast<int32_t>(n), V, dtype));
    }
}

TEST_CASE("lm cache: a single-window cache and a one-shard cache round trip", "[lm_cache]") {
  for (auto [windows, shard] : {std::pair<int64_t, int64_t>{1, 1}, {4, 100}}) {
    const auto t = test::lm_spec(TargetKind::sampled, 16, 500, DType::bf16, 1, 7);
    test::TempDir dir;
    const core::LmCacheSpec c = test::lm_cache_spec(t, windows, shard);
    const core::LmTargets all = test::write_lm_cache(dir.str(), c);
    core::LmCacheReader reader(dir.str(), t, c.data_fingerprint, c.teacher_fingerprint);
    std::vector<int64_t> ids;
    for (int64_t w = windows - 1; w >= 0; --w) ids.push_back(w);
    core::LmTargets got;
    reader.gather(ids, got);
    test::require_windows_equal(got, all, ids, t.seq_len);
  }
}

TEST_CASE("lm cache: dense targets are re-tempered, top-k and sampled are not", "[lm_cache]") {
  const auto made = test::lm_spec(TargetKind::dense, 0, 300, DType::bf16, 2);
  test::TempDir dir;
  const core::LmCacheSpec c = test::lm_cache_spec(made, 3, 2);
  const core::LmTargets all = test::write_lm_cache(dir.str(), c);
  auto hotter = made;
  hotter.temperature = 4;
  core::LmCacheReader reader(dir.str(), hotter, c.data_fingerprint, c.teacher_fingerprint);
  core::LmTargets got;
  const std::vector<int64_t> ids = {2, 1};
  reader.gather(ids, got);
  CHECK(got.temperature == 4.f);
  got.temperature = 2;  // the stored logits themselves are unchanged
  test::require_windows_equal(got, all, ids, made.seq_len);
}

TEST_CASE("lm cache source: fetch gathers the step's windows and counts them", "[lm_cache]") {
  const auto t = test::lm_spec(TargetKind::topk, 8, 1000, DType::bf16);
  test::TempDir dir;
  const core::LmCacheSpec c = test::lm_cache_spec(t, 6, 4);
  const core::LmTargets all = test::write_lm_cache(dir.str(), c);
  auto source = core::make_lm_cache_source(
      std::make_unique<core::LmCacheReader>(dir.str(), t, c.data_fingerprint, c.teacher_fingerprint));
  const std::vector<int64_t> a = {5, 1}, b = {0};
  test::require_windows_equal(source->fetch(0, a), all, a, t.seq_len);
  const size_t first_bytes = source->fetch(0, a).payload_bytes();
  test::require_windows_equal(source->fetch(1, b), all, b, t.seq_len);
  const nlohmann::json s = source->stats();
  CHECK(s["messages"] == 3);
  CHECK(s["bytes"].get<int64_t>() == static_cast<int64_t>(2 * first_bytes + first_bytes / 2));
  uintmax_t files = 0;
  for (const char* f : {"shard-00000.rlt", "shard-00001.rlt"}) files += std::filesystem::file_size(dir.path / f);
  CHECK(s["file_bytes"].get<uintmax_t>() == files);
  CHECK(s["wait_s"].get<double>() >= 0);
  source->close(2);
}

TEST_CASE("lm cache: inspect and --stats describe the cache from its files", "[lm_cache]") {
  const auto t = test::lm_spec(TargetKind::sampled, 16, 32000, DType::bf16, 1, 8);
  test::TempDir dir;
  const core::LmCacheSpec c = test::lm_cache_spec(t, 3, 2);
  test::write_lm_cache(dir.str(), c);
  const std::string index = (dir.path / "index.json").string();
  CHECK(core::is_lm_cache_index(index));
  const std::string d = core::describe_lm_cache(index);
  CHECK_THAT(d, Catch::Contains("windows 3 x 8 tokens") && Catch::Contains("sampled n=16") &&
                    Catch::Contains("0123456789abcdef") && Catch::Contains("teacher-fp-1"));
  uintmax_t total = 0;
  for (const char* f : {"shard-00000.rlt", "shard-00001.rlt"}) total += std::filesystem::file_size(dir.path / f);
  const std::string s = core::lm_cache_stats(dir.str());
  INFO(s);
  CHECK_THAT(s, Catch::Contains("24 tokens") && Catch::Contains(std::to_string(total) + " bytes") &&
                    Catch::Contains(fmt::format("bytes/token {:.2f}", total / 24.0)));
  for (const char* part : {"distinct", "ids", "counts", "log_probs", "headers"}) CHECK_THAT(s, Catch::Contains(part));
}
