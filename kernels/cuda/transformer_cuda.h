// CUDA entry points of the transformer kernels (device pointers, work enqueued on `stream`, a
// cudaStream_t): the contracts of kernels/{embedding,rmsnorm,rope,attention,swiglu,residual}.h
// on the device, fp32 storage and accumulation. Available when RETORT_HAVE_CUDA.
#pragma once
#include <cstdint>

#include "kernels/attention.h"
#include "kernels/rope.h"

namespace retort::kernels {

// The embedding pair checks the ids on the device and synchronises the stream to report the
// first id outside [0, vocab) as an input error (as the CPU kernels do).
void embedding_forward_cuda(const int32_t* tokens, int64_t n, const float* table, int64_t vocab, int64_t dim,
                            float* out, void* stream);
void embedding_backward_cuda(const int32_t* tokens, int64_t n, const float* dout, int64_t vocab, int64_t dim,
                             float* dtable, void* stream);
// rstd may be null; y may alias x.
void rmsnorm_forward_cuda(const float* x, const float* w, float* y, float* rstd, int64_t rows, int64_t dim, float eps,
                          void* stream);
// dx may alias dy; dw accumulated. Allocates its dw partial sums on the stream.
void rmsnorm_backward_cuda(const float* x, const float* w, const float* rstd, const float* dy, float* dx, float* dw,
                           int64_t rows, int64_t dim, void* stream);
// positions[rows] in device memory; negative positions are rotated (not refused) on the device.
void rope_forward_cuda(float* x, const int32_t* positions, const RopeParams& p, void* stream);
void rope_backward_cuda(float* dx, const int32_t* positions, const RopeParams& p, void* stream);
// head_dim <= 128 (a runtime error otherwise).
void attention_forward_cuda(const float* q, const float* k, const float* v, float* out, float* lse,
                            const AttentionShape& s, void* stream);
void attention_backward_cuda(const float* q, const float* k, const float* v, const float* out, const float* lse,
                             const float* dout, float* dq, float* dk, float* dv, const AttentionShape& s,
                             void* stream);
// Strided as in kernels/swiglu.h (a flat call is rows = 1, in_stride = out_stride = cols).
void swiglu_forward_cuda(const float* gate, const float* up, float* out, int64_t rows, int64_t cols,
                         int64_t in_stride, int64_t out_stride, void* stream);
void swiglu_backward_cuda(const float* gate, const float* up, const float* dout, float* dgate, float* dup,
                          int64_t rows, int64_t cols, int64_t in_stride, int64_t out_stride, void* stream);
void add_inplace_cuda(float* y, const float* x, int64_t n, void* stream);

}  // namespace retort::kernels
