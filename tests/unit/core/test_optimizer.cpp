// Optimizer (with global-norm clipping) and learning-rate schedules against plain references.
#include <catch2/catch.hpp>

#include <cmath>
#include <random>
#include <vector>

#include "core/optim/optimizer.h"
#include "core/optim/schedule.h"

using namespace retort::core;

namespace {
std::vector<float> randn(size_t n, uint32_t seed) {
  std::mt19937 g(seed);
  std::normal_distribution<float> d;
  std::vector<float> v(n);
  for (auto& x : v) x = d(g);
  return v;
}
bool close(double got, double ref) { return std::abs(got - ref) <= 1e-6 + 1e-4 * std::abs(ref); }
}  // namespace

TEST_CASE("SGD with Nesterov, weight decay and clipping matches the reference for 10 steps", "[optim]") {
  OptimConfig oc;
  oc.name = "sgd";
  oc.momentum = 0.9;
  oc.nesterov = true;
  oc.weight_decay = 1e-3;
  oc.clip_grad_norm = 3.0;
  const size_t n = 200;
  Optimizer opt(oc, n);
  auto p = randn(n, 1);
  std::vector<double> rp(p.begin(), p.end()), rm(n, 0);
  int clipped = 0;
  for (int step = 0; step < 10; ++step) {
    auto g = randn(n, 50 + step);
    for (auto& x : g) x *= step % 2 ? 0.1f : 1.0f;  // alternate clipped / unclipped steps
    const double lr = 0.05 * (step + 1);
    const auto info = opt.step(p, g, lr);
    double norm = 0;
    for (float x : g) norm += double(x) * x;
    norm = std::sqrt(norm);
    REQUIRE(close(info.grad_norm, norm));
    const double s = norm > 3.0 ? 3.0 / (norm + 1e-6) : 1.0;
    clipped += s < 1;
    for (size_t i = 0; i < n; ++i) {
      const double gi = s * g[i] + 1e-3 * rp[i];
      rm[i] = 0.9 * rm[i] + gi;
      rp[i] -= lr * (gi + 0.9 * rm[i]);
    }
  }
  REQUIRE(clipped == 5);
  REQUIRE(opt.steps_done() == 10);
  for (size_t i = 0; i < n; ++i) REQUIRE(close(p[i], rp[i]));
  REQUIRE(opt.state().size() == 1);
}

TEST_CASE("AdamW matches the reference for 10 steps", "[optim]") {
  OptimConfig oc;
  oc.name = "adamw";
  oc.weight_decay = 0.01;
  const size_t n = 200;
  Optimizer opt(oc, n);
  auto p = randn(n, 2);
  std::vector<double> rp(p.begin(), p.end()), rm(n, 0), rv(n, 0);
  for (int t = 1; t <= 10; ++t) {
    const auto g = randn(n, 80 + t);
    opt.step(p, g, 1e-2);
    for (size_t i = 0; i < n; ++i) {
      rp[i] *= 1 - 1e-2 * 0.01;
      rm[i] = 0.9 * rm[i] + 0.1 * g[i];
      rv[i] = 0.999 * rv[i] + 0.001 * double(g[i]) * g[i];
      rp[i] -= 1e-2 * (rm[i] / (1 - std::pow(0.9, t))) / (std::sqrt(rv[i] / (1 - std::pow(0.999, t))) + 1e-8);
    }
  }
  for (size_t i = 0; i < n; ++i) REQUIRE(close(p[i], rp[i]));
  REQUIRE(opt.state().size() == 2);
}

TEST_CASE("a non-finite gradient leaves parameters untouched", "[optim]") {
  OptimConfig oc;
  Optimizer opt(oc, 4);
  std::vector<float> p = {1, 2, 3, 4}, g = {0, NAN, 0, 0};
  const auto info = opt.step(p, g, 0.1);
  REQUIRE_FALSE(info.applied);
  REQUIRE(p == std::vector<float>{1, 2, 3, 4});
  REQUIRE(opt.steps_done() == 0);
}

TEST_CASE("schedules follow their formulas, with linear warmup", "[optim][schedule]") {
  ScheduleConfig s;
  s.warmup_steps = 4;
  const double lr = 0.2;
  for (const char* name : {"constant", "step", "cosine"}) {
    s.name = name;
    s.step_size = 3;
    s.gamma = 0.5;
    s.min_lr = 0.01;
    validate(s);
    for (int64_t step = 0; step < 10; ++step) {
      double ref;
      if (step < 4) {
        ref = lr * (step + 1) / 4.0;
      } else if (s.name == "constant") {
        ref = lr;
      } else if (s.name == "step") {
        ref = lr * std::pow(0.5, (step - 4) / 3);
      } else {
        ref = 0.01 + (lr - 0.01) * 0.5 * (1 + std::cos(M_PI * (step - 4) / 6.0));
      }
      INFO(name << " step " << step);
      REQUIRE(close(learning_rate(s, lr, step, 10), ref));
    }
  }
  s.name = "cosine";
  REQUIRE(close(learning_rate(s, lr, 10, 10), 0.01));  // ends at min_lr
  s.name = "linear";
  REQUIRE_THROWS_WITH(validate(s), Catch::Contains("schedule.name"));
}

TEST_CASE("bad optimizer settings name their key", "[optim]") {
  OptimConfig oc;
  oc.name = "lion";
  REQUIRE_THROWS_WITH(Optimizer(oc, 4), Catch::Contains("optim.name"));
  oc = OptimConfig{};
  oc.lr = -1;
  REQUIRE_THROWS_WITH(Optimizer(oc, 4), Catch::Contains("optim.lr"));
}
