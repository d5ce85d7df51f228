// Same-run baselines that every benchmark prints next to its figure: STREAM-style triad
// bandwidth and bare GEMMs (Eigen, and the BLAS the CPU kernels use), so timings on noisy shared
// machines can be compared.
#pragma once
#include <cstdint>

namespace retort::bench {

// GB/s of a[i] = b[i] + s*c[i] over arrays of `bytes_per_array` bytes (3 arrays moved).
double triad_gbps(int64_t bytes_per_array = 64ll << 20, int repeats = 10);

// GFLOP/s of a bare Eigen float GEMM C[m,n] = A[m,k] * B[k,n].
double eigen_gemm_gflops(int64_t m, int64_t n, int64_t k, int repeats = 10);

// GFLOP/s of a bare BLAS (cblas_sgemm) row-major C[m,n] = A[m,k]·op(B) with B stored [n, k]
// when trans_b (the layout of a linear layer's forward) and [k, n] otherwise.
double blas_gemm_gflops(int64_t m, int64_t n, int64_t k, bool trans_b = true, int repeats = 10);

}  // namespace retort::bench
