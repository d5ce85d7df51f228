// kernels/token_xent.h against a float64 reference written here (nll per row, loss sum, tokens,
// correct, dz) at V = 49,152 and small V, with ignore_index rows, in place and out of place, at
// 1-3 threads (bitwise equal), and a non-finite row.
#include <catch2/catch.hpp>
#include <omp.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "kernels/token_xent.h"
#include "tests/support/numeric.h"

using namespace retort;
using namespace retort::kernels;
using retort::test::random_normal;
using retort::test::within_tolerance;

namespace {

constexpr int32_t kIgnore = -100;

struct RowReference {
  double nll = 0;
  int64_t argmax = 0;
  std::vector<double> dz;
};

RowReference reference_row(const float* z, int64_t v, int32_t y, double scale) {
  RowReference r;
  for (int64_t j = 1; j < v; ++j)
    if (z[j] > z[r.argmax]) r.argmax = j;
  const double m = z[r.argmax];
  double sum = 0;
  for (int64_t j = 0; j < v; ++j) sum += std::exp(static_cast<double>(z[j]) - m);
  const double lse = m + std::log(sum);
  r.nll = lse - z[y];
  r.dz.resize(static_cast<size_t>(v));
  for (int64_t j = 0; j < v; ++j) r.dz[j] = (std::exp(static_cast<double>(z[j]) - lse) - (j == y ? 1.0 : 0.0)) * scale;
  return r;
}

// Rows of several shapes of distribution: flat, peaked (scale 12), a wide spread with −inf
// entries, ties at the maximum (the first counts), the label at the argmax.
std::vector<float> test_logits(int64_t rows, int64_t v, uint32_t seed) {
  std::vector<float> z;
  for (int64_t r = 0; r < rows; ++r) {
    const float scale = r % 4 == 0 ? 1.f : r % 4 == 1 ? 12.f : r % 4 == 2 ? 3.f : 0.01f;
    auto row = random_normal(static_cast<size_t>(v), seed + static_cast<uint32_t>(r), scale);
    if (r % 4 == 2) {
      for (int64_t j = 0; j < v; j += 17) row[j] = -INFINITY;
      for (int64_t j = 5; j < v; j += 101) row[j] -= 60.f;
      row[0] = 2.f;  // never all −inf
    }
    if (r % 5 == 4 && v > 3) row[v / 3] = row[v - 1] = 40.f;  // tie at the maximum
    z.insert(z.end(), row.begin(), row.end());
  }
  return z;
}

std::vector<int32_t> test_labels(const std::vector<float>& z, int64_t rows, int64_t v) {
  std::vector<int32_t> y(static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; ++r) {
    y[r] = static_cast<int32_t>((r * 7919 + 3) % v);
    if (r % 3 == 1) {  // the label at the first maximum: counted as correct
      const float* row = z.data() + r * v;
      int64_t arg = 0;
      for (int64_t j = 1; j < v; ++j) arg = row[j] > row[arg] ? j : arg;
      y[r] = static_cast<int32_t>(arg);
    }
  }
  if (rows > 2) y[2] = kIgnore;
  if (rows > 6) y[rows - 1] = kIgnore;
  return y;
}

void check_against_reference(int64_t rows, int64_t v, uint32_t seed) {
  INFO("rows " << rows << " vocab " << v);
  const float scale = 1.f / 37;
  const std::vector<float> z = test_logits(rows, v, seed);
  const std::vector<int32_t> y = test_labels(z, rows, v);

  std::vector<float> dz(z.size(), 99.f);
  std::vector<double> nll(static_cast<size_t>(rows), -1.0);
  const TokenXentResult got = token_xent(z.data(), y.data(), kIgnore, dz.data(), rows, v, scale, nll.data());

  double loss = 0;
  int64_t tokens = 0, correct = 0;
  for (int64_t r = 0; r < rows; ++r) {
    INFO("row " << r << " label " << y[r]);
    if (y[r] == kIgnore) {
      CHECK(nll[r] == 0.0);
      for (int64_t j = 0; j < v; ++j) CHECK(dz[r * v + j] == 0.f);
      continue;
    }
    const RowReference ref = reference_row(z.data() + r * v, v, y[r], scale);
    loss += nll[r];
    tokens += 1;
    correct += ref.argmax == y[r];
    INFO("nll " << nll[r] << " float64 " << ref.nll);
    if (std::isinf(ref.nll)) CHECK(nll[r] == ref.nll);  // the label's logit is −inf
    else CHECK(within_tolerance(nll[r], ref.nll, 1e-5, 1e-6));
    int64_t bad = 0;
    for (int64_t j = 0; j < v; ++j) {
      const double tol = j == y[r] ? scale * 1e-5 : scale * 1e-7;
      const double eps = j == y[r] ? 0.0 : 2e-5;
      if (!within_tolerance(dz[r * v + j], ref.dz[j], tol, eps)) {
        if (bad++ < 3) FAIL_CHECK("dz[" << j << "] = " << dz[r * v + j] << ", float64 " << ref.dz[j]);
      }
    }
    CHECK(bad == 0);
  }
  CHECK(got.tokens == tokens);
  CHECK(got.correct == correct);
  CHECK(got.loss_sum == loss);  // the rows' values summed in row order

  // In place (dlogits == logits): the same bits; without dz or per-row NLL: the same sums.
  std::vector<float> inplace = z;
  const TokenXentResult in_place = token_xent(inplace.data(), y.data(), kIgnore, inplace.data(), rows, v, scale, nullptr);
  CHECK(std::memcmp(inplace.data(), dz.data(), dz.size() * sizeof(float)) == 0);
  CHECK(in_place.loss_sum == got.loss_sum);
  const TokenXentResult eval = token_xent(z.data(), y.data(), kIgnore, nullptr, rows, v, scale, nullptr);
  CHECK(eval.loss_sum == got.loss_sum);
  CHECK(eval.correct == got.correct);
  CHECK(eval.tokens == got.tokens);
}

}  // namespace

TEST_CASE("token_xent matches float64 at the tiny-LM vocabulary", "[token_xent]") {
  check_against_reference(13, 49152, 1);
}

TEST_CASE("token_xent matches float64 at small and block-edge vocabularies", "[token_xent]") {
  for (int64_t v : {1, 2, 3, 7, 255, 256, 257, 1000, 1023, 1024, 1025, 2049, 32000})
    check_against_reference(9, v, static_cast<uint32_t>(v));
}

TEST_CASE("token_xent bits do not depend on the thread count", "[token_xent]") {
  const int64_t rows = 11, v = 5000;
  const std::vector<float> z = test_logits(rows, v, 7);
  const std::vector<int32_t> y = test_labels(z, rows, v);
  const int saved = omp_get_max_threads();
  std::vector<std::vector<float>> dz;
  std::vector<std::vector<double>> nll;
  std::vector<TokenXentResult> res;
  for (int threads : {1, 2, 3}) {
    omp_set_num_threads(threads);
    dz.emplace_back(z.size());
    nll.emplace_back(rows);
    res.push_back(token_xent(z.data(), y.data(), kIgnore, dz.back().data(), rows, v, 0.5f, nll.back().data()));
  }
  omp_set_num_threads(saved);
  for (size_t i = 1; i < dz.size(); ++i) {
    CHECK(std::memcmp(dz[i].data(), dz[0].data(), dz[0].size() * sizeof(float)) == 0);
    CHECK(nll[i] == nll[0]);
    CHECK(res[i].loss_sum == res[0].loss_sum);
    CHECK(res[i].correct == res[0].correct);
  }
  // One row's values do not depend on the others: row 4 alone gives the same bits.
  std::vector<float> alone(static_cast<size_t>(v));
  double nll_alone = 0;
  token_xent(z.data() + 4 * v, y.data() + 4, kIgnore, alone.data(), 1, v, 0.5f, &nll_alone);
  CHECK(std::memcmp(alone.data(), dz[0].data() + 4 * v, alone.size() * sizeof(float)) == 0);
  CHECK(nll_alone == nll[0][4]);
}

TEST_CASE("token_xent gives NaN for a row with NaN or +inf logits, the others unchanged", "[token_xent]") {
  const int64_t rows = 3, v = 3000;
  std::vector<float> z = test_logits(rows, v, 11);
  const std::vector<int32_t> y = {5, 6, 7};
  std::vector<float> clean_dz(z.size());
  std::vector<double> clean_nll(rows);
  token_xent(z.data(), y.data(), kIgnore, clean_dz.data(), rows, v, 1.f, clean_nll.data());
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), INFINITY}) {
    std::vector<float> zb = z;
    zb[v + 2500] = bad;
    std::vector<float> dz(z.size());
    std::vector<double> nll(rows);
    const TokenXentResult r = token_xent(zb.data(), y.data(), kIgnore, dz.data(), rows, v, 1.f, nll.data());
    CHECK(std::isnan(nll[1]));
    CHECK(std::isnan(r.loss_sum));
    for (int64_t j = 0; j < v; ++j) CHECK(std::isnan(dz[v + j]));
    CHECK(nll[0] == clean_nll[0]);
    CHECK(nll[2] == clean_nll[2]);
    CHECK(std::memcmp(dz.data(), clean_dz.data(), v * sizeof(float)) == 0);
  }
}
