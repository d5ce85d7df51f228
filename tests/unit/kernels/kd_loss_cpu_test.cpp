// kd_loss on the CPU (through the kd_loss() dispatch) against the float64 reference.
#include <omp.h>

#include "tests/unit/kernels/kd_loss_checks.h"

namespace {
using namespace retort::kernels;
using namespace retort::kernels::test;

const Caller cpu_call = [](const retort::TensorView& z, const TeacherLogits& t, const int32_t* labels,
                           const retort::TensorView& dz, const KdLossParams& params, const KdLossMetrics& metrics) {
  return kd_loss(z, t, labels, dz, params, metrics);
};
}  // namespace

TEST_CASE("kd_loss cpu: random shapes, dtypes, divergences and tails match the float64 reference", "[kd_loss]") {
  check_random_shapes(cpu_call, Limits{});
}

TEST_CASE("kd_loss cpu: gradients match finite differences of the reference loss", "[kd_loss]") {
  check_finite_difference(cpu_call);
}

TEST_CASE("kd_loss cpu: identities (z == t, jsd endpoints, non-negative, rows sum to 0)", "[kd_loss]") {
  check_identities(cpu_call);
}

TEST_CASE("kd_loss cpu: edge cases", "[kd_loss]") { check_edge_cases(cpu_call, Limits{}); }

TEST_CASE("kd_loss cpu: T = 2 and 4 with CE (softmax(z) from squared exp(z/T)) match the float64 reference", "[kd_loss]") {
  std::mt19937_64 rng(test_seed() + 17);
  for (float temperature : {2.0f, 4.0f})
    for (int d = 0; d < 4; ++d)
      for (int64_t k : {0, 20})
        for (retort::DType zd : {retort::DType::f32, retort::DType::bf16}) {
          KdLossParams params;
          params.divergence = static_cast<Divergence>(d);
          params.temperature = temperature;
          params.alpha = 0.4f;
          params.beta = 0.3f;
          Problem pb = random_problem(rng, 5, 3000, k, zd, retort::DType::f32, params, true);
          // Student logits spread ×8 (exact in bf16 too): exp(z/T)^T then spans the whole float
          // range, underflow to 0 included.
          for (auto& v : pb.z) v *= 8.0f;
          INFO("T " << temperature << " divergence " << d << " k " << k);
          compare(pb, run_problem(pb, cpu_call), kLossEps, grad_eps(zd));
        }
}

TEST_CASE("kd_loss cpu: results do not depend on the number of OpenMP threads", "[kd_loss]") {
  std::mt19937_64 rng(test_seed() + 9);
  KdLossParams params;
  params.alpha = 0.5f;
  const Problem pb = random_problem(rng, 13, 1000, 0, retort::DType::f32, retort::DType::f32, params, true);
  const int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  const Outcome one = run_problem(pb, cpu_call);
  omp_set_num_threads(2);
  const Outcome two = run_problem(pb, cpu_call);
  omp_set_num_threads(threads);
  CHECK(one.result.loss == two.result.loss);
  CHECK(one.dz == two.dz);
}

TEST_CASE("kd_loss: arguments that break the contract are input errors naming the argument", "[kd_loss]") {
  std::vector<float> z(6), t(6), dz(6);
  const retort::TensorView zv{z.data(), retort::DType::f32, 2, 3, retort::Device::cpu};
  const retort::TensorView tv{t.data(), retort::DType::f32, 2, 3, retort::Device::cpu};
  const retort::TensorView bad_t{t.data(), retort::DType::f32, 3, 2, retort::Device::cpu};
  const retort::TensorView dzv{dz.data(), retort::DType::f32, 2, 3, retort::Device::cpu};
  KdLossParams params;
  REQUIRE_THROWS_WITH(kd_loss(zv, TeacherLogits::dense(bad_t), nullptr, dzv, params),
                      Catch::Contains("dense teacher logits"));
  params.alpha = 0.5f;
  REQUIRE_THROWS_WITH(kd_loss(zv, TeacherLogits::dense(tv), nullptr, dzv, params), Catch::Contains("needs labels"));
  params.alpha = 0;
  params.temperature = 0;
  REQUIRE_THROWS_WITH(kd_loss(zv, TeacherLogits::dense(tv), nullptr, dzv, params), Catch::Contains("temperature"));
  REQUIRE_THROWS_WITH(parse_divergence("kl"), Catch::Contains("unknown divergence"));
  CHECK(parse_divergence("jsd") == Divergence::jsd);
}

TEST_CASE("kd_loss cpu: asking for metrics does not change the loss or the gradient", "[kd_loss]") {
  // The dense row skips the teacher-entropy sum when no metrics are asked for; the rest must
  // be bit for bit the same.
  const Caller without_metrics = [](const retort::TensorView& z, const TeacherLogits& t, const int32_t* labels,
                                    const retort::TensorView& dz, const KdLossParams& params, const KdLossMetrics&) {
    return kd_loss(z, t, labels, dz, params, KdLossMetrics{});
  };
  std::mt19937_64 rng(test_seed() + 23);
  for (float temperature : {1.0f, 2.0f, 3.0f, 4.0f})
    for (int d = 0; d < 4; ++d) {
      KdLossParams params;
      params.divergence = static_cast<Divergence>(d);
      params.temperature = temperature;
      params.alpha = 0.3f;
      params.beta = 0.6f;
      const Problem pb = random_problem(rng, 4, 700, 0, retort::DType::f32, retort::DType::f32, params, true);
      const Outcome with = run_problem(pb, cpu_call), without = run_problem(pb, without_metrics);
      INFO("T " << temperature << " divergence " << d);
      CHECK(with.result.loss == without.result.loss);
      CHECK(with.result.kd == without.result.kd);
      CHECK(with.dz == without.dz);
    }
}
