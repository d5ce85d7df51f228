// Test support shared by the differential tests: seeded normal-distributed inputs and the
// tolerance rule every comparison against a reference uses, |got − ref| ≤ tol + |ref|·eps.
#pragma once
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

namespace retort::test {

inline std::vector<float> random_normal(size_t n, uint32_t seed, float scale = 1.f) {
  std::mt19937 g(seed);
  std::normal_distribution<float> d(0.f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = d(g);
  return v;
}

inline bool within_tolerance(double got, double ref, double tol, double eps) {
  return std::abs(got - ref) <= tol + std::abs(ref) * eps;
}

}  // namespace retort::test
