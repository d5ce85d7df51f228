// Same-run baselines that every benchmark prints next to its figure: STREAM-style triad
// bandwidth and a bare Eigen GEMM, so timings on noisy shared machines can be compared.
#pragma once
#include <cstdint>

namespace retort::bench {

// GB/s of a[i] = b[i] + s*c[i] over arrays of `bytes_per_array` bytes (3 arrays moved).
double triad_gbps(int64_t bytes_per_array = 64ll << 20, int repeats = 10);

// GFLOP/s of a bare Eigen float GEMM C[m,n] = A[m,k] * B[k,n].
double eigen_gemm_gflops(int64_t m, int64_t n, int64_t k, int repeats = 10);

}  // namespace retort::bench
