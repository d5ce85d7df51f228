// CPU dense layer: OpenBLAS sgemm on the caller's row-major buffers (no copies). The bias is
// written into y first and the GEMM accumulates onto it (beta = 1), so it costs no extra pass
// over the output; db is a gemv of dy against a vector of ones.
#include "kernels/linear.h"

#include <cblas.h>

#include <vector>

namespace retort::kernels {

void linear_forward(const float* x, const float* w, const float* b, float* y, int64_t rows,
                    int64_t in, int64_t out) {
  if (b) {
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t o = 0; o < out; ++o) y[r * out + o] = b[o];
  }
  // y[rows, out] (+)= x[rows, in] · w[out, in]ᵀ
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(rows), static_cast<int>(out),
              static_cast<int>(in), 1.f, x, static_cast<int>(in), w, static_cast<int>(in), b ? 1.f : 0.f, y,
              static_cast<int>(out));
}

void linear_backward(const float* x, const float* w, const float* dy, float* dx, float* dw,
                     float* db, int64_t rows, int64_t in, int64_t out) {
  const int m = static_cast<int>(rows), k = static_cast<int>(in), n = static_cast<int>(out);
  // dw[out, in] += dy[rows, out]ᵀ · x[rows, in]
  cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, n, k, m, 1.f, dy, n, x, k, 1.f, dw, k);
  if (db) {
    // db[out] += dy[rows, out]ᵀ · 1[rows]
    thread_local std::vector<float> ones;
    if (ones.size() < static_cast<size_t>(rows)) ones.assign(static_cast<size_t>(rows), 1.f);
    cblas_sgemv(CblasRowMajor, CblasTrans, m, n, 1.f, dy, n, ones.data(), 1, 1.f, db, 1);
  }
  // dx[rows, in] = dy[rows, out] · w[out, in]
  if (dx) cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, k, n, 1.f, dy, n, w, k, 0.f, dx, k);
}

}  // namespace retort::kernels
