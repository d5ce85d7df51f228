// Teacher-side target encoding: top-k equals a plain sort of materialised logits, lse equals a
// float64 log-sum-exp, draws are bitwise independent of chunking and batching, and the sampled
// estimator's mean over many seeds matches the dense loss and gradient within 4 standard errors.
#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <numeric>

#include "core/lm/lm_head_kd.h"
#include "core/model/cpu_compute.h"
#include "tests/support/numeric.h"
#include "tests/unit/lm_kd/kd_reference.h"

using namespace retort;
using namespace retort::core;
using namespace retort::test;

namespace {

struct Teacher {
  int64_t rows, dim, vocab;
  std::vector<float> x, w;
  std::vector<int64_t> sample_ids;
  std::vector<int32_t> positions;
  Teacher(int64_t n, int64_t d, int64_t v, uint32_t seed, float w_scale)
      : rows(n), dim(d), vocab(v), x(random_normal(n * d, seed, 1.f)), w(random_normal(v * d, seed + 1, w_scale)) {
    for (int64_t i = 0; i < n; ++i) sample_ids.push_back(100 + i / 5), positions.push_back(static_cast<int32_t>(i % 5));
  }
  std::vector<float> logits() const {
    std::vector<float> z(rows * vocab);
    cpu_compute_batch_invariant()->linear_forward(x.data(), w.data(), nullptr, z.data(), rows, dim, vocab, false);
    return z;
  }
  LmTargets encode(TargetKind kind, int32_t k, float T, uint64_t seed, int64_t chunk_rows) const {
    ChunkedHead head(cpu_compute_batch_invariant(), static_cast<size_t>(chunk_rows * vocab) * sizeof(float));
    return encode_targets(head, x.data(), w.data(), rows, dim, vocab,
                          {kind, k, DType::f32, T, seed, sample_ids.data(), positions.data()});
  }
};

}  // namespace

TEST_CASE("top-k encoding equals a plain sort of the logits; lse equals a float64 log-sum-exp", "[lm_kd]") {
  Teacher tc(23, 9, 57, 21, 0.7f);
  std::copy(tc.w.begin() + 3 * tc.dim, tc.w.begin() + 4 * tc.dim, tc.w.begin() + 8 * tc.dim);  // ties: ids 3 and 8
  const std::vector<float> z = tc.logits();
  for (float T : {1.f, 0.5f, 3.f}) {
    for (int64_t chunk : {int64_t{1}, int64_t{6}, tc.rows}) {
      const int32_t k = 10;
      const LmTargets t = tc.encode(TargetKind::topk, k, T, 0, chunk);
      t.validate("test");
      for (int64_t r = 0; r < tc.rows; ++r) {
        std::vector<std::pair<float, uint32_t>> sorted;  // (−logit, id): descending logit, ties to the lower id
        for (int64_t j = 0; j < tc.vocab; ++j) sorted.push_back({-z[r * tc.vocab + j], static_cast<uint32_t>(j)});
        std::sort(sorted.begin(), sorted.end());
        for (int32_t c = 0; c < k; ++c) {
          REQUIRE(t.indices[r * k + c] == sorted[c].second);
          float v;
          std::memcpy(&v, t.values.data() + (r * k + c) * 4, 4);
          REQUIRE(v == -sorted[c].first);
        }
        double m = -INFINITY, s = 0;
        for (int64_t j = 0; j < tc.vocab; ++j) m = std::max(m, z[r * tc.vocab + j] / static_cast<double>(T));
        for (int64_t j = 0; j < tc.vocab; ++j) s += std::exp(z[r * tc.vocab + j] / static_cast<double>(T) - m);
        REQUIRE(within_tolerance(t.lse[r], m + std::log(s), 1e-6, 1e-6));
      }
    }
  }
  // Dense targets are the logits themselves.
  const LmTargets d = tc.encode(TargetKind::dense, 0, 1.f, 0, 4);
  REQUIRE(std::memcmp(d.values.data(), z.data(), z.size() * 4) == 0);
}

TEST_CASE("sampled draws do not depend on chunking or batching (bitwise)", "[lm_kd]") {
  Teacher tc(31, 8, 43, 31, 1.f);
  const LmTargets ref = tc.encode(TargetKind::sampled, 16, 1.5f, 99, tc.rows);
  ref.validate("test");
  for (int64_t chunk : {int64_t{1}, int64_t{3}, int64_t{10}}) {
    const LmTargets t = tc.encode(TargetKind::sampled, 16, 1.5f, 99, chunk);
    REQUIRE(t.indices == ref.indices);
    REQUIRE(t.counts == ref.counts);
    REQUIRE(std::memcmp(t.log_probs.data(), ref.log_probs.data(), ref.log_probs.size() * 4) == 0);
  }
  // The same tokens in another batch: reversed, and only the first 11 rows.
  Teacher other = tc;
  other.rows = 11;
  for (int64_t i = 0; i < other.rows; ++i) {
    const int64_t src = tc.rows - 1 - i;
    std::copy(tc.x.begin() + src * tc.dim, tc.x.begin() + (src + 1) * tc.dim, other.x.begin() + i * tc.dim);
    other.sample_ids[i] = tc.sample_ids[src];
    other.positions[i] = tc.positions[src];
  }
  other.x.resize(other.rows * other.dim);
  const LmTargets b = other.encode(TargetKind::sampled, 16, 1.5f, 99, 4);
  for (int64_t i = 0; i < other.rows; ++i) {
    const int64_t src = tc.rows - 1 - i;
    for (int64_t s = 0; s < 16; ++s) {
      REQUIRE(b.indices[i * 16 + s] == ref.indices[src * 16 + s]);
      REQUIRE(b.counts[i * 16 + s] == ref.counts[src * 16 + s]);
      REQUIRE(std::memcmp(&b.log_probs[i * 16 + s], &ref.log_probs[src * 16 + s], 4) == 0);
    }
  }
  // Another seed draws differently; draws follow the keys, not the row index.
  const LmTargets seeded = tc.encode(TargetKind::sampled, 16, 1.5f, 100, tc.rows);
  REQUIRE(seeded.counts != ref.counts);
}

TEST_CASE("sampled estimator is unbiased: mean over seeds matches the dense loss and gradient", "[lm_kd]") {
  // Student head (x, w) and teacher logits; the dense fkl reference in float64.
  const int64_t n = 4, d = 6, v = 80, checked_vocab = 8;  // dW checked on its first 8 rows
  const float T = 2.f;
  Teacher tc(n, 5, v, 41, 0.9f);
  const std::vector<float> x = random_normal(n * d, 43, 1.f), w = random_normal(v * d, 44, 0.5f);
  const std::vector<float> tl = tc.logits();
  const std::vector<double> t_dense(tl.begin(), tl.end());
  std::vector<int32_t> labels = {1, 2, -100, 3};  // one ignored row
  kernels::KdLossParams p;
  p.temperature = T;
  const float scale = 1.f / 3;
  const LmTargets dense = make_targets(TargetKind::dense, n, v, 0, DType::f32, T, 0);
  const KdReference ref = kd_reference(x, w, n, d, v, dense, t_dense, labels, p, scale);

  for (int32_t draws : {4, 16, 64}) {
    const int seeds = 4000;
    std::vector<double> mean(1 + n * d + checked_vocab * d, 0.0), sq(mean.size(), 0.0);
    ChunkedHead head(cpu_compute(), 3 * v * sizeof(float));
    std::vector<float> dx(n * d), dw(v * d);
    for (int s = 0; s < seeds; ++s) {
      const LmTargets t = tc.encode(TargetKind::sampled, draws, T, 1000 + s, n);
      std::fill(dw.begin(), dw.end(), 0.f);
      const HeadLossSums r = lm_head_kd(head, {x.data(), w.data(), n, d, v, dx.data(), dw.data()}, t, labels.data(), p, scale);
      REQUIRE(r.tokens == 3);
      std::vector<double> obs{r.loss_sum * scale};
      obs.insert(obs.end(), dx.begin(), dx.end());
      obs.insert(obs.end(), dw.begin(), dw.begin() + checked_vocab * d);
      for (size_t i = 0; i < obs.size(); ++i) mean[i] += obs[i], sq[i] += obs[i] * obs[i];
    }
    std::vector<double> want{ref.loss_sum * scale};
    want.insert(want.end(), ref.dx.begin(), ref.dx.end());
    want.insert(want.end(), ref.dw.begin(), ref.dw.begin() + checked_vocab * d);
    double worst_z = 0, grad_var = 0;
    int64_t constant = 0;
    for (size_t i = 0; i < mean.size(); ++i) {
      const double m = mean[i] / seeds, var = std::max(0.0, sq[i] / seeds - m * m) * seeds / (seeds - 1);
      const double se = std::sqrt(var / seeds);
      INFO(fmt::format("draws {} coordinate {}: mean {} dense {} se {}", draws, i, m, want[i], se));
      if (se == 0) {  // not random: only the ignored row's dX, which must be exactly 0
        REQUIRE(want[i] == 0);
        REQUIRE(m == 0);
        ++constant;
        continue;
      }
      REQUIRE(std::abs(m - want[i]) <= 4 * se);
      worst_z = std::max(worst_z, std::abs(m - want[i]) / se);
      if (i > 0) grad_var += var / static_cast<double>(mean.size() - 1 - d);
    }
    REQUIRE(constant == d);  // row 2 is ignored: its d coordinates of dX; everything else varies
    const double loss_mean = mean[0] / seeds;
    const double loss_sd = std::sqrt(std::max(0.0, sq[0] / seeds - loss_mean * loss_mean));
    std::printf("sampled fkl estimator, n=%d draws, %d seeds, T=%.1f, V=%lld: mean loss %.6f (dense %.6f), "
                "loss sd %.6f (%.1f%% of dense), mean gradient-coordinate variance %.3e, worst |mean-dense|/se %.2f\n",
                draws, seeds, T, static_cast<long long>(v), loss_mean, want[0], loss_sd, 100 * loss_sd / want[0],
                grad_var, worst_z);
  }
}
