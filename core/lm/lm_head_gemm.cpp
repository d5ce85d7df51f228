// Threaded head GEMMs (lm_head_gemm.h): each OpenMP thread owns a range of vocabulary rows (Z, dW)
// and of hidden columns (dX) and runs one OpenBLAS call on it (OpenBLAS is single-threaded
// inside a parallel region), so the threads never meet inside a GEMM the way a BLAS-threaded
// chunk of ~250 rows makes them.
#include "core/lm/lm_head_gemm.h"

#include <cblas.h>
#include <omp.h>

namespace retort::core {
namespace {

constexpr int64_t kAlign = 16;  // 64 bytes of floats: every part starts on a cache line of a row

// Threads for a GEMM region: the OpenMP maximum, or 1 when already inside a parallel region.
int region_threads() { return omp_in_parallel() ? 1 : omp_get_max_threads(); }

}  // namespace

IndexRange split_range(int64_t n, int parts, int part, int64_t align) {
  const auto boundary = [&](int p) { return p >= parts ? n : n * p / parts / align * align; };
  return {boundary(part), boundary(part + 1)};
}

void head_logits_host(const float* x, const float* w, float* z, int64_t rows, int64_t dim, int64_t vocab) {
#pragma omp parallel num_threads(region_threads())
  {
    // z[:, v] = x · w[v, :]ᵀ   x [rows, dim], w[v] [nv, dim], z[:, v] [rows, nv] (row stride vocab)
    const IndexRange v = split_range(vocab, omp_get_num_threads(), omp_get_thread_num(), kAlign);
    if (v.end > v.begin)
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(rows), static_cast<int>(v.end - v.begin),
                  static_cast<int>(dim), 1.f, x, static_cast<int>(dim), w + v.begin * dim, static_cast<int>(dim), 0.f,
                  z + v.begin, static_cast<int>(vocab));
  }
}

void head_backward_host(const float* x, const float* w, const float* dz, float* dx, float* dw, int64_t rows,
                        int64_t dim, int64_t vocab) {
  const int m = static_cast<int>(rows), k = static_cast<int>(dim), n = static_cast<int>(vocab);
#pragma omp parallel num_threads(region_threads())
  {
    const int parts = omp_get_num_threads(), part = omp_get_thread_num();
    // dw[v, :] += dz[:, v]ᵀ · x   dz[:, v] [rows, nv] (row stride vocab), x [rows, dim], dw[v] [nv, dim]
    const IndexRange v = split_range(vocab, parts, part, kAlign);
    if (v.end > v.begin)
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, static_cast<int>(v.end - v.begin), k, m, 1.f, dz + v.begin,
                  n, x, k, 1.f, dw + v.begin * dim, k);
    // dx[:, c] = dz · w[:, c]   dz [rows, vocab], w[:, c] [vocab, nc] (row stride dim), dx[:, c] [rows, nc]
    const IndexRange c = split_range(dim, parts, part, kAlign);
    if (c.end > c.begin)
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, static_cast<int>(c.end - c.begin), n, 1.f, dz, n,
                  w + c.begin, k, 0.f, dx + c.begin, k);
  }
}

}  // namespace retort::core
