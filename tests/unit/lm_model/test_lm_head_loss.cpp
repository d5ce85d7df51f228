// The chunked LM head + cross-entropy against a float64 reference written here (logits, loss,
// correct, dX, dW, per-row NLL), for several chunk budgets, with ignore_index rows.
#include <catch2/catch.hpp>

#include <cmath>

#include "core/lm/lm_head_loss.h"
#include "core/model/cpu_compute.h"
#include "tests/support/numeric.h"

using namespace retort;
using namespace retort::core;
using namespace retort::test;

namespace {

struct HeadReference {
  double loss_sum = 0;
  int64_t tokens = 0, correct = 0;
  std::vector<double> dx, dw, row_nll;
};

HeadReference head_reference(const std::vector<float>& x, const std::vector<float>& w, const std::vector<int32_t>& y,
                             int64_t n, int64_t d, int64_t v, double scale) {
  HeadReference r;
  r.dx.assign(static_cast<size_t>(n * d), 0);
  r.dw.assign(static_cast<size_t>(v * d), 0);
  r.row_nll.assign(static_cast<size_t>(n), 0);
  for (int64_t i = 0; i < n; ++i) {
    if (y[i] == -100) continue;
    std::vector<double> z(static_cast<size_t>(v));
    int64_t arg = 0;
    for (int64_t j = 0; j < v; ++j) {
      for (int64_t k = 0; k < d; ++k) z[j] += static_cast<double>(x[i * d + k]) * w[j * d + k];
      if (z[j] > z[arg]) arg = j;
    }
    double sum = 0;
    for (double e : z) sum += std::exp(e - z[arg]);
    const double lse = std::log(sum) + z[arg];
    r.row_nll[i] = lse - z[y[i]];
    r.loss_sum += r.row_nll[i];
    r.tokens += 1;
    r.correct += arg == y[i];
    for (int64_t j = 0; j < v; ++j) {
      const double dz = (std::exp(z[j] - lse) - (j == y[i] ? 1.0 : 0.0)) * scale;
      for (int64_t k = 0; k < d; ++k) {
        r.dx[i * d + k] += dz * w[j * d + k];
        r.dw[j * d + k] += dz * x[i * d + k];
      }
    }
  }
  return r;
}

}  // namespace

TEST_CASE("chunked head + CE equals one chunk and the float64 reference", "[lm_model]") {
  const int64_t n = 37, d = 24, v = 29;
  const auto x = random_normal(static_cast<size_t>(n * d), 1, 1.f);
  const auto w = random_normal(static_cast<size_t>(v * d), 2, 0.5f);
  std::vector<int32_t> y(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) y[i] = static_cast<int32_t>((i * 7) % v);
  for (int64_t i : {0, 5, 6, 7, 36}) y[i] = -100;  // ignored rows, a run of them and the ends
  const float scale = 1.f / 32;
  const HeadReference ref = head_reference(x, w, y, n, d, v, scale);
  const std::vector<float> dw_start = random_normal(static_cast<size_t>(v * d), 3, 0.1f);  // dW accumulates

  struct Run {
    HeadLossSums sums;
    std::vector<float> dx, dw;
    std::vector<double> nll;
  };
  auto run = [&](size_t budget_bytes, bool per_row) {
    ChunkedHead head(cpu_compute(), budget_bytes);
    Run r;
    r.dx.assign(static_cast<size_t>(n * d), 99.f);  // overwritten
    r.dw = dw_start;
    r.nll.assign(static_cast<size_t>(n), -1.0);
    r.sums = lm_head_cross_entropy(head, {x.data(), w.data(), n, d, v, r.dx.data(), r.dw.data()},
                                   {y.data(), -100, scale, per_row ? r.nll.data() : nullptr});
    return r;
  };
  const size_t row_bytes = static_cast<size_t>(v) * sizeof(float);
  const Run one = run(row_bytes * 1000, true);
  CHECK(ChunkedHead(cpu_compute(), row_bytes * 5 + 3).chunk_rows(v) == 5);
  CHECK(ChunkedHead(cpu_compute(), 1).chunk_rows(v) == 1);
  CHECK(ChunkedHead(cpu_compute()).chunk_rows(4096) == 4096);  // 64 MiB of 4096-wide rows

  // Tolerance (float32 vs float64): loss 1e-5 + 1e-6·|ref|, gradients and NLL 1e-6 + 1e-4·|ref|.
  CHECK(one.sums.tokens == ref.tokens);
  CHECK(one.sums.correct == ref.correct);
  CHECK(within_tolerance(one.sums.loss_sum, ref.loss_sum, 1e-5, 1e-6));
  for (int64_t i = 0; i < n; ++i) CHECK(within_tolerance(one.nll[i], ref.row_nll[i], 1e-6, 1e-4));
  for (size_t i = 0; i < one.dx.size(); ++i) CHECK(within_tolerance(one.dx[i], ref.dx[i], 1e-6, 1e-4));
  for (size_t i = 0; i < one.dw.size(); ++i) CHECK(within_tolerance(one.dw[i], dw_start[i] + ref.dw[i], 1e-6, 1e-4));
  for (int64_t i : {0, 5, 6, 7, 36})
    for (int64_t k = 0; k < d; ++k) CHECK(one.dx[i * d + k] == 0.f);

  // Other chunkings equal one chunk within 1e-6 + 1e-5·|ref|, not bitwise: the GEMM's blocking
  // depends on the chunk's rows and dW sums its chunks in a different order.
  for (size_t rows : {1, 4, 5, 36}) {
    for (bool per_row : {false, true}) {
      const Run r = run(row_bytes * rows, per_row);
      INFO("chunk rows " << rows << " per-row nll " << per_row);
      CHECK(r.sums.tokens == one.sums.tokens);
      CHECK(r.sums.correct == one.sums.correct);
      CHECK(within_tolerance(r.sums.loss_sum, one.sums.loss_sum, 1e-6, 1e-6));
      for (size_t i = 0; i < r.dx.size(); ++i) CHECK(within_tolerance(r.dx[i], one.dx[i], 1e-6, 1e-5));
      for (size_t i = 0; i < r.dw.size(); ++i) CHECK(within_tolerance(r.dw[i], one.dw[i], 1e-6, 1e-5));
      if (per_row)
        for (int64_t i = 0; i < n; ++i) CHECK(within_tolerance(r.nll[i], one.nll[i], 1e-6, 1e-5));
    }
  }

  // Without gradients: the same sums, nothing written.
  ChunkedHead head(cpu_compute(), row_bytes * 4);
  const HeadLossSums eval = lm_head_cross_entropy(head, {x.data(), w.data(), n, d, v, nullptr, nullptr},
                                                  {y.data(), -100, scale, nullptr});
  CHECK(eval.tokens == ref.tokens);
  CHECK(within_tolerance(eval.loss_sum, ref.loss_sum, 1e-5, 1e-6));
}

TEST_CASE("chunked head refuses a label outside the vocabulary", "[lm_model]") {
  const std::vector<float> x(8, 1.f), w(3 * 4, 0.5f);
  const std::vector<int32_t> y = {1, 3};
  ChunkedHead head(cpu_compute());
  CHECK_THROWS_WITH(lm_head_cross_entropy(head, {x.data(), w.data(), 2, 4, 3, nullptr, nullptr}, {y.data()}),
                    Catch::Contains("label 3 at row 1 is outside the vocabulary [0, 3)"));
}
