// The CUDA batch-invariant linear (kernels/cuda/linear_invariant.cuh, the exact device source)
// on the SIMT emulator: values vs a float64 reference, sentinels after y, every row bitwise the
// same in batches of 1..N rows at any offset and in a shuffled batch, and the CPU kernel's bits
// (kernels/linear_invariant.h) where the two contracts coincide.
#include "tests/simt/simt.h"
// The emulator's built-ins must come first.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <numeric>
#include <random>
#include <tuple>
#include <vector>

#include "kernels/cuda/linear_invariant.cuh"
#include "kernels/linear_invariant.h"
#include "tests/support/numeric.h"

using retort::test::random_normal;

namespace {
constexpr float kSentinel = 12345.f;
constexpr int kTail = 16;

// Rows `row_ids` of x gathered into one batch and run through the emulated kernel.
std::vector<float> run_rows(const std::vector<float>& x, const std::vector<int64_t>& row_ids,
                            const std::vector<float>& w, const float* b, int64_t in, int64_t out) {
  std::vector<float> batch;
  for (int64_t r : row_ids) batch.insert(batch.end(), x.begin() + r * in, x.begin() + (r + 1) * in);
  const int64_t rows = static_cast<int64_t>(row_ids.size());
  std::vector<float> y(rows * out + kTail, kSentinel);
  retort::kernels::gpu::enqueue_linear_invariant(batch.data(), w.data(), b, y.data(), rows, in, out, nullptr);
  for (int i = 0; i < kTail; ++i) REQUIRE(y[rows * out + i] == kSentinel);
  y.resize(rows * out);
  return y;
}
std::vector<int64_t> iota_rows(int64_t first, int64_t n) {
  std::vector<int64_t> ids(n);
  std::iota(ids.begin(), ids.end(), first);
  return ids;
}
bool same_row(const std::vector<float>& a, int64_t ra, const std::vector<float>& b, int64_t rb, int64_t out) {
  return std::memcmp(a.data() + ra * out, b.data() + rb * out, out * sizeof(float)) == 0;
}
}  // namespace

TEST_CASE("emulated CUDA batch-invariant linear matches a float64 reference", "[cuda][emulated][linear]") {
  // in: below 8 (tail only), a multiple of 8 and of the 32-k stage, stage remainders with tails;
  // out and rows off the 64 x 32 tile.
  for (auto [rows, in, out] : {std::tuple<int64_t, int64_t, int64_t>{1, 1, 1}, {3, 7, 5}, {33, 64, 65},
                               {40, 101, 70}, {5, 203, 130}}) {
    const auto x = random_normal(rows * in, 1), w = random_normal(out * in, 2, 0.1f), b = random_normal(out, 3, 0.5f);
    const auto y = run_rows(x, iota_rows(0, rows), w, b.data(), in, out);
    CAPTURE(rows, in, out);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t o = 0; o < out; ++o) {
        double ref = b[o], mag = std::fabs(double(b[o]));
        for (int64_t k = 0; k < in; ++k) {
          const double p = double(x[r * in + k]) * w[o * in + k];
          ref += p, mag += std::fabs(p);
        }
        CAPTURE(r, o, y[r * out + o], ref);
        // fp32 sums of `in` terms: |error| <= in·2⁻²⁴·Σ|p| bounds them; 1e-6·(1 + mag) is tighter
        // than that for in >= 17 and still holds by a wide margin on these sums.
        REQUIRE(retort::test::within_tolerance(y[r * out + o], ref, 1e-6 * (1 + mag), 0));
      }
    // Without a bias: the same sums, bias add left out.
    const auto y0 = run_rows(x, iota_rows(0, rows), w, nullptr, in, out);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t o = 0; o < out; ++o) {
        double ref = 0;
        for (int64_t k = 0; k < in; ++k) ref += double(x[r * in + k]) * w[o * in + k];
        REQUIRE(std::fabs(y0[r * out + o] - ref) <= 1e-6 * (1 + std::fabs(ref)) + 1e-5);
      }
  }
}

TEST_CASE("emulated CUDA batch-invariant linear: a row's bits do not depend on its batch", "[cuda][emulated][linear]") {
  // 70 rows span three 32-row tiles; in = 203 has stage remainders and a 3-k tail.
  const int64_t n = 70, in = 203, out = 130;
  const auto x = random_normal(n * in, 4), w = random_normal(out * in, 5, 0.1f), b = random_normal(out, 6, 0.5f);
  const auto full = run_rows(x, iota_rows(0, n), w, b.data(), in, out);
  for (int64_t rows = 1; rows <= n; rows += (rows < 8 ? 1 : 9)) {  // rows 1..8, then every 9th
    for (int64_t first : {int64_t{0}, (n - rows) / 2, n - rows}) {
      const auto part = run_rows(x, iota_rows(first, rows), w, b.data(), in, out);
      CAPTURE(rows, first);
      for (int64_t r = 0; r < rows; ++r) REQUIRE(same_row(part, r, full, first + r, out));
    }
  }
  // Every row alone, and the whole batch shuffled (rows land in other tiles and thread slots).
  std::vector<int64_t> shuffled = iota_rows(0, n);
  std::shuffle(shuffled.begin(), shuffled.end(), std::mt19937(7));
  const auto mixed = run_rows(x, shuffled, w, b.data(), in, out);
  for (int64_t i = 0; i < n; ++i) {
    CAPTURE(i);
    REQUIRE(same_row(mixed, i, full, shuffled[i], out));
    REQUIRE(same_row(run_rows(x, {i}, w, b.data(), in, out), 0, full, i, out));
  }
}

TEST_CASE("emulated CUDA batch-invariant linear equals the CPU kernel's bits", "[cuda][emulated][linear]") {
  // Lanes, lane reduction, the k >= in8 tail (each product rounded, then added: the CPU kernel is
  // built with -ffp-contract=off) and the bias add are the same operations on both.
  for (auto [rows, in, out] : {std::tuple<int64_t, int64_t, int64_t>{1, 8, 3}, {19, 64, 41}, {35, 200, 70}, {1, 5, 3},
                               {7, 13, 9}, {19, 100, 41}, {35, 203, 70}}) {
    const auto x = random_normal(rows * in, 8), w = random_normal(out * in, 9, 0.1f), b = random_normal(out, 10, 0.5f);
    const auto gpu = run_rows(x, iota_rows(0, rows), w, b.data(), in, out);
    std::vector<float> cpu(rows * out);
    retort::kernels::linear_forward_batch_invariant(x.data(), w.data(), b.data(), cpu.data(), rows, in, out);
    CAPTURE(rows, in, out);
    REQUIRE(std::memcmp(gpu.data(), cpu.data(), cpu.size() * sizeof(float)) == 0);
  }
}
