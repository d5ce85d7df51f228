// The threaded head GEMMs (core/lm/lm_head_gemm.h) against a float64 reference at 1, 2 and 3
// threads, on shapes whose vocabulary and hidden splits are uneven; the split itself; bitwise
// repeatability at a fixed thread count.
#include <catch2/catch.hpp>

#include <omp.h>

#include "core/lm/lm_head_gemm.h"
#include "tests/support/numeric.h"

using namespace retort;
using namespace retort::core;
using namespace retort::test;

namespace {

constexpr int64_t kRows = 37, kDim = 40, kVocab = 203;
constexpr double kTol = 1e-5, kEps = 1e-5;  // float32 sums of <= 203 products of O(1) terms

// Restores the OpenMP thread count when a test section ends.
struct ThreadCount {
  explicit ThreadCount(int n) : saved(omp_get_max_threads()) { omp_set_num_threads(n); }
  ~ThreadCount() { omp_set_num_threads(saved); }
  int saved;
};

}  // namespace

TEST_CASE("split_range covers [0, n) in order with aligned inner boundaries", "[lm_kd]") {
  for (int64_t n : {0, 5, 16, 203, 32000})
    for (int parts : {1, 2, 3, 7}) {
      int64_t next = 0;
      for (int p = 0; p < parts; ++p) {
        const IndexRange r = split_range(n, parts, p, 16);
        CHECK(r.begin == next);
        CHECK(r.end >= r.begin);
        if (p + 1 < parts) CHECK(r.end % 16 == 0);
        next = r.end;
      }
      CHECK(next == n);
    }
  CHECK(split_range(32000, 2, 0, 16).end == 16000);
  CHECK(split_range(203, 3, 1, 16).begin == 64);
  CHECK(split_range(203, 3, 1, 16).end == 128);
}

TEST_CASE("threaded head GEMMs equal a float64 reference at 1, 2 and 3 threads", "[lm_kd]") {
  const auto x = random_normal(kRows * kDim, 21, 1.f), w = random_normal(kVocab * kDim, 22, 0.5f);
  const auto dz = random_normal(kRows * kVocab, 23, 0.3f), dw0 = random_normal(kVocab * kDim, 24, 0.2f);
  std::vector<double> z_ref(kRows * kVocab, 0.0), dx_ref(kRows * kDim, 0.0), dw_ref(dw0.begin(), dw0.end());
  for (int64_t r = 0; r < kRows; ++r)
    for (int64_t v = 0; v < kVocab; ++v)
      for (int64_t c = 0; c < kDim; ++c) {
        const double xv = x[r * kDim + c], wv = w[v * kDim + c], g = dz[r * kVocab + v];
        z_ref[r * kVocab + v] += xv * wv;
        dx_ref[r * kDim + c] += g * wv;
        dw_ref[v * kDim + c] += g * xv;
      }
  for (int threads : {1, 2, 3}) {
    DYNAMIC_SECTION("threads " << threads) {
      ThreadCount tc(threads);
      std::vector<float> z(kRows * kVocab, 7.f), dx(kRows * kDim, 7.f), dw = dw0;
      head_logits_host(x.data(), w.data(), z.data(), kRows, kDim, kVocab);
      head_backward_host(x.data(), w.data(), dz.data(), dx.data(), dw.data(), kRows, kDim, kVocab);
      for (size_t i = 0; i < z.size(); ++i) REQUIRE(within_tolerance(z[i], z_ref[i], kTol, kEps));
      for (size_t i = 0; i < dx.size(); ++i) REQUIRE(within_tolerance(dx[i], dx_ref[i], kTol, kEps));
      for (size_t i = 0; i < dw.size(); ++i) REQUIRE(within_tolerance(dw[i], dw_ref[i], kTol, kEps));

      std::vector<float> z2(z.size()), dx2(dx.size()), dw2 = dw0;  // same thread count: same bits
      head_logits_host(x.data(), w.data(), z2.data(), kRows, kDim, kVocab);
      head_backward_host(x.data(), w.data(), dz.data(), dx2.data(), dw2.data(), kRows, kDim, kVocab);
      CHECK(z2 == z);
      CHECK(dx2 == dx);
      CHECK(dw2 == dw);
    }
  }
}
