// CPU batch-invariant linear forward: the fixed per-element dot product of the header, computed
// by register tiles of R rows x O outputs (AVX2 FMA) over cache blocks of outputs, threaded over
// those blocks. Tiles, blocks and threads only decide which elements are computed together and
// when; an element's own sequence of operations never changes, so neither does its result.
#include "kernels/linear_invariant.h"

#include <immintrin.h>

#include <algorithm>

namespace retort::kernels {
namespace {

// The header's lane reduction of one 8-lane partial sum: ((a0+a4)+(a2+a6)) + ((a1+a5)+(a3+a7)).
inline float reduce_lanes(__m256 a) {
  const __m128 l = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));  // a_i + a_{i+4}
  const __m128 s = _mm_add_ps(l, _mm_movehl_ps(l, l));                                  // l0+l2, l1+l3
  return _mm_cvtss_f32(_mm_add_ss(s, _mm_shuffle_ps(s, s, 1)));
}

// y[r0.., o0..] for an R x O tile: every element gets its own 8-lane accumulator, updated by one
// FMA per 8 k in order; each x vector is loaded once per k step and each w vector once per k
// step, shared by the tile (R + O loads for R·O FMAs).
template <int R, int O>
inline void tile(const float* x, const float* w, const float* b, float* y, int64_t r0, int64_t o0, int64_t in,
                 int64_t out) {
  const int64_t in8 = in / 8 * 8;
  const float* xr[R];
  const float* wo[O];
  for (int r = 0; r < R; ++r) xr[r] = x + (r0 + r) * in;
  for (int o = 0; o < O; ++o) wo[o] = w + (o0 + o) * in;
  __m256 acc[R][O];
  for (int r = 0; r < R; ++r)
    for (int o = 0; o < O; ++o) acc[r][o] = _mm256_setzero_ps();
  for (int64_t k = 0; k < in8; k += 8) {
    __m256 xv[R];
    for (int r = 0; r < R; ++r) xv[r] = _mm256_loadu_ps(xr[r] + k);
    for (int o = 0; o < O; ++o) {
      const __m256 wv = _mm256_loadu_ps(wo[o] + k);
      for (int r = 0; r < R; ++r) acc[r][o] = _mm256_fmadd_ps(xv[r], wv, acc[r][o]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int o = 0; o < O; ++o) {
      float s = reduce_lanes(acc[r][o]);
      for (int64_t k = in8; k < in; ++k) {
        const float prod = xr[r][k] * wo[o][k];
        s = s + prod;
      }
      y[(r0 + r) * out + o0 + o] = b ? s + b[o0 + o] : s;
    }
}

// Outputs [o0, o1) of rows [r0, r0 + R): O-wide tiles, then pairs, then a single output.
template <int R, int O>
inline void row_strip(const float* x, const float* w, const float* b, float* y, int64_t r0, int64_t o0, int64_t o1,
                      int64_t in, int64_t out) {
  int64_t o = o0;
  for (; o + O <= o1; o += O) tile<R, O>(x, w, b, y, r0, o, in, out);
  for (; o + 2 <= o1; o += 2) tile<R, 2>(x, w, b, y, r0, o, in, out);
  if (o < o1) tile<R, 1>(x, w, b, y, r0, o, in, out);
}

// A lone row: 8-wide tiles, the last one widened to take up to 4 more outputs (at most 12
// accumulators + 2 loads in registers), so a short remainder (out = 10: 2) rides along the
// 8-wide tile's loads instead of running as its own latency-bound pair of FMA chains.
template <int O>
inline void lone_row_tile(const float* x, const float* w, const float* b, float* y, int64_t r0, int64_t o,
                          int64_t width, int64_t in, int64_t out) {
  if constexpr (O > 1) {
    if (width < O) return lone_row_tile<O - 1>(x, w, b, y, r0, o, width, in, out);
  }
  tile<1, O>(x, w, b, y, r0, o, in, out);
}

inline void lone_row_strip(const float* x, const float* w, const float* b, float* y, int64_t r0, int64_t o0,
                           int64_t o1, int64_t in, int64_t out) {
  int64_t o = o0;
  for (; o1 - o > 12; o += 8) tile<1, 8>(x, w, b, y, r0, o, in, out);
  if (o < o1) lone_row_tile<12>(x, w, b, y, r0, o, o1 - o, in, out);
}

// Register tiles within the 16 ymm registers: 3 rows x 4 outputs (12 accumulators, 3 x vectors,
// 1 w vector), then 2 x 6 and 1 x 8 for the remaining rows (a lone row needs 8 independent
// chains to cover the FMA latency).
constexpr int64_t kTileRows = 3;

// Weight rows per cache block: the block (outputs x in floats) stays in L2 while every row of x
// streams past it, so weights are read from memory once per call.
constexpr int64_t kBlockFloats = 96 * 1024;
constexpr int64_t kBlockMultiple = 24;  // a multiple of every tile width

int64_t outputs_per_block(int64_t in, int64_t out) {
  const int64_t fit = std::max<int64_t>(kBlockMultiple, kBlockFloats / std::max<int64_t>(in, 1) / kBlockMultiple * kBlockMultiple);
  return std::min(fit, out);
}

// Outputs [o0, o1) of every row: 3-row strips, then the 2- or 1-row remainder.
void output_block(const float* x, const float* w, const float* b, float* y, int64_t rows, int64_t o0, int64_t o1,
                  int64_t in, int64_t out) {
  int64_t r = 0;
  for (; r + kTileRows <= rows; r += kTileRows) row_strip<3, 4>(x, w, b, y, r, o0, o1, in, out);
  switch (rows - r) {
    case 2: row_strip<2, 6>(x, w, b, y, r, o0, o1, in, out); break;
    case 1: lone_row_strip(x, w, b, y, r, o0, o1, in, out); break;
    default: break;
  }
}

}  // namespace

void linear_forward_batch_invariant(const float* x, const float* w, const float* b, float* y,
                                    int64_t rows, int64_t in, int64_t out) {
  if (rows <= 0 || out <= 0) return;
  const int64_t block = outputs_per_block(in, out);
  const int64_t blocks = (out + block - 1) / block;
  // One block or a small product: no parallel region (entering one, even with if(false), cost
  // ~0.4 µs here, as much as a whole 1-row 1200 -> 10 product).
  if (blocks == 1 || rows * in * out < (1 << 18)) {
    for (int64_t ob = 0; ob < blocks; ++ob) output_block(x, w, b, y, rows, ob * block, std::min(out, (ob + 1) * block), in, out);
    return;
  }
#pragma omp parallel for schedule(static)
  for (int64_t ob = 0; ob < blocks; ++ob) output_block(x, w, b, y, rows, ob * block, std::min(out, (ob + 1) * block), in, out);
}

}  // namespace retort::kernels
