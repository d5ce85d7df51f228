// Test support for the LM targets cache: specs, targets made by the real encoder from seeded
// peaked logits (window ids and positions as the draws' keys), a cache written to a fresh
// temporary directory, and a bitwise comparison of LmTargets.
#pragma once
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "core/distill/lm_cache.h"
#include "tests/support/numeric.h"

namespace retort::test {

inline core::LmTargetsSpec lm_spec(core::TargetKind kind, int32_t k, int64_t vocab, DType dtype, float temperature = 2,
                                   int64_t seq_len = 2) {
  core::LmTargetsSpec s;
  s.kind = kind, s.k = kind == core::TargetKind::dense ? 0 : k, s.vocab = vocab, s.dtype = dtype;
  s.temperature = temperature, s.seed = 77, s.seq_len = seq_len, s.tokenizer_hash = 0x0123456789abcdefull;
  return s;
}

// Targets of windows [first, first + windows) as the teacher would encode them. For a sampled
// bf16 spec the drawn log-probabilities are rounded to bf16 (the pool's contract).
inline core::LmTargets lm_window_targets(const core::LmTargetsSpec& s, int64_t first, int64_t windows) {
  const int64_t rows = windows * s.seq_len;
  core::LmTargets t = core::make_targets(s.kind, rows, s.vocab, s.k, s.dtype, s.temperature, s.seed);
  std::vector<int64_t> ids(static_cast<size_t>(rows));
  std::vector<int32_t> positions(static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; ++r) ids[r] = first + r / s.seq_len, positions[r] = static_cast<int32_t>(r % s.seq_len);
  core::EncodeSpec e{s.kind, s.k, s.dtype, s.temperature, s.seed, ids.data(), positions.data()};
  for (int64_t r = 0; r < rows; ++r) {
    const auto logits = random_normal(static_cast<size_t>(s.vocab), static_cast<uint32_t>(1000 * ids[r] + positions[r]), 3.f);
    core::encode_rows(logits.data(), r, 1, e, t);
  }
  if (s.kind == core::TargetKind::sampled && s.dtype == DType::bf16)
    for (float& lp : t.log_probs)
      if (std::isfinite(lp)) lp = bf16_to_float(float_to_bf16(lp));
  return t;
}

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    static std::mt19937_64 g(std::random_device{}());
    path = std::filesystem::temp_directory_path() / ("retort_lm_cache_" + std::to_string(g()));
    std::filesystem::create_directories(path);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::string str() const { return path.string(); }
};

inline core::LmCacheSpec lm_cache_spec(const core::LmTargetsSpec& t, int64_t windows, int64_t shard_windows) {
  core::LmCacheSpec c;
  c.targets = t, c.windows = windows, c.shard_windows = shard_windows;
  c.data_fingerprint = "data-fp-1", c.teacher_fingerprint = "teacher-fp-1";
  return c;
}

// Writes the whole cache of `c` into `dir`; returns every window's targets (all windows, in order).
inline core::LmTargets write_lm_cache(const std::string& dir, const core::LmCacheSpec& c) {
  std::vector<nlohmann::json> entries;
  for (int64_t i = 0; i < core::lm_shard_count(c); ++i) {
    const int64_t first = i * c.shard_windows, count = std::min(c.shard_windows, c.windows - first);
    entries.push_back(core::write_lm_shard(dir, c, i, lm_window_targets(c.targets, first, count)));
  }
  core::write_lm_cache_index(dir, c, entries);
  return lm_window_targets(c.targets, 0, c.windows);
}

inline bool same_bytes(const void* a, const void* b, size_t n) { return n == 0 || std::memcmp(a, b, n) == 0; }

// `got` rows [i·T, +T) equal `all`'s window ids[i], bit for bit, with every field equal.
inline void require_windows_equal(const core::LmTargets& got, const core::LmTargets& all, const std::vector<int64_t>& ids,
                                  int64_t T) {
  REQUIRE(got.kind == all.kind);
  REQUIRE(got.rows == static_cast<int64_t>(ids.size()) * T);
  REQUIRE(got.vocab == all.vocab);
  REQUIRE(got.k == all.k);
  REQUIRE(got.dtype == all.dtype);
  REQUIRE(same_bytes(&got.temperature, &all.temperature, 4));
  REQUIRE(got.seed == all.seed);
  const size_t slots = static_cast<size_t>(all.slots()), value = dtype_size(all.dtype);
  // Element `offset` of a section, or null for an absent (empty) section: no arithmetic on a
  // null data() pointer (UBSan).
  auto at = [](auto& v, size_t offset) { return v.empty() ? nullptr : v.data() + offset; };
  for (size_t i = 0; i < ids.size(); ++i) {
    const size_t a = i * T, b = static_cast<size_t>(ids[i] * T), n = static_cast<size_t>(T);
    INFO("window " << ids[i] << " at " << i);
    REQUIRE(got.values.size() == got.rows * slots * (all.kind == core::TargetKind::sampled ? 0 : value));
    REQUIRE(same_bytes(at(got.values, a * slots * value), at(all.values, b * slots * value),
                       all.values.empty() ? 0 : n * slots * value));
    REQUIRE(same_bytes(at(got.indices, a * slots), at(all.indices, b * slots), all.indices.empty() ? 0 : n * slots * 4));
    REQUIRE(same_bytes(at(got.lse, a), at(all.lse, b), all.lse.empty() ? 0 : n * 4));
    REQUIRE(same_bytes(at(got.counts, a * slots), at(all.counts, b * slots), all.counts.empty() ? 0 : n * slots * 2));
    REQUIRE(same_bytes(at(got.log_probs, a * slots), at(all.log_probs, b * slots),
                       all.log_probs.empty() ? 0 : n * slots * 4));
  }
}

}  // namespace retort::test
