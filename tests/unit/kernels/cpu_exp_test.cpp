// The CPU kd_loss exp and its squared reuse against float64 exp: vexp within 2 ulp on the whole
// range the kernel calls it with (x ≤ 0, down to the flush bound), 0 below it and at -inf; exp(d)² and
// exp(d)⁴ (softmax(z) at T = 2 and 4) within 5 and 11 ulp of exp(2d) and exp(4d) while normal;
// the same bounds for the dense row's vexp2 (2^x on [-126, 0]) and its square and 4th power.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <limits>

#include "kernels/cpu/kd_loss_cpu_math.h"

using retort::kernels::cpu::vexp;

namespace {
// |got - ref| in units of the float ulp at ref (ref a positive normal float value).
double ulps(float got, double ref) {
  int exponent = 0;
  std::frexp(ref, &exponent);  // ref = m·2^exponent, m in [0.5, 1)
  return std::fabs(static_cast<double>(got) - ref) / std::ldexp(1.0, exponent - 24);
}
constexpr double kMinNormal = 1.1754943508222875e-38;
}  // namespace

TEST_CASE("vexp is within 2 ulp of exp on [-87.3, 0] and 0 below", "[kd_loss][exp]") {
  double worst = 0, worst_sq = 0, worst_quad = 0;
  const int64_t steps = 4000000;
  for (int64_t i = 0; i <= steps; ++i) {
    const float x = static_cast<float>(-87.3 * static_cast<double>(i) / steps);
    const float e = vexp(x);
    worst = std::max(worst, ulps(e, std::exp(static_cast<double>(x))));
    const double sq_ref = std::exp(2.0 * x), quad_ref = std::exp(4.0 * x);
    if (sq_ref >= kMinNormal) worst_sq = std::max(worst_sq, ulps(e * e, sq_ref));
    if (quad_ref >= kMinNormal) worst_quad = std::max(worst_quad, ulps((e * e) * (e * e), quad_ref));
  }
  INFO("worst ulp: exp " << worst << ", exp^2 " << worst_sq << ", exp^4 " << worst_quad);
  CHECK(worst <= 2.0);
  CHECK(worst_sq <= 5.0);
  CHECK(worst_quad <= 11.0);
  // Down to the flush bound itself, where 2^n is -126 and the exponent add must stay normal.
  for (float x = -87.3f; x >= -87.33654f; x = std::nextafter(x, -100.0f)) {
    const float e = vexp(x);
    CHECK(e >= static_cast<float>(kMinNormal));
    worst = std::max(worst, ulps(e, std::exp(static_cast<double>(x))));
  }
  CHECK(worst <= 2.0);
  CHECK(vexp(std::nextafter(-87.33654f, -100.0f)) == 0.0f);
  CHECK(vexp(0.0f) == 1.0f);
  CHECK(vexp(-88.0f) == 0.0f);
  CHECK(vexp(-1e30f) == 0.0f);
  CHECK(vexp(-std::numeric_limits<float>::infinity()) == 0.0f);
}

TEST_CASE("vexp2 is within 2 ulp of 2^x on [-126, 0] and 0 below", "[kd_loss][exp]") {
  using retort::kernels::cpu::vexp2;
  double worst = 0, worst_sq = 0, worst_quad = 0;
  const int64_t steps = 4000000;
  for (int64_t i = 0; i <= steps; ++i) {
    const float x = static_cast<float>(-126.0 * static_cast<double>(i) / steps);
    const float e = vexp2(x);
    worst = std::max(worst, ulps(e, std::exp2(static_cast<double>(x))));
    // e² and e⁴ are the dense row's softmax(z) terms at T = 2 and 4: within 5 and 11 ulp while normal.
    const double sq_ref = std::exp2(2.0 * x), quad_ref = std::exp2(4.0 * x);
    if (sq_ref >= kMinNormal) worst_sq = std::max(worst_sq, ulps(e * e, sq_ref));
    if (quad_ref >= kMinNormal) worst_quad = std::max(worst_quad, ulps((e * e) * (e * e), quad_ref));
  }
  // Every float of the last binade above the flush bound, where 2^n is 2^-126.
  for (float x = -125.0f; x >= -126.0f; x = std::nextafter(x, -200.0f)) {
    const float e = vexp2(x);
    CHECK(e >= static_cast<float>(kMinNormal));
    worst = std::max(worst, ulps(e, std::exp2(static_cast<double>(x))));
  }
  INFO("worst ulp: 2^x " << worst << ", (2^x)^2 " << worst_sq << ", (2^x)^4 " << worst_quad);
  CHECK(worst <= 2.0);
  CHECK(worst_sq <= 5.0);
  CHECK(worst_quad <= 11.0);
  CHECK(vexp2(std::nextafter(-126.0f, -200.0f)) == 0.0f);
  CHECK(vexp2(0.0f) == 1.0f);
  CHECK(vexp2(-0.0f) == 1.0f);
  CHECK(vexp2(-1.0f) == 0.5f);
  CHECK(vexp2(-1e30f) == 0.0f);
  CHECK(vexp2(-std::numeric_limits<float>::infinity()) == 0.0f);
}
