// Layer kernels vs plain float64 references; sentinels after every output buffer.
#include <catch2/catch.hpp>

#include <cmath>
#include <random>
#include <vector>

#include "kernels/activation.h"
#include "kernels/dropout.h"
#include "kernels/linear.h"
#include "kernels/max_norm.h"
#include "kernels/softmax_xent.h"

using namespace retort::kernels;

namespace {
constexpr float kSentinel = -12345.f;
constexpr int kPad = 16;

std::vector<float> random_vec(size_t n, uint32_t seed, float lo = -1.f, float hi = 1.f) {
  std::mt19937 g(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n + kPad, kSentinel);
  for (size_t i = 0; i < n; ++i) v[i] = d(g);
  return v;
}
std::vector<float> sentinel_vec(size_t n) { return std::vector<float>(n + kPad, kSentinel); }
bool sentinels_intact(const std::vector<float>& v, size_t n) {
  for (size_t i = n; i < v.size(); ++i)
    if (v[i] != kSentinel) return false;
  return true;
}
bool close(double got, double ref, double tol = 1e-5, double eps = 1e-5) {
  return std::abs(got - ref) <= tol + std::abs(ref) * eps;
}
}  // namespace

TEST_CASE("linear forward and backward match a float64 reference", "[kernels][linear]") {
  for (auto [rows, in, out] : {std::tuple{1, 1, 1}, {7, 13, 5}, {33, 64, 17}}) {
    const auto x = random_vec(rows * in, 1), w = random_vec(out * in, 2), b = random_vec(out, 3);
    const auto dy = random_vec(rows * out, 4);
    auto y = sentinel_vec(rows * out), dx = sentinel_vec(rows * in);
    auto dw = random_vec(out * in, 5), db = random_vec(out, 6);  // accumulated into
    const auto dw0 = dw, db0 = db;
    linear_forward(x.data(), w.data(), b.data(), y.data(), rows, in, out);
    linear_backward(x.data(), w.data(), dy.data(), dx.data(), dw.data(), db.data(), rows, in, out);
    for (int r = 0; r < rows; ++r)
      for (int o = 0; o < out; ++o) {
        double ref = b[o];
        for (int i = 0; i < in; ++i) ref += double(x[r * in + i]) * w[o * in + i];
        REQUIRE(close(y[r * out + o], ref));
      }
    for (int r = 0; r < rows; ++r)
      for (int i = 0; i < in; ++i) {
        double ref = 0;
        for (int o = 0; o < out; ++o) ref += double(dy[r * out + o]) * w[o * in + i];
        REQUIRE(close(dx[r * in + i], ref));
      }
    for (int o = 0; o < out; ++o) {
      double refb = db0[o];
      for (int r = 0; r < rows; ++r) refb += dy[r * out + o];
      REQUIRE(close(db[o], refb));
      for (int i = 0; i < in; ++i) {
        double ref = dw0[o * in + i];
        for (int r = 0; r < rows; ++r) ref += double(dy[r * out + o]) * x[r * in + i];
        REQUIRE(close(dw[o * in + i], ref));
      }
    }
    REQUIRE(sentinels_intact(y, rows * out));
    REQUIRE(sentinels_intact(dx, rows * in));
    REQUIRE(sentinels_intact(dw, out * in));
    REQUIRE(sentinels_intact(db, out));
  }
}

TEST_CASE("linear backward without dx leaves nothing else touched", "[kernels][linear]") {
  const int rows = 4, in = 3, out = 2;
  const auto x = random_vec(rows * in, 7), w = random_vec(out * in, 8), dy = random_vec(rows * out, 9);
  auto dw = sentinel_vec(out * in);
  std::fill(dw.begin(), dw.begin() + out * in, 0.f);
  linear_backward(x.data(), w.data(), dy.data(), nullptr, dw.data(), nullptr, rows, in, out);
  double ref = 0;
  for (int r = 0; r < rows; ++r) ref += double(dy[r * out + 1]) * x[r * in + 2];
  REQUIRE(close(dw[1 * in + 2], ref));
  REQUIRE(sentinels_intact(dw, out * in));
}

TEST_CASE("relu and gelu match float64 references", "[kernels][activation]") {
  const size_t n = 1000;
  const auto x = random_vec(n, 11, -4.f, 4.f), dy = random_vec(n, 12);
  for (Activation act : {Activation::relu, Activation::gelu}) {
    auto y = sentinel_vec(n), dx = sentinel_vec(n);
    activation_forward(act, x.data(), y.data(), n);
    activation_backward(act, x.data(), y.data(), dy.data(), dx.data(), n);
    for (size_t i = 0; i < n; ++i) {
      const double v = x[i];
      auto f = [&](double t) {
        return act == Activation::relu ? (t > 0 ? t : 0.0)
                                       : 0.5 * t * (1 + std::tanh(std::sqrt(2 / M_PI) * (t + 0.044715 * t * t * t)));
      };
      REQUIRE(close(y[i], f(v), 1e-6));
      const double h = 1e-6;
      const double slope = act == Activation::relu ? (v > 0 ? 1.0 : 0.0) : (f(v + h) - f(v - h)) / (2 * h);
      REQUIRE(close(dx[i], dy[i] * slope, 1e-5, 1e-4));
    }
    REQUIRE(sentinels_intact(y, n));
    REQUIRE(sentinels_intact(dx, n));
  }
}

TEST_CASE("dropout mask is a pure function of (row key, column) and drops about p", "[kernels][dropout]") {
  const int rows = 64, cols = 500;
  const double p = 0.3;
  std::vector<uint64_t> keys(rows);
  for (int r = 0; r < rows; ++r) keys[r] = row_key(42, 3, 1000 + r, 1);
  std::vector<float> ones(rows * cols, 1.f);
  auto y = sentinel_vec(rows * cols), dx = sentinel_vec(rows * cols);
  dropout_forward(ones.data(), y.data(), keys.data(), rows, cols, p);
  dropout_backward(ones.data(), dx.data(), keys.data(), rows, cols, p);
  const float kept = static_cast<float>(1 / (1 - p));
  int64_t dropped = 0;
  const uint32_t threshold = dropout_threshold(p);
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c) {
      const float v = y[r * cols + c];
      REQUIRE((v == 0.f || v == kept));
      REQUIRE(v == dx[r * cols + c]);  // backward recomputes the same mask
      REQUIRE((v != 0.f) == (uniform_u32(keys[r], c) >= threshold));
      dropped += v == 0.f;
    }
  const double frac = double(dropped) / (rows * cols);
  REQUIRE(std::abs(frac - p) < 0.02);  // 32000 Bernoulli draws: sd ~0.0026
  REQUIRE(sentinels_intact(y, rows * cols));
  // Another epoch or sample gives another key (and so another mask).
  REQUIRE(row_key(42, 3, 1000, 1) != row_key(42, 4, 1000, 1));
  REQUIRE(row_key(42, 3, 1000, 1) != row_key(42, 3, 1001, 1));
  REQUIRE(row_key(42, 3, 1000, 1) != row_key(42, 3, 1000, 2));
}

TEST_CASE("softmax cross-entropy matches a float64 reference", "[kernels][xent]") {
  const int rows = 9, classes = 10;
  const auto z = random_vec(rows * classes, 21, -5.f, 5.f);
  std::vector<int32_t> y(rows);
  for (int r = 0; r < rows; ++r) y[r] = (r * 7) % classes;
  auto dz = sentinel_vec(rows * classes);
  const float scale = 0.25f;
  const XentResult res = softmax_xent(z.data(), y.data(), dz.data(), rows, classes, scale);
  double loss = 0;
  int64_t correct = 0;
  for (int r = 0; r < rows; ++r) {
    const float* zr = z.data() + r * classes;
    double m = zr[0];
    int arg = 0;
    for (int c = 1; c < classes; ++c)
      if (zr[c] > m) m = zr[c], arg = c;
    double s = 0;
    for (int c = 0; c < classes; ++c) s += std::exp(zr[c] - m);
    loss += std::log(s) + m - zr[y[r]];
    correct += arg == y[r];
    for (int c = 0; c < classes; ++c)
      REQUIRE(close(dz[r * classes + c], (std::exp(zr[c] - m) / s - (c == y[r])) * scale, 1e-7));
  }
  REQUIRE(close(res.loss_sum, loss, 1e-9, 1e-12));
  REQUIRE(res.correct == correct);
  REQUIRE(sentinels_intact(dz, rows * classes));
}

TEST_CASE("max-norm rescales exactly the rows above the limit", "[kernels][max_norm]") {
  const int rows = 6, cols = 20;
  auto w = random_vec(rows * cols, 31);
  for (int c = 0; c < cols; ++c) w[2 * cols + c] *= 0.01f;  // row 2 far below the limit
  const auto w0 = w;
  const float limit = 1.0f;
  max_norm_rows(w.data(), rows, cols, limit);
  for (int r = 0; r < rows; ++r) {
    double n0 = 0;
    for (int c = 0; c < cols; ++c) n0 += double(w0[r * cols + c]) * w0[r * cols + c];
    n0 = std::sqrt(n0);
    const double s = n0 > limit ? limit / n0 : 1.0;
    for (int c = 0; c < cols; ++c) REQUIRE(close(w[r * cols + c], w0[r * cols + c] * s, 1e-7));
  }
  REQUIRE(sentinels_intact(w, rows * cols));
}
