// Device kernel of the batch-invariant linear forward (compiled by nvcc in linear_invariant.cu
// and by g++ under the SIMT emulator in tests): kernels/linear_invariant.h's per-element sum
// order on the GPU, with a fixed tile order and no split-K, so no output depends on the rows.
#pragma once
#include <cstdint>

#include "kernels/cuda/device_utils.cuh"

namespace retort::kernels::gpu {

constexpr int kInvTileRows = 32;     // rows of x per block tile
constexpr int kInvTileOuts = 64;     // outputs per block tile
constexpr int kInvTileK = 32;        // k per shared-memory stage (4 groups of 8 lanes)
constexpr int kInvThreads = 256;     // 16 x 16: thread (tx, ty) owns rows ty + 16i, outputs tx + 16j
constexpr int kInvLanes = 8;         // lane l holds the products of k ≡ l (mod 8)
constexpr unsigned kInvMaxRowTiles = 65535;

// x[rows, in], w[out, in], b[out] (nullable) -> y[rows, out]. Grid (output tiles, row tiles,
// grid-stride over row tiles). Per element, whatever the tile it falls in:
//   lane[l] = fma(x[k], w[k], lane[l]) for k = l, l + 8, ... < in8 (in8 = in rounded down to 8),
//   s = ((l0+l4)+(l2+l6)) + ((l1+l5)+(l3+l7)),  s = s + x[k]·w[k] (product rounded) for k ≥ in8,
//   y = s + b.
// Tiles only decide which elements share shared-memory loads; k is never split across blocks.
static __global__ void __launch_bounds__(kInvThreads)
    linear_invariant_kernel(const float* x, const float* w, const float* b, float* y, int64_t rows, int64_t in,
                            int64_t out) {
  __shared__ float xs[kInvTileK][kInvTileRows + 1];  // [k][row], padded against bank conflicts
  __shared__ float ws[kInvTileK][kInvTileOuts + 1];  // [k][output]
  const int tid = static_cast<int>(threadIdx.x), tx = tid % 16, ty = tid / 16;
  const int64_t in8 = in / kInvLanes * kInvLanes;
  const int64_t o0 = int64_t{blockIdx.x} * kInvTileOuts;
  const int64_t row_tiles = (rows + kInvTileRows - 1) / kInvTileRows;
  for (int64_t rt = blockIdx.y; rt < row_tiles; rt += gridDim.y) {
    const int64_t r0 = rt * kInvTileRows;
    float acc[2][4][kInvLanes];
    for (int i = 0; i < 2; ++i)
      for (int j = 0; j < 4; ++j)
        for (int l = 0; l < kInvLanes; ++l) acc[i][j][l] = 0.f;
    for (int64_t k0 = 0; k0 < in8; k0 += kInvTileK) {
      const int kcount = static_cast<int>(in8 - k0 < kInvTileK ? in8 - k0 : kInvTileK);  // a multiple of 8
      __syncthreads();  // the previous stage is no longer read
      for (int e = tid; e < kInvTileRows * kInvTileK; e += kInvThreads) {
        const int r = e / kInvTileK, kk = e % kInvTileK;
        const int64_t gr = r0 + r;
        xs[kk][r] = (gr < rows && kk < kcount) ? x[gr * in + k0 + kk] : 0.f;
      }
      for (int e = tid; e < kInvTileOuts * kInvTileK; e += kInvThreads) {
        const int o = e / kInvTileK, kk = e % kInvTileK;
        const int64_t go = o0 + o;
        ws[kk][o] = (go < out && kk < kcount) ? w[go * in + k0 + kk] : 0.f;
      }
      __syncthreads();
      for (int g = 0; g < kcount; g += kInvLanes)
        for (int l = 0; l < kInvLanes; ++l) {
          float a[2], c[4];
          for (int i = 0; i < 2; ++i) a[i] = xs[g + l][ty + 16 * i];
          for (int j = 0; j < 4; ++j) c[j] = ws[g + l][tx + 16 * j];
          for (int i = 0; i < 2; ++i)
            for (int j = 0; j < 4; ++j) acc[i][j][l] = fmaf(a[i], c[j], acc[i][j][l]);
        }
    }
    for (int i = 0; i < 2; ++i)
      for (int j = 0; j < 4; ++j) {
        const int64_t gr = r0 + ty + 16 * i, go = o0 + tx + 16 * j;
        if (gr >= rows || go >= out) continue;
        const float* l = acc[i][j];
        float s = __fadd_rn(__fadd_rn(__fadd_rn(l[0], l[4]), __fadd_rn(l[2], l[6])),
                            __fadd_rn(__fadd_rn(l[1], l[5]), __fadd_rn(l[3], l[7])));
        for (int64_t k = in8; k < in; ++k) s = __fadd_rn(s, __fmul_rn(x[gr * in + k], w[go * in + k]));
        y[gr * out + go] = b ? __fadd_rn(s, b[go]) : s;
      }
  }
}

inline void enqueue_linear_invariant(const float* x, const float* w, const float* b, float* y, int64_t rows,
                                     int64_t in, int64_t out, Stream s) {
  if (rows <= 0 || out <= 0) return;
  const int64_t row_tiles = (rows + kInvTileRows - 1) / kInvTileRows;
  const dim3 grid(static_cast<unsigned>((out + kInvTileOuts - 1) / kInvTileOuts),
                  static_cast<unsigned>(row_tiles < kInvMaxRowTiles ? row_tiles : kInvMaxRowTiles));
  launch(linear_invariant_kernel, grid, dim3(kInvThreads), 0, s, x, w, b, y, rows, in, out);
}

}  // namespace retort::kernels::gpu
