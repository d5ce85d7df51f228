// Triad bandwidth, Eigen GEMM and BLAS GEMM baselines.
#include "tests/bench/baselines.h"

#include <cblas.h>

#include <Eigen/Core>
#include <vector>

#include "tests/bench/bench.h"

namespace retort::bench {

double triad_gbps(int64_t bytes_per_array, int repeats) {
  const int64_t n = bytes_per_array / static_cast<int64_t>(sizeof(float));
  std::vector<float> a(n), b(n, 1.0f), c(n, 2.0f);
  const float s = 3.0f;
  const double t = time_median(repeats, [&] {
#pragma omp parallel for simd schedule(static)
    for (int64_t i = 0; i < n; ++i) a[i] = b[i] + s * c[i];
  });
  volatile float sink = a[n / 2];
  (void)sink;
  return 3.0 * static_cast<double>(bytes_per_array) / t / 1e9;
}

double eigen_gemm_gflops(int64_t m, int64_t n, int64_t k, int repeats) {
  Eigen::MatrixXf A = Eigen::MatrixXf::Random(m, k), B = Eigen::MatrixXf::Random(k, n), C(m, n);
  const double t = time_median(repeats, [&] { C.noalias() = A * B; });
  volatile float sink = C(0, 0);
  (void)sink;
  return 2.0 * static_cast<double>(m) * n * k / t / 1e9;
}

double blas_gemm_gflops(int64_t m, int64_t n, int64_t k, bool trans_b, int repeats) {
  std::vector<float> a(static_cast<size_t>(m * k), 0.5f), b(static_cast<size_t>(k * n), 0.25f), c(static_cast<size_t>(m * n));
  const double t = time_median(repeats, [&] {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, static_cast<int>(m),
                static_cast<int>(n), static_cast<int>(k), 1.f, a.data(), static_cast<int>(k), b.data(),
                static_cast<int>(trans_b ? k : n), 0.f, c.data(), static_cast<int>(n));
  });
  volatile float sink = c[0];
  (void)sink;
  return 2.0 * static_cast<double>(m) * n * k / t / 1e9;
}

}  // namespace retort::bench
