// kernels/target_rows.h: row_exp_sum's max and sum against a float64 reference (and its terms),
// the non-finite flag; row_topk equal to a plain sort (descending value, ties to the lower index)
// for rows short and long against k, i.e. both selection paths, with ties and negative values.
#include <catch2/catch.hpp>

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <vector>

#include "kernels/target_rows.h"
#include "tests/support/numeric.h"

using namespace retort;
using namespace retort::test;

TEST_CASE("row_exp_sum: max and exp-sum match float64, terms within their rounding bound", "[target_rows]") {
  for (int64_t n : {int64_t{1}, int64_t{7}, int64_t{8}, int64_t{257}, int64_t{32000}}) {
    std::vector<float> t = random_normal(static_cast<size_t>(n), static_cast<uint32_t>(n), 3.f), e(t.size());
    for (float T : {1.f, 2.f, 0.5f}) {
      const kernels::RowExpSum r = kernels::row_exp_sum(t.data(), n, 1.f / T, e.data());
      const double m = *std::max_element(t.begin(), t.end());
      double s = 0;
      for (int64_t j = 0; j < n; ++j) {
        const double x = (t[j] - m) / T, ref = std::exp(x);
        s += ref;
        // x is rounded to float twice before the exp (≤ 2 ulp): relative error ≤ |x|·2^-23 + 2^-22;
        // terms below e^-87.3 are flushed to 0.
        REQUIRE(within_tolerance(e[j], ref, 1e-37, 2.4e-7 + 1.2e-7 * std::fabs(x)));
      }
      REQUIRE(r.finite);
      REQUIRE(r.max == static_cast<float>(m));
      REQUIRE(within_tolerance(r.sum, s, 0, 1e-6));
      REQUIRE(kernels::row_exp_sum(t.data(), n, 1.f / T, nullptr).sum == r.sum);  // the same without terms
    }
  }
  std::vector<float> t = random_normal(40, 3, 1.f);
  t[17] = std::numeric_limits<float>::infinity();
  REQUIRE_FALSE(kernels::row_exp_sum(t.data(), 40, 1.f, nullptr).finite);
  t[17] = std::numeric_limits<float>::quiet_NaN();
  REQUIRE_FALSE(kernels::row_exp_sum(t.data(), 40, 1.f, nullptr).finite);
}

TEST_CASE("row_topk equals a plain sort on both paths, ties to the lower index", "[target_rows]") {
  struct Shape {
    int64_t n, k;
  };
  // n < 64k takes the key selection, n >= 64k the heap; k = n and k = 1 are the edges.
  for (const Shape s : {Shape{256, 32}, Shape{32000, 32}, Shape{2048, 32}, Shape{2047, 32}, Shape{9, 9},
                        Shape{100, 1}, Shape{5000, 3}}) {
    std::vector<float> t = random_normal(static_cast<size_t>(s.n), static_cast<uint32_t>(s.n + s.k), 2.f);
    // Coarse values make many ties (and -0 next to +0); a few exact repeats of the maximum.
    for (int64_t j = 0; j < s.n; j += 3) t[j] = std::round(t[j] * 2) / 2;
    t[s.n / 2] = -0.f, t[s.n / 2 + 1] = 0.f, t[s.n / 4] = -0.f;
    const float top = *std::max_element(t.begin(), t.end());
    t[s.n - 1] = top, t[s.n / 3] = top;
    std::vector<uint32_t> ids(static_cast<size_t>(s.k));
    std::vector<float> values(static_cast<size_t>(s.k));
    kernels::row_topk(t.data(), s.n, s.k, ids.data(), values.data());
    std::vector<int64_t> order(static_cast<size_t>(s.n));
    for (int64_t j = 0; j < s.n; ++j) order[j] = j;
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return t[a] > t[b]; });
    for (int64_t c = 0; c < s.k; ++c) {
      INFO("n " << s.n << " k " << s.k << " rank " << c);
      REQUIRE(ids[c] == static_cast<uint32_t>(order[c]));
      REQUIRE(std::bit_cast<uint32_t>(values[c]) == std::bit_cast<uint32_t>(t[order[c]]));
    }
  }
}
