// Gradient checks: each layer's and a whole MLP's analytic (float32) gradients against central
// finite differences of a plain float64 reference forward written here.
#include <catch2/catch.hpp>

#include <cmath>
#include <functional>
#include <random>
#include <vector>

#include "core/model/elementwise_layers.h"
#include "core/model/linear_layer.h"
#include "core/model/model.h"
#include "kernels/dropout.h"
#include "kernels/softmax_xent.h"

using namespace retort::core;
namespace k = retort::kernels;

namespace {
std::vector<double> rand_vec(size_t n, uint32_t seed, double scale = 1.0) {
  std::mt19937 g(seed);
  std::uniform_real_distribution<double> d(-scale, scale);
  std::vector<double> v(n);
  for (auto& x : v) x = d(g);
  return v;
}
std::vector<float> to_f(const std::vector<double>& v) { return {v.begin(), v.end()}; }

// d f / d v[i] by central differences in float64.
double fd(const std::function<double(const std::vector<double>&)>& f, std::vector<double> v, size_t i) {
  const double h = 1e-6, keep = v[i];
  v[i] = keep + h;
  const double up = f(v);
  v[i] = keep - h;
  const double down = f(v);
  return (up - down) / (2 * h);
}
bool close(double got, double ref) { return std::abs(got - ref) <= 2e-4 + 2e-3 * std::abs(ref); }

double gelu(double t) { return 0.5 * t * (1 + std::tanh(std::sqrt(2 / M_PI) * (t + 0.044715 * t * t * t))); }
double act(const std::string& a, double t) { return a == "gelu" ? gelu(t) : (t > 0 ? t : 0); }

double dropout_ref(double v, uint64_t seed, uint64_t epoch, uint64_t id, uint64_t site, int64_t col, double p) {
  if (p == 0) return v;
  const bool keep = k::uniform_u32(k::row_key(seed, epoch, id, site), col) >= k::dropout_threshold(p);
  return keep ? v / (1 - p) : 0.0;
}
}  // namespace

TEST_CASE("linear layer gradients match float64 finite differences", "[gradcheck]") {
  const int rows = 3, in = 4, out = 5;
  LinearLayer layer("fc", in, out, WeightInit::kaiming, 0);
  ParamLayout layout;
  layer.declare(layout);
  const auto p64 = rand_vec(layout.total(), 1), x64 = rand_vec(rows * in, 2), c = rand_vec(rows * out, 3);
  auto params = to_f(p64), x = to_f(x64);
  std::vector<float> grads(layout.total(), 0.f), y(rows * out), dx(rows * in), dy = to_f(c);
  layer.bind(layout, params.data(), grads.data(), *cpu_compute());
  BatchContext ctx;
  ctx.rows = rows;
  layer.forward(x.data(), y.data(), ctx);
  layer.backward(x.data(), y.data(), dy.data(), dx.data(), ctx);
  const auto& W = layout.tensor(0);
  const auto& B = layout.tensor(1);
  auto loss = [&](const std::vector<double>& p, const std::vector<double>& xs) {
    double L = 0;
    for (int r = 0; r < rows; ++r)
      for (int o = 0; o < out; ++o) {
        double v = p[B.offset + o];
        for (int i = 0; i < in; ++i) v += xs[r * in + i] * p[W.offset + o * in + i];
        L += c[r * out + o] * v;
      }
    return L;
  };
  for (const auto& t : layout.tensors())
    for (int64_t i = 0; i < t.numel; ++i) {
      const size_t at = static_cast<size_t>(t.offset + i);
      REQUIRE(close(grads[at], fd([&](const auto& p) { return loss(p, x64); }, p64, at)));
    }
  for (size_t i = 0; i < x64.size(); ++i)
    REQUIRE(close(dx[i], fd([&](const auto& xs) { return loss(p64, xs); }, x64, i)));
}

TEST_CASE("activation and dropout layer gradients match float64 finite differences", "[gradcheck]") {
  const int rows = 4, n = 6;
  const auto x64 = rand_vec(rows * n, 5, 2.0), c = rand_vec(rows * n, 6);
  const std::vector<uint64_t> ids = {11, 12, 13, 99};
  BatchContext ctx{rows, true, ids.data(), 77, 2};
  auto check = [&](Layer& layer, const std::function<double(double, int, int)>& f) {
    auto x = to_f(x64);
    std::vector<float> y(rows * n), dx(rows * n), dy = to_f(c);
    layer.forward(x.data(), y.data(), ctx);
    layer.backward(x.data(), y.data(), dy.data(), dx.data(), ctx);
    auto loss = [&](const std::vector<double>& xs) {
      double L = 0;
      for (int r = 0; r < rows; ++r)
        for (int j = 0; j < n; ++j) L += c[r * n + j] * f(xs[r * n + j], r, j);
      return L;
    };
    for (size_t i = 0; i < x64.size(); ++i) {
      REQUIRE(close(y[i], f(x64[i], int(i) / n, int(i) % n)));
      REQUIRE(close(dx[i], fd(loss, x64, i)));
    }
  };
  ActivationLayer relu(k::Activation::relu, n), gelu_layer(k::Activation::gelu, n);
  check(relu, [](double v, int, int) { return act("relu", v); });
  check(gelu_layer, [](double v, int, int) { return act("gelu", v); });
  DropoutLayer drop(0.4, n, 3);
  check(drop, [&](double v, int r, int j) { return dropout_ref(v, 77, 2, ids[r], 3, j, 0.4); });
}

TEST_CASE("whole MLP gradient matches float64 finite differences of a reference", "[gradcheck]") {
  for (const std::string activation : {"relu", "gelu"}) {
    ModelSpec spec;
    spec.config.hidden = {7, 5};
    spec.config.activation = activation;
    spec.config.dropout = 0.3;
    spec.config.input_dropout = 0.2;
    spec.in_features = 6;
    spec.classes = 4;
    Model model(spec);
    model.initialize(9);
    const int rows = 5;
    const auto x64 = rand_vec(rows * 6, 10);
    const std::vector<int32_t> labels = {0, 3, 1, 2, 3};
    const std::vector<uint64_t> ids = {4, 8, 15, 16, 23};
    const uint64_t seed = 5, epoch = 1;
    BatchContext ctx{rows, true, ids.data(), seed, epoch};
    auto x = to_f(x64);
    const float* logits = model.forward(x.data(), ctx);
    std::vector<float> dz(rows * 4);
    k::softmax_xent(logits, labels.data(), dz.data(), rows, 4, 1.f / rows);
    model.backward(dz.data(), ctx);
    const std::vector<double> p64(model.params().begin(), model.params().end());

    const auto& L = model.layout();
    auto loss = [&](const std::vector<double>& p) {  // plain float64 forward + mean CE
      double total = 0;
      for (int r = 0; r < rows; ++r) {
        std::vector<double> h(6);
        for (int j = 0; j < 6; ++j) h[j] = dropout_ref(x64[r * 6 + j], seed, epoch, ids[r], 0, j, 0.2);
        const int64_t sizes[] = {6, 7, 5, 4};
        for (int layer = 0; layer < 3; ++layer) {
          const auto& W = L.tensor(2 * layer);
          const auto& B = L.tensor(2 * layer + 1);
          std::vector<double> o(sizes[layer + 1]);
          for (int64_t a = 0; a < sizes[layer + 1]; ++a) {
            double v = p[B.offset + a];
            for (int64_t b = 0; b < sizes[layer]; ++b) v += p[W.offset + a * sizes[layer] + b] * h[b];
            o[a] = layer < 2 ? dropout_ref(act(activation, v), seed, epoch, ids[r], layer + 1, a, 0.3) : v;
          }
          h = o;
        }
        double m = h[0], s = 0;
        for (double v : h) m = std::max(m, v);
        for (double v : h) s += std::exp(v - m);
        total += std::log(s) + m - h[labels[r]];
      }
      return total / rows;
    };
    for (const auto& t : L.tensors())
      for (int64_t i = 0; i < t.numel; ++i) {
        const size_t at = static_cast<size_t>(t.offset + i);
        INFO(activation << " " << t.name << "[" << i << "]");
        REQUIRE(close(model.grads()[at], fd(loss, p64, at)));
      }
  }
}
