// The kd_loss test suite, parameterised by backend (CPU, emulated CUDA, real device): random
// shapes vs the float64 reference, finite differences, identities and edge cases.
#pragma once
#include "core/base/error.h"
#include "tests/unit/kernels/kd_loss_harness.h"

namespace retort::kernels::test {

struct Limits {
  int64_t max_rows = 9;
  int64_t max_vocab = 3000;
  int iterations = 48;
  int64_t huge_vocab = 262144;  // the V=262144 edge case (one row)
};

inline double grad_eps(DType student) { return student == DType::bf16 ? 2e-2 : 1e-5; }
inline constexpr double kLossEps = 1e-5;

inline KdLossParams params_for(int i, std::mt19937_64& rng) {
  KdLossParams p;
  p.divergence = static_cast<Divergence>(i % 4);
  p.beta = std::uniform_real_distribution<float>(0.1f, 0.9f)(rng);
  const float temps[] = {1.0f, 2.0f, 0.5f, 1.7f};
  p.temperature = temps[(i / 4) % 4];
  p.alpha = (i / 2) % 2 ? 0.3f : 0.0f;
  p.tail = (i / 3) % 2 ? Tail::renormalize : Tail::bucket;
  p.reduction = (i / 5) % 2 ? Reduction::sum : Reduction::mean;
  return p;
}

inline void check_random_shapes(const Caller& call, const Limits& lim) {
  std::mt19937_64 rng(test_seed());
  for (int it = 0; it < lim.iterations; ++it) {
    const int64_t rows = std::uniform_int_distribution<int64_t>(1, lim.max_rows)(rng);
    const double log_v = std::uniform_real_distribution<double>(0.0, std::log(static_cast<double>(lim.max_vocab)))(rng);
    const int64_t V = std::max<int64_t>(1, static_cast<int64_t>(std::exp(log_v)));
    const bool topk = it % 3 != 0;
    const int64_t k = topk ? std::uniform_int_distribution<int64_t>(1, std::min<int64_t>(V, 80))(rng) : 0;
    const DType zd = (it / 7) % 2 ? DType::bf16 : DType::f32;
    const DType td = (it / 11) % 2 ? DType::bf16 : DType::f32;
    const KdLossParams params = params_for(it, rng);
    const Problem pb = random_problem(rng, rows, V, k, zd, td, params, params.alpha > 0 || it % 2);
    compare(pb, run_problem(pb, call), kLossEps, grad_eps(zd));
  }
}

// Kernel gradients against central differences of the float64 reference loss.
inline void check_finite_difference(const Caller& call) {
  std::mt19937_64 rng(test_seed() + 1);
  for (int d = 0; d < 4; ++d) {
    for (int mode = 0; mode < 3; ++mode) {  // dense, top-k bucket, top-k renormalize
      KdLossParams params;
      params.divergence = static_cast<Divergence>(d);
      params.temperature = 1.5f;
      params.alpha = 0.25f;
      params.beta = 0.4f;
      params.tail = mode == 2 ? Tail::renormalize : Tail::bucket;
      Problem pb = random_problem(rng, 3, 9, mode ? 4 : 0, DType::f32, DType::f32, params, true);
      const Outcome out = run_problem(pb, call);
      const Reference ref = reference(pb);
      INFO(describe(pb) << " seed " << test_seed());
      const double h = 1e-6;
      for (int64_t i = 0; i < pb.rows * pb.vocab; ++i) {
        Problem plus = pb, minus = pb;
        plus.z[i] += h;
        minus.z[i] -= h;
        const double fd = (reference_loss(plus) - reference_loss(minus)) / (2 * h);
        INFO("element " << i << " kernel " << out.dz[i] << " finite difference " << fd);
        CHECK(std::abs(out.dz[i] - fd) <= 1e-5 * (std::abs(fd) + ref.dz_scale[i / pb.vocab]));
      }
    }
  }
}

inline void check_identities(const Caller& call) {
  std::mt19937_64 rng(test_seed() + 2);
  for (int d = 0; d < 4; ++d) {
    for (float temperature : {1.0f, 2.0f}) {
      KdLossParams params;
      params.divergence = static_cast<Divergence>(d);
      params.temperature = temperature;
      Problem pb = random_problem(rng, 4, 333, 0, DType::f32, DType::f32, params, false);
      pb.t = pb.z;  // student == teacher
      const Outcome out = run_problem(pb, call);
      INFO(describe(pb));
      CHECK(std::abs(out.result.loss) <= 1e-6);
      double max_dz = 0;
      for (double v : out.dz) max_dz = std::max(max_dz, std::abs(v));
      CHECK(max_dz <= 1e-7);
    }
  }
  // jsd with β = 0 / 1 is fkl / rkl (dense and top-k).
  for (int64_t k : {0, 7}) {
    KdLossParams params;
    params.temperature = 1.3f;
    params.alpha = 0.2f;
    Problem pb = random_problem(rng, 3, 50, k, DType::f32, DType::f32, params, true);
    for (auto [beta, same] : {std::pair{0.0f, Divergence::fkl}, std::pair{1.0f, Divergence::rkl}}) {
      Problem jsd = pb, other = pb;
      jsd.params.divergence = Divergence::jsd;
      jsd.params.beta = beta;
      other.params.divergence = same;
      const Outcome a = run_problem(jsd, call), b = run_problem(other, call);
      CHECK(a.result.loss == b.result.loss);
      CHECK(a.dz == b.dz);
      compare(jsd, a, kLossEps, 1e-5);
    }
  }
  // Losses are never negative and gradient rows sum to zero (softmax gradients).
  for (int i = 0; i < 16; ++i) {
    const KdLossParams params = params_for(i, rng);
    const Problem pb = random_problem(rng, 3, 200, i % 2 ? 17 : 0, DType::f32, DType::f32, params, true);
    const Outcome out = run_problem(pb, call);
    const Reference ref = reference(pb);
    INFO(describe(pb));
    CHECK(out.result.kd >= 0);
    CHECK(out.result.loss >= 0);
    for (int64_t r = 0; r < pb.rows; ++r) {
      double sum = 0, abs_sum = 0;
      for (int64_t j = 0; j < pb.vocab; ++j) {
        sum += out.dz[r * pb.vocab + j];
        abs_sum += std::abs(out.dz[r * pb.vocab + j]);
      }
      CHECK(std::abs(sum) <= 1e-5 * (abs_sum + ref.dz_scale[r]));
    }
  }
}

inline void check_edge_cases(const Caller& call, const Limits& lim) {
  std::mt19937_64 rng(test_seed() + 3);
  KdLossParams params;
  params.alpha = 0.4f;
  params.temperature = 2.0f;
  SECTION("V = 1 and V = 3") {
    for (int64_t V : {1, 3})
      for (int64_t k : {int64_t{0}, V}) {
        const Problem pb = random_problem(rng, 5, V, k, DType::f32, DType::f32, params, true);
        const Outcome out = run_problem(pb, call);
        compare(pb, out, kLossEps, 1e-5);
        if (V == 1) CHECK(out.result.loss == 0);
      }
  }
  SECTION("huge vocabulary") {
    const Problem pb = random_problem(rng, 1, lim.huge_vocab, 0, DType::f32, DType::f32, params, true);
    compare(pb, run_problem(pb, call), kLossEps, 1e-5);
    const Problem pk = random_problem(rng, 1, lim.huge_vocab, 64, DType::bf16, DType::bf16, params, true);
    compare(pk, run_problem(pk, call), kLossEps, 2e-2);
  }
  SECTION("k = 1 and k = V, both tails") {
    for (Tail tail : {Tail::bucket, Tail::renormalize})
      for (int64_t k : {1, 40}) {
        KdLossParams p = params;
        p.tail = tail;
        for (int d = 0; d < 4; ++d) {
          p.divergence = static_cast<Divergence>(d);
          const Problem pb = random_problem(rng, 3, 40, k, DType::f32, DType::f32, p, true);
          compare(pb, run_problem(pb, call), kLossEps, 1e-5);
        }
      }
  }
  SECTION("masked (-inf) tokens, all -inf but one, and ±1e4 logits") {
    const double inf = std::numeric_limits<double>::infinity();
    for (int d = 0; d < 4; ++d) {
      KdLossParams p = params;
      p.divergence = static_cast<Divergence>(d);
      Problem pb = random_problem(rng, 3, 70, 0, DType::f32, DType::f32, p, true);
      for (int64_t j = 0; j < 70; ++j) {
        if (j % 3 == 1) pb.z[j] = pb.t[j] = -inf;                         // row 0: a shared mask
        pb.z[70 + j] = pb.t[70 + j] = j == 5 ? 1.5 : -inf;                // row 1: one finite logit
        pb.z[140 + j] = j % 2 ? 1e4 : -1e4;                               // row 2: huge logits
        pb.t[140 + j] = j % 3 ? 1e4 : -1e4;
      }
      for (int r = 0; r < 3; ++r) pb.labels[r] = 5;
      const Outcome out = run_problem(pb, call);
      compare(pb, out, kLossEps, 1e-5);
      for (int64_t j = 0; j < 70; ++j) {
        if (j % 3 == 1) CHECK(out.dz[j] == 0);
        CHECK(out.dz[70 + j] == 0);  // a one-token softmax has zero gradient (and zero CE)
      }
    }
  }
  SECTION("ignored rows, all rows ignored") {
    Problem pb = random_problem(rng, 6, 50, 0, DType::bf16, DType::f32, params, true);
    pb.labels = {3, -100, 7, -100, -100, 1};
    pb.z[1 * 50 + 4] = std::numeric_limits<double>::quiet_NaN();  // NaN in an ignored row is not seen
    const Outcome out = run_problem(pb, call);
    CHECK(out.result.rows_counted == 3);
    compare(pb, out, kLossEps, 2e-2);
    for (auto& y : pb.labels) y = -100;
    const Outcome none = run_problem(pb, call);
    CHECK(none.result.rows_counted == 0);
    CHECK(none.result.loss == 0);
    CHECK(std::all_of(none.dz.begin(), none.dz.end(), [](double v) { return v == 0; }));
  }
  SECTION("NaN and +inf inputs set the flag and make the loss NaN") {
    for (int which = 0; which < 4; ++which) {
      Problem pb = random_problem(rng, 3, 40, which >= 2 ? 8 : 0, DType::f32, DType::f32, params, true);
      const double nan = std::numeric_limits<double>::quiet_NaN();
      if (which == 0) pb.z[45] = nan;
      if (which == 1) pb.t[90] = std::numeric_limits<double>::infinity();
      if (which == 2) pb.values[3] = nan;
      if (which == 3) pb.lse[2] = nan;
      const Outcome out = run_problem(pb, call);
      INFO("case " << which);
      CHECK(out.result.nonfinite_input);
      CHECK(std::isnan(out.result.loss));
      CHECK(out.sentinels_intact);
    }
  }
  SECTION("out-of-range labels and top-k indices are input errors") {
    Problem pb = random_problem(rng, 2, 30, 4, DType::f32, DType::f32, params, true);
    Problem bad_label = pb;
    bad_label.labels[1] = 30;
    REQUIRE_THROWS_AS(run_problem(bad_label, call), retort::Error);
    Problem bad_index = pb;
    bad_index.indices[5] = 31;
    REQUIRE_THROWS_AS(run_problem(bad_index, call), retort::Error);
  }
  SECTION("repeated calls are bitwise identical") {
    const Problem pb = random_problem(rng, 7, 300, 0, DType::f32, DType::f32, params, true);
    const Outcome a = run_problem(pb, call), b = run_problem(pb, call);
    CHECK(a.result.loss == b.result.loss);
    CHECK(a.dz == b.dz);
  }
}

}  // namespace retort::kernels::test
