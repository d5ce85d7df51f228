// The batch-invariant linear forward: correct against a float64 reference, and a sample's
// output bitwise identical in batches of 1, 7 and 128 at any position and thread count, also on
// shapes that span several weight blocks and every register tile (rows mod 3, outputs mod 24).
#include <catch2/catch.hpp>
#include <omp.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/linear_invariant.h"

using retort::kernels::linear_forward_batch_invariant;

namespace {
std::vector<float> random_vector(size_t n, std::mt19937& rng, float scale) {
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}
std::vector<float> run(const std::vector<float>& x, int64_t first_row, int64_t rows, const std::vector<float>& w,
                       const std::vector<float>& b, int64_t in, int64_t out) {
  std::vector<float> y(rows * out + 16, 12345.0f);  // sentinel tail catches out-of-bounds writes
  linear_forward_batch_invariant(x.data() + first_row * in, w.data(), b.data(), y.data(), rows, in, out);
  for (int i = 0; i < 16; ++i) REQUIRE(y[rows * out + i] == 12345.0f);
  y.resize(rows * out);
  return y;
}
}  // namespace

TEST_CASE("batch-invariant linear matches a float64 reference") {
  const uint32_t seed = std::random_device{}();
  INFO("seed " << seed);
  std::mt19937 rng(seed);
  for (auto [in, out] : {std::pair<int64_t, int64_t>{1, 1}, {7, 3}, {8, 10}, {101, 37}, {784, 64}}) {
    const int64_t rows = 19;
    auto x = random_vector(rows * in, rng, 1.0f), w = random_vector(out * in, rng, 0.1f), b = random_vector(out, rng, 0.5f);
    const auto y = run(x, 0, rows, w, b, in, out);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t o = 0; o < out; ++o) {
        double ref = b[o], mag = std::fabs(b[o]);
        for (int64_t k = 0; k < in; ++k) ref += double(x[r * in + k]) * w[o * in + k], mag += std::fabs(double(x[r * in + k]) * w[o * in + k]);
        REQUIRE(std::fabs(y[r * out + o] - ref) <= 1e-6 + 1e-6 * mag);
      }
  }
}

TEST_CASE("a sample's output is bitwise identical in batches of 1, 7 and 128") {
  std::mt19937 rng(7);
  const int64_t in = 203, out = 41, rows = 128;
  auto x = random_vector(rows * in, rng, 1.0f), w = random_vector(out * in, rng, 0.1f), b = random_vector(out, rng, 0.5f);
  const auto full = run(x, 0, rows, w, b, in, out);
  for (int64_t first : {0, 3, 50, 121}) {
    const auto seven = run(x, first, 7, w, b, in, out);
    REQUIRE(std::memcmp(seven.data(), full.data() + first * out, seven.size() * sizeof(float)) == 0);
  }
  for (int64_t r : {0, 1, 17, 127}) {
    const auto one = run(x, r, 1, w, b, in, out);
    REQUIRE(std::memcmp(one.data(), full.data() + r * out, out * sizeof(float)) == 0);
  }
  const int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  const auto serial = run(x, 0, rows, w, b, in, out);
  omp_set_num_threads(threads);
  REQUIRE(std::memcmp(serial.data(), full.data(), full.size() * sizeof(float)) == 0);
}

TEST_CASE("outputs are bitwise identical for every row count, tile remainder and thread count on multi-block shapes") {
  std::mt19937 rng(11);
  // in 1536: 48 outputs per weight block, so 250 outputs are 6 blocks with a ragged last one; in
  // 77 exercises the k tail after the 8-lane part.
  for (auto [in, out] : {std::pair<int64_t, int64_t>{1536, 250}, {77, 1300}}) {
    const int64_t rows = 37;
    auto x = random_vector(rows * in, rng, 1.0f), w = random_vector(out * in, rng, 0.05f), b = random_vector(out, rng, 0.5f);
    const int threads = omp_get_max_threads();
    omp_set_num_threads(2);
    const auto full = run(x, 0, rows, w, b, in, out);
    omp_set_num_threads(1);
    const auto serial = run(x, 0, rows, w, b, in, out);
    omp_set_num_threads(threads);
    REQUIRE(std::memcmp(serial.data(), full.data(), full.size() * sizeof(float)) == 0);
    for (int64_t first = 0; first < rows; first += 5)
      for (int64_t count : {1, 2, 3, 4, 5}) {
        if (first + count > rows) continue;
        const auto part = run(x, first, count, w, b, in, out);
        INFO("in " << in << " rows " << first << "+" << count);
        REQUIRE(std::memcmp(part.data(), full.data() + first * out, part.size() * sizeof(float)) == 0);
      }
    for (int64_t r = 0; r < rows; r += 9)
      for (int64_t o = 0; o < out; o += 31) {
        double ref = b[o], mag = std::fabs(b[o]);
        for (int64_t k = 0; k < in; ++k) ref += double(x[r * in + k]) * w[o * in + k], mag += std::fabs(double(x[r * in + k]) * w[o * in + k]);
        REQUIRE(std::fabs(full[r * out + o] - ref) <= 1e-6 + 1e-6 * mag);
      }
  }
}
