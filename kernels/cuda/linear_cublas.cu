// The linear layer on the device (kernels/engine_cuda.h): cuBLAS SGEMMs in fp32 plus the
// hand-written bias epilogue and bias-gradient kernels (engine_layers.cu).
// Row-major A[r, c] is column-major Aᵀ[c, r] to cuBLAS, so with W[out, in], x[rows, in]:
//   yᵀ[out, rows]  = (Wᵀ)ᵀ·xᵀ   gemm(T, N, m=out, n=rows, k=in)
//   dxᵀ[in, rows]  = Wᵀ·dyᵀ     gemm(N, N, m=in,  n=rows, k=out)
//   dWᵀ[in, out]  += xᵀ·dy      gemm(N, T, m=in,  n=out,  k=rows, beta = 1)
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <climits>
#include <string>

#include "core/base/error.h"
#include "kernels/cuda/cublas_check.h"
#include "kernels/engine_cuda.h"

namespace retort::kernels {
namespace {

cublasHandle_t as_handle(const CublasHandle& h) { return static_cast<cublasHandle_t>(h.get()); }

int as_int(int64_t v, const char* what) {
  RETORT_CHECK(v >= 0 && v <= INT_MAX, std::string("cuBLAS dimension ") + what + " does not fit an int");
  return static_cast<int>(v);
}

}  // namespace

CublasHandle::CublasHandle(void* stream) {
  cublasHandle_t h = nullptr;
  RETORT_CUBLAS_CHECK(cublasCreate(&h));
  handle_ = h;
  RETORT_CUBLAS_CHECK(cublasSetStream(h, static_cast<cudaStream_t>(stream)));
  RETORT_CUBLAS_CHECK(cublasSetMathMode(h, CUBLAS_DEFAULT_MATH));  // fp32 SGEMM, never TF32
}

CublasHandle::~CublasHandle() {
  if (handle_) cublasDestroy(static_cast<cublasHandle_t>(handle_));
}

void linear_forward_cuda(const CublasHandle& cublas, const float* x, const float* w, const float* b, float* y,
                         int64_t rows, int64_t in, int64_t out, void* stream) {
  const float one = 1.f, zero = 0.f;
  const int r = as_int(rows, "rows"), i = as_int(in, "in"), o = as_int(out, "out");
  RETORT_CUBLAS_CHECK(cublasSgemm(as_handle(cublas), CUBLAS_OP_T, CUBLAS_OP_N, o, r, i, &one, w, i, x, i, &zero, y, o));
  if (b) bias_add_cuda(y, y, b, rows, out, stream);
}

void linear_backward_cuda(const CublasHandle& cublas, const float* x, const float* w, const float* dy, float* dx,
                          float* dw, float* db, int64_t rows, int64_t in, int64_t out, void* stream) {
  const float one = 1.f, zero = 0.f;
  const int r = as_int(rows, "rows"), i = as_int(in, "in"), o = as_int(out, "out");
  const cublasHandle_t h = as_handle(cublas);
  RETORT_CUBLAS_CHECK(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_T, i, o, r, &one, x, i, dy, o, &one, dw, i));
  if (db) bias_grad_cuda(dy, db, rows, out, stream);
  if (dx) RETORT_CUBLAS_CHECK(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, i, r, o, &one, w, i, dy, o, &zero, dx, i));
}

}  // namespace retort::kernels
