// The engine's CUDA kernel bodies (kernels/cuda/engine_layers.cuh, the exact device source) on
// the SIMT emulator, against plain float64 references and the CPU kernels' masks.
#include "tests/simt/simt.h"
// The emulator's built-ins must come first.
#include <catch2/catch.hpp>

#include <cmath>
#include <random>
#include <vector>

#include "kernels/cuda/engine_layers.cuh"
#include "kernels/dropout.h"

using namespace retort::kernels;

namespace {
std::vector<float> random_vec(size_t n, uint32_t seed, float lo = -1.f, float hi = 1.f) {
  std::mt19937 g(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = d(g);
  return v;
}
bool close(double got, double ref, double tol = 1e-5, double eps = 1e-5) {
  return std::abs(got - ref) <= tol + std::abs(ref) * eps;
}
double gelu(double t) { return 0.5 * t * (1 + std::tanh(std::sqrt(2 / M_PI) * (t + 0.044715 * t * t * t))); }
}  // namespace

TEST_CASE("emulated bias+activation and activation backward match float64", "[cuda][emulated]") {
  const int64_t rows = 5, cols = 37;  // not a multiple of the block size
  const auto b = random_vec(cols, 1);
  const auto dy = random_vec(rows * cols, 2);
  const auto x = random_vec(rows * cols, 3, -3.f, 3.f);
  for (Activation act : {Activation::relu, Activation::gelu}) {
    // Out of place with a bias (x -> pre = x + b, the linear epilogue; pre -> y, the activation).
    std::vector<float> pre(rows * cols), y(rows * cols), dx(rows * cols);
    gpu::enqueue_bias_add(x.data(), pre.data(), b.data(), rows, cols, nullptr);
    gpu::enqueue_bias_act(pre.data(), y.data(), nullptr, rows, cols, act, nullptr);
    gpu::enqueue_act_backward(act, pre.data(), y.data(), dy.data(), dx.data(), rows * cols, nullptr);
    // In place, bias and activation fused: the same bits as the two steps above.
    auto fused = x;
    gpu::enqueue_bias_act(fused.data(), fused.data(), b.data(), rows, cols, act, nullptr);
    for (int64_t i = 0; i < rows * cols; ++i) {
      const double v = double(x[i]) + b[i % cols];
      REQUIRE(close(pre[i], v));
      REQUIRE(close(y[i], act == Activation::relu ? std::max(v, 0.0) : gelu(v)));
      REQUIRE(fused[i] == y[i]);
      const double h = 1e-6;
      const double slope = act == Activation::relu ? (y[i] > 0 ? 1.0 : 0.0) : (gelu(pre[i] + h) - gelu(pre[i] - h)) / (2 * h);
      REQUIRE(close(dx[i], dy[i] * slope, 1e-5, 1e-4));
    }
  }
}

TEST_CASE("emulated dropout draws exactly the CPU contract's mask", "[cuda][emulated]") {
  const int64_t rows = 6, cols = 50;
  const double p = 0.4;
  std::vector<uint64_t> keys(rows);
  for (int64_t r = 0; r < rows; ++r) keys[r] = row_key(9, 1, 100 + r, 2);
  const auto x = random_vec(rows * cols, 4);
  std::vector<float> y(rows * cols);
  gpu::enqueue_dropout(x.data(), y.data(), keys.data(), rows, cols, p, nullptr);
  const float scale = static_cast<float>(1.0 / (1.0 - p));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) {
      const bool keep = uniform_u32(keys[r], c) >= dropout_threshold(p);
      REQUIRE(y[r * cols + c] == (keep ? x[r * cols + c] * scale : 0.f));
    }
}

TEST_CASE("emulated bias gradient, softmax-CE and max-norm match float64", "[cuda][emulated]") {
  const int64_t rows = 7, cols = 300;
  const auto dy = random_vec(rows * cols, 5);
  auto db = random_vec(cols, 6);
  const auto db0 = db;
  gpu::enqueue_bias_grad(dy.data(), db.data(), rows, cols, nullptr);
  for (int64_t c = 0; c < cols; ++c) {
    double ref = db0[c];
    for (int64_t r = 0; r < rows; ++r) ref += dy[r * cols + c];
    REQUIRE(close(db[c], ref));
  }

  const int64_t classes = 10;
  const auto z = random_vec(rows * classes, 7, -4.f, 4.f);
  std::vector<int32_t> labels(rows);
  for (int64_t r = 0; r < rows; ++r) labels[r] = static_cast<int32_t>((3 * r) % classes);
  std::vector<float> dz(rows * classes);
  std::vector<double> loss(rows);
  std::vector<int32_t> correct(rows);
  gpu::enqueue_softmax_xent(z.data(), labels.data(), dz.data(), loss.data(), correct.data(), rows, classes, 0.5f,
                            nullptr);
  for (int64_t r = 0; r < rows; ++r) {
    const float* zr = &z[r * classes];
    double m = zr[0];
    int64_t arg = 0;
    for (int64_t c = 1; c < classes; ++c)
      if (zr[c] > m) m = zr[c], arg = c;
    double s = 0;
    for (int64_t c = 0; c < classes; ++c) s += std::exp(zr[c] - m);
    REQUIRE(close(loss[r], std::log(s) + m - zr[labels[r]], 1e-12, 1e-12));
    REQUIRE(correct[r] == (arg == labels[r]));
    for (int64_t c = 0; c < classes; ++c)
      REQUIRE(close(dz[r * classes + c], (std::exp(zr[c] - m) / s - (c == labels[r])) * 0.5, 1e-7));
  }

  auto w = random_vec(rows * cols, 8);
  for (int64_t c = 0; c < cols; ++c) w[2 * cols + c] *= 0.001f;  // one row under the limit
  const auto w0 = w;
  gpu::enqueue_max_norm(w.data(), rows, cols, 2.0f, nullptr);
  for (int64_t r = 0; r < rows; ++r) {
    double n = 0;
    for (int64_t c = 0; c < cols; ++c) n += double(w0[r * cols + c]) * w0[r * cols + c];
    n = std::sqrt(n);
    const double s = n > 2.0 ? 2.0 / n : 1.0;
    for (int64_t c = 0; c < cols; ++c) REQUIRE(close(w[r * cols + c], w0[r * cols + c] * s, 1e-7));
  }
}

TEST_CASE("emulated SGD/AdamW match float64 for 10 steps; sum of squares is exact and fixed-order", "[cuda][emulated]") {
  const int64_t n = 700;
  auto p = random_vec(n, 9), p2 = p;
  std::vector<float> m(n, 0.f), m2(n, 0.f), v2(n, 0.f);
  std::vector<double> rp(p.begin(), p.end()), rm(n, 0.0), rp2(p.begin(), p.end()), rm2(n, 0.0), rv2(n, 0.0);
  for (int t = 1; t <= 10; ++t) {
    const auto g = random_vec(n, 100 + t);
    gpu::enqueue_sgd(p.data(), g.data(), m.data(), n, 0.1f, 0.9f, 0.01f, true, 0.5f, nullptr);
    gpu::enqueue_adamw(p2.data(), g.data(), m2.data(), v2.data(), n, 0.01f, 0.9f, 0.999f, 1e-8f, 0.1f, t, 0.5f, nullptr);
    for (int64_t i = 0; i < n; ++i) {
      const double gi = 0.5 * g[i] + 0.01 * rp[i];
      rm[i] = 0.9 * rm[i] + gi;
      rp[i] -= 0.1 * (gi + 0.9 * rm[i]);
      const double ga = 0.5 * g[i];
      rp2[i] -= 0.01 * 0.1 * rp2[i];
      rm2[i] = 0.9 * rm2[i] + 0.1 * ga;
      rv2[i] = 0.999 * rv2[i] + 0.001 * ga * ga;
      rp2[i] -= 0.01 * (rm2[i] / (1 - std::pow(0.9, t))) / (std::sqrt(rv2[i] / (1 - std::pow(0.999, t))) + 1e-8);
    }
  }
  for (int64_t i = 0; i < n; ++i) {
    REQUIRE(close(p[i], rp[i], 1e-5, 1e-4));
    REQUIRE(close(p2[i], rp2[i], 1e-5, 1e-4));
  }

  const int64_t big = 3 * gpu::kSumChunk + 123;
  const auto g = random_vec(big, 10);
  std::vector<double> partial(gpu::sum_squares_chunks(big));
  double out = 0, again = 0, ref = 0;
  gpu::enqueue_sum_squares(g.data(), big, partial.data(), &out, nullptr);
  gpu::enqueue_sum_squares(g.data(), big, partial.data(), &again, nullptr);
  for (float x : g) ref += double(x) * x;
  REQUIRE(close(out, ref, 0, 1e-12));
  REQUIRE(out == again);
}
