// Fused optimizer kernels vs plain float64 references over 10 steps; deterministic sum of squares.
#include <catch2/catch.hpp>
#include <omp.h>

#include <cmath>
#include <random>
#include <vector>

#include "kernels/optim.h"

using namespace retort::kernels;

namespace {
std::vector<float> random_vec(size_t n, uint32_t seed) {
  std::mt19937 g(seed);
  std::normal_distribution<float> d(0.f, 1.f);
  std::vector<float> v(n);
  for (auto& x : v) x = d(g);
  return v;
}
bool close(double got, double ref, double tol = 1e-5, double eps = 1e-4) {
  return std::abs(got - ref) <= tol + std::abs(ref) * eps;
}
}  // namespace

TEST_CASE("sgd_update matches the reference for 10 steps", "[kernels][optim]") {
  const size_t n = 300;
  for (bool nesterov : {false, true})
    for (float momentum : {0.f, 0.9f}) {
      if (nesterov && momentum == 0.f) continue;
      auto p = random_vec(n, 1);
      std::vector<float> m(n, 0.f);
      std::vector<double> rp(p.begin(), p.end()), rm(n, 0.0);
      const float lr = 0.1f, wd = 0.01f, scale = 0.5f;
      for (int step = 0; step < 10; ++step) {
        const auto g = random_vec(n, 100 + step);
        sgd_update(p.data(), g.data(), m.data(), n, lr, momentum, wd, nesterov, scale);
        for (size_t i = 0; i < n; ++i) {
          const double gi = scale * double(g[i]) + wd * rp[i];
          rm[i] = momentum * rm[i] + gi;
          const double d = momentum == 0 ? gi : (nesterov ? gi + momentum * rm[i] : rm[i]);
          rp[i] -= lr * d;
        }
      }
      for (size_t i = 0; i < n; ++i) REQUIRE(close(p[i], rp[i]));
    }
}

TEST_CASE("adamw_update matches the reference for 10 steps", "[kernels][optim]") {
  const size_t n = 300;
  auto p = random_vec(n, 2);
  std::vector<float> m(n, 0.f), v(n, 0.f);
  std::vector<double> rp(p.begin(), p.end()), rm(n, 0.0), rv(n, 0.0);
  const double lr = 1e-2, b1 = 0.9, b2 = 0.999, eps = 1e-8, wd = 0.1, scale = 0.7;
  for (int t = 1; t <= 10; ++t) {
    const auto g = random_vec(n, 200 + t);
    adamw_update(p.data(), g.data(), m.data(), v.data(), n, float(lr), float(b1), float(b2),
                 float(eps), float(wd), t, float(scale));
    for (size_t i = 0; i < n; ++i) {
      const double gi = scale * g[i];
      rp[i] -= lr * wd * rp[i];
      rm[i] = b1 * rm[i] + (1 - b1) * gi;
      rv[i] = b2 * rv[i] + (1 - b2) * gi * gi;
      const double mh = rm[i] / (1 - std::pow(b1, t)), vh = rv[i] / (1 - std::pow(b2, t));
      rp[i] -= lr * mh / (std::sqrt(vh) + eps);
    }
  }
  for (size_t i = 0; i < n; ++i) REQUIRE(close(p[i], rp[i]));
}

TEST_CASE("sum_squares is exact to float64 rounding and thread-count independent", "[kernels][optim]") {
  const size_t n = 300001;  // several chunks, not a multiple of the chunk size
  const auto g = random_vec(n, 3);
  double ref = 0;
  for (float x : g) ref += double(x) * x;
  const int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  const double one = sum_squares(g.data(), n);
  omp_set_num_threads(2);
  const double two = sum_squares(g.data(), n);
  omp_set_num_threads(threads);
  REQUIRE(one == two);
  REQUIRE(close(one, ref, 0, 1e-12));
  REQUIRE(sum_squares(g.data(), 0) == 0.0);
}
