// Device kernels of the transformer's row-wise ops (compiled by nvcc in transformer_kernels.cu
// and by g++ under the SIMT emulator in tests): embedding forward/backward, RMSNorm forward/
// backward, RoPE, SwiGLU and the residual add. Each mirrors its kernels/*.h contract in fp32 with
// one fixed reduction order per row, so results never depend on the batch or the grid size.
#pragma once
#include <cmath>
#include <cstdint>

#include "core/base/error.h"
#include "kernels/cuda/device_utils.cuh"
#include "kernels/rope.h"

namespace retort::kernels::gpu {

constexpr int kRowThreads = 256;          // threads of a per-row block (whole warps)
constexpr unsigned kMaxRowBlocks = 65535;  // grid-stride beyond this many rows
constexpr int64_t kNormRowChunk = 32;     // rows of one RMSNorm dw partial sum (as on the CPU)
constexpr int64_t kEmbeddingOwners = 64;  // vocabulary ranges of the embedding backward

inline unsigned row_blocks(int64_t rows) {
  return static_cast<unsigned>(rows < 1 ? 1 : (rows > kMaxRowBlocks ? kMaxRowBlocks : rows));
}
inline unsigned flat_blocks(int64_t n) {
  const int64_t blocks = (n + kRowThreads - 1) / kRowThreads;
  return static_cast<unsigned>(blocks < 1 ? 1 : (blocks > 8192 ? 8192 : blocks));
}
inline unsigned column_blocks(int64_t cols) {
  return static_cast<unsigned>((cols + kRowThreads - 1) / kRowThreads);
}

// ---- embedding ------------------------------------------------------------------------------

// tokens[n]: *bad = max over ids outside [0, vocab) of n − position (0 when all are valid), so
// the first bad position is n − *bad whatever the thread order.
static __global__ void check_ids_kernel(const int32_t* tokens, int64_t n, int64_t vocab, unsigned long long* bad) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x)
    if (tokens[i] < 0 || tokens[i] >= vocab) atomicMax(bad, static_cast<unsigned long long>(n - i));
}

// tokens[n], table[vocab, dim] -> out[n, dim]: one block per token row (grid-stride), threads over
// columns. Rows of invalid ids are written as zeros (check_ids_kernel reports them).
static __global__ void embedding_forward_kernel(const int32_t* tokens, int64_t n, const float* table, int64_t vocab,
                                                int64_t dim, float* out) {
  for (int64_t i = blockIdx.x; i < n; i += gridDim.x) {
    const int64_t id = tokens[i];
    const bool valid = id >= 0 && id < vocab;
    for (int64_t c = threadIdx.x; c < dim; c += blockDim.x) out[i * dim + c] = valid ? table[id * dim + c] : 0.f;
  }
}

// dtable[vocab, dim] += Σ_{i: tokens[i] = t} dout[i, :]. Grid (column blocks, kEmbeddingOwners):
// block (x, y) owns columns [x·256, x·256 + 256) of the table rows in vocabulary range y, and
// walks the tokens in increasing i, so every table element adds its tokens in increasing index
// (the CPU's order: the same bits) with no atomics. Invalid ids fall in no range.
static __global__ void embedding_backward_kernel(const int32_t* tokens, int64_t n, const float* dout, int64_t vocab,
                                                 int64_t dim, float* dtable) {
  const int64_t c = blockIdx.x * int64_t{blockDim.x} + threadIdx.x;
  const int64_t lo = vocab * blockIdx.y / gridDim.y, hi = vocab * (blockIdx.y + 1) / gridDim.y;
  if (c >= dim) return;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t id = __ldg(tokens + i);
    if (id >= lo && id < hi) dtable[id * dim + c] += dout[i * dim + c];
  }
}

// ---- RMSNorm --------------------------------------------------------------------------------

// Σ a∘b over one row: each thread a strided subset in order, then the fixed-shape block
// reduction. Contains __syncthreads (every thread of the block must call it).
__device__ __forceinline__ float block_row_dot(const float* a, const float* b, int64_t n, float* scratch) {
  float s = 0.f;
  for (int64_t c = threadIdx.x; c < n; c += blockDim.x) s = fmaf(a[c], b[c], s);
  return block_allreduce(s, SumOp{}, 0.f, scratch);
}

// x[rows, dim], w[dim] -> y[rows, dim] (may alias x), rstd[rows] (nullable). Block per row.
static __global__ void rmsnorm_forward_kernel(const float* x, const float* w, float* y, float* rstd, int64_t rows,
                                              int64_t dim, float eps) {
  __shared__ float scratch[32];
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const float* xr = x + r * dim;
    float* yr = y + r * dim;
    const float inv = 1.f / sqrtf(block_row_dot(xr, xr, dim, scratch) / static_cast<float>(dim) + eps);
    for (int64_t c = threadIdx.x; c < dim; c += blockDim.x) yr[c] = xr[c] * inv * w[c];
    if (rstd && threadIdx.x == 0) rstd[r] = inv;
  }
}

// dx[rows, dim] = r·(w∘dy − x·r²·(Σ w∘dy∘x)/dim) per row (block per row; dx may alias dy: each
// thread overwrites only the elements it read, after the row's reduction).
static __global__ void rmsnorm_backward_dx_kernel(const float* x, const float* w, const float* rstd, const float* dy,
                                                  float* dx, int64_t rows, int64_t dim) {
  __shared__ float scratch[32];
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const float* xr = x + r * dim;
    const float* dyr = dy + r * dim;
    float* dxr = dx + r * dim;
    const float inv = rstd[r];
    float gx = 0.f;
    for (int64_t c = threadIdx.x; c < dim; c += blockDim.x) gx = fmaf(w[c] * dyr[c], xr[c], gx);
    gx = block_allreduce(gx, SumOp{}, 0.f, scratch);
    const float coef = inv * inv * gx / static_cast<float>(dim);
    for (int64_t c = threadIdx.x; c < dim; c += blockDim.x) dxr[c] = inv * fmaf(-xr[c], coef, w[c] * dyr[c]);
  }
}

// partial[chunks, dim]: chunk ch = Σ over its kNormRowChunk rows, in increasing row order, of
// dy∘x·rstd. Grid (column blocks, chunks), a thread per column.
static __global__ void rmsnorm_dw_partial_kernel(const float* x, const float* rstd, const float* dy, float* partial,
                                                 int64_t rows, int64_t dim) {
  const int64_t c = blockIdx.x * int64_t{blockDim.x} + threadIdx.x, ch = blockIdx.y;
  if (c >= dim) return;
  const int64_t end = (ch + 1) * kNormRowChunk < rows ? (ch + 1) * kNormRowChunk : rows;
  float part = 0.f;
  for (int64_t r = ch * kNormRowChunk; r < end; ++r) part = fmaf(dy[r * dim + c] * x[r * dim + c], rstd[r], part);
  partial[ch * dim + c] = part;
}

// dw[dim] += the chunks' partial sums in chunk order (a thread per column).
static __global__ void rmsnorm_dw_sum_kernel(const float* partial, float* dw, int64_t chunks, int64_t dim) {
  const int64_t c = blockIdx.x * int64_t{blockDim.x} + threadIdx.x;
  if (c >= dim) return;
  float acc = dw[c];
  for (int64_t ch = 0; ch < chunks; ++ch) acc += partial[ch * dim + c];
  dw[c] = acc;
}

// ---- RoPE -----------------------------------------------------------------------------------

// In place on x (rows at x + r·row_stride): one thread per (row, pair j), cos/sin of
// positions[r]·theta^(−2j/head_dim) in float64 rounded to float32 (as on the CPU), applied to
// every head of the row. sign = +1 forward, −1 the transpose (backward).
static __global__ void rope_kernel(float* x, const int32_t* positions, RopeParams p, float sign) {
  const int64_t half = p.head_dim / 2, n = p.rows * half;
  for (int64_t t = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; t < n; t += int64_t{gridDim.x} * blockDim.x) {
    const int64_t r = t / half, j = t % half;
    const double angle = static_cast<double>(positions[r]) *
                         pow(p.theta, -2.0 * static_cast<double>(j) / static_cast<double>(p.head_dim));
    const float c = static_cast<float>(cos(angle)), s = sign * static_cast<float>(sin(angle));
    float* row = x + r * p.row_stride;
    for (int64_t h = 0; h < p.n_heads; ++h) {
      float* a = row + h * p.head_dim + j;
      float* b = a + half;
      const float xa = *a, xb = *b;
      *a = fmaf(xa, c, -(xb * s));
      *b = fmaf(xb, c, xa * s);
    }
  }
}

// ---- SwiGLU and residual --------------------------------------------------------------------

// σ(g) from e = exp(−|g|) (never overflows): 1/(1 + e) for g >= 0, e/(1 + e) for g < 0.
__device__ __forceinline__ float stable_sigmoid(float g) {
  const float e = expf(-fabsf(g));
  return (g < 0.f ? e : 1.f) / (1.f + e);
}

// Element (r, c) of gate/up at r·in_stride + c, of out at r·out_stride + c: out = silu(gate)·up.
// Grid (column blocks, row blocks), grid-stride both ways (no index division).
static __global__ void swiglu_forward_kernel(const float* gate, const float* up, float* out, int64_t rows,
                                             int64_t cols, int64_t in_stride, int64_t out_stride) {
  for (int64_t r = blockIdx.y; r < rows; r += gridDim.y)
    for (int64_t c = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; c < cols; c += int64_t{gridDim.x} * blockDim.x) {
      const int64_t i = r * in_stride + c;
      const float g = gate[i];
      out[r * out_stride + c] = g * stable_sigmoid(g) * up[i];
    }
}

// dgate = dout·up·σ(g)·(1 + g·(1 − σ(g))), dup = dout·silu(g); layouts and grid as the forward.
static __global__ void swiglu_backward_kernel(const float* gate, const float* up, const float* dout, float* dgate,
                                              float* dup, int64_t rows, int64_t cols, int64_t in_stride,
                                              int64_t out_stride) {
  for (int64_t r = blockIdx.y; r < rows; r += gridDim.y)
    for (int64_t c = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; c < cols; c += int64_t{gridDim.x} * blockDim.x) {
      const int64_t i = r * in_stride + c;
      const float g = gate[i], s = stable_sigmoid(g), d = dout[r * out_stride + c], u = up[i];
      dgate[i] = d * u * (s * fmaf(g, 1.f - s, 1.f));
      dup[i] = d * (g * s);
    }
}

// y[n] += x[n].
static __global__ void add_inplace_kernel(float* y, const float* x, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x)
    y[i] += x[i];
}

// ---- enqueue helpers (host side; the same for the device and the emulator) ------------------

// *bad (device memory, zeroed by the caller) receives n − first invalid position, or stays 0.
inline void enqueue_check_ids(const int32_t* tokens, int64_t n, int64_t vocab, unsigned long long* bad, Stream s) {
  if (n > 0) launch(check_ids_kernel, dim3(flat_blocks(n)), dim3(kRowThreads), 0, s, tokens, n, vocab, bad);
}
inline void enqueue_embedding_forward(const int32_t* tokens, int64_t n, const float* table, int64_t vocab,
                                      int64_t dim, float* out, Stream s) {
  if (n > 0 && dim > 0)
    launch(embedding_forward_kernel, dim3(row_blocks(n)), dim3(kRowThreads), 0, s, tokens, n, table, vocab, dim, out);
}
inline void enqueue_embedding_backward(const int32_t* tokens, int64_t n, const float* dout, int64_t vocab,
                                       int64_t dim, float* dtable, Stream s) {
  if (n <= 0 || dim <= 0 || vocab <= 0) return;
  const unsigned owners = static_cast<unsigned>(vocab < kEmbeddingOwners ? vocab : kEmbeddingOwners);
  launch(embedding_backward_kernel, dim3(column_blocks(dim), owners), dim3(kRowThreads), 0, s, tokens, n, dout,
         vocab, dim, dtable);
}

inline void enqueue_rmsnorm_forward(const float* x, const float* w, float* y, float* rstd, int64_t rows,
                                    int64_t dim, float eps, Stream s) {
  if (rows > 0)
    launch(rmsnorm_forward_kernel, dim3(row_blocks(rows)), dim3(kRowThreads), 0, s, x, w, y, rstd, rows, dim, eps);
}
// Floats of device scratch rmsnorm backward needs (the dw partial sums).
inline int64_t rmsnorm_backward_scratch(int64_t rows, int64_t dim) {
  return (rows + kNormRowChunk - 1) / kNormRowChunk * dim;
}
// partial: rmsnorm_backward_scratch(rows, dim) floats of device memory. dw is summed before dx
// is written, so dx may alias dy.
inline void enqueue_rmsnorm_backward(const float* x, const float* w, const float* rstd, const float* dy, float* dx,
                                     float* dw, float* partial, int64_t rows, int64_t dim, Stream s) {
  if (rows <= 0 || dim <= 0) return;
  const int64_t chunks = (rows + kNormRowChunk - 1) / kNormRowChunk;
  RETORT_CHECK(chunks <= 65535, "rmsnorm backward: rows beyond 65535 chunks of 32");
  launch(rmsnorm_dw_partial_kernel, dim3(column_blocks(dim), static_cast<unsigned>(chunks)), dim3(kRowThreads), 0, s,
         x, rstd, dy, partial, rows, dim);
  launch(rmsnorm_dw_sum_kernel, dim3(column_blocks(dim)), dim3(kRowThreads), 0, s, partial, dw, chunks, dim);
  launch(rmsnorm_backward_dx_kernel, dim3(row_blocks(rows)), dim3(kRowThreads), 0, s, x, w, rstd, dy, dx, rows, dim);
}

inline void check_rope(const RopeParams& p) {
  RETORT_CHECK(p.head_dim > 0 && p.head_dim % 2 == 0, "rope head_dim must be positive and even");
  RETORT_CHECK(p.n_heads > 0 && p.row_stride >= p.n_heads * p.head_dim, "rope row_stride");
  RETORT_CHECK(p.theta > 0, "rope theta must be positive");
}
inline void enqueue_rope(float* x, const int32_t* positions, const RopeParams& p, float sign, Stream s) {
  if (p.rows <= 0) return;
  check_rope(p);
  launch(rope_kernel, dim3(flat_blocks(p.rows * (p.head_dim / 2))), dim3(kRowThreads), 0, s, x, positions, p, sign);
}

// Grid of the strided SwiGLU kernels: about 8192 blocks in all, split between columns and rows.
inline dim3 swiglu_grid(int64_t rows, int64_t cols) {
  const unsigned x = flat_blocks(cols);
  const int64_t y = 8192 / x;
  return dim3(x, static_cast<unsigned>(rows < y ? rows : (y < 1 ? 1 : y)));
}
inline void enqueue_swiglu_forward(const float* gate, const float* up, float* out, int64_t rows, int64_t cols,
                                   int64_t in_stride, int64_t out_stride, Stream s) {
  if (rows > 0 && cols > 0)
    launch(swiglu_forward_kernel, swiglu_grid(rows, cols), dim3(kRowThreads), 0, s, gate, up, out, rows, cols,
           in_stride, out_stride);
}
inline void enqueue_swiglu_backward(const float* gate, const float* up, const float* dout, float* dgate, float* dup,
                                    int64_t rows, int64_t cols, int64_t in_stride, int64_t out_stride, Stream s) {
  if (rows > 0 && cols > 0)
    launch(swiglu_backward_kernel, swiglu_grid(rows, cols), dim3(kRowThreads), 0, s, gate, up, dout, dgate, dup,
           rows, cols, in_stride, out_stride);
}
inline void enqueue_add_inplace(float* y, const float* x, int64_t n, Stream s) {
  if (n > 0) launch(add_inplace_kernel, dim3(flat_blocks(n)), dim3(kRowThreads), 0, s, y, x, n);
}

}  // namespace retort::kernels::gpu
