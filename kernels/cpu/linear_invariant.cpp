// CPU batch-invariant linear forward: a fixed-order dot product per output element, blocked
// over rows and outputs only for cache reuse (blocking never changes an element's arithmetic).
#include "kernels/linear_invariant.h"

#include <algorithm>
#include <cstring>

namespace retort::kernels {
namespace {

typedef float f32x8 __attribute__((vector_size(32)));

inline f32x8 load8(const float* p) {
  f32x8 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// The one definition of an output element's arithmetic (see the header), computed for an
// R x O tile of (rows, outputs) at once so x and w loads are shared between elements. Every
// element still has its own accumulator and the same operation sequence, so the tile shape never
// changes a result: a sample's output is the same whichever tile it falls in.
template <int R, int O>
inline void dot_tile(const float* const* x, const float* const* w, int64_t in, float (&out)[R][O]) {
  const int64_t in8 = in / 8 * 8;
  f32x8 acc[R][O];
  for (int r = 0; r < R; ++r)
    for (int o = 0; o < O; ++o) acc[r][o] = f32x8{0, 0, 0, 0, 0, 0, 0, 0};
  for (int64_t k = 0; k < in8; k += 8) {
    f32x8 xv[R], wv[O];
    for (int r = 0; r < R; ++r) xv[r] = load8(x[r] + k);
    for (int o = 0; o < O; ++o) wv[o] = load8(w[o] + k);
    for (int r = 0; r < R; ++r)
      for (int o = 0; o < O; ++o) {
        const f32x8 prod = xv[r] * wv[o];
        acc[r][o] = acc[r][o] + prod;
      }
  }
  for (int r = 0; r < R; ++r)
    for (int o = 0; o < O; ++o) {
      const f32x8& a = acc[r][o];
      float s = ((a[0] + a[4]) + (a[2] + a[6])) + ((a[1] + a[5]) + (a[3] + a[7]));
      for (int64_t k = in8; k < in; ++k) {
        const float prod = x[r][k] * w[o][k];
        s = s + prod;
      }
      out[r][o] = s;
    }
}

// y[r, o0..o0+O) for rows r0..r0+R) with the bias added last.
template <int R, int O>
inline void tile(const float* x, const float* w, const float* b, float* y, int64_t r0, int64_t o0, int64_t in,
                 int64_t out) {
  const float* xr[R];
  const float* wo[O];
  for (int r = 0; r < R; ++r) xr[r] = x + (r0 + r) * in;
  for (int o = 0; o < O; ++o) wo[o] = w + (o0 + o) * in;
  float s[R][O];
  dot_tile<R, O>(xr, wo, in, s);
  for (int r = 0; r < R; ++r)
    for (int o = 0; o < O; ++o) y[(r0 + r) * out + o0 + o] = b ? s[r][o] + b[o0 + o] : s[r][o];
}

constexpr int64_t kRowBlock = 16;  // rows sharing one block of weight rows in cache
constexpr int64_t kOutBlock = 32;  // weight rows (outputs) per block

}  // namespace

void linear_forward_batch_invariant(const float* x, const float* w, const float* b, float* y,
                                    int64_t rows, int64_t in, int64_t out) {
  const int64_t row_blocks = (rows + kRowBlock - 1) / kRowBlock;
#pragma omp parallel for schedule(static)
  for (int64_t rb = 0; rb < row_blocks; ++rb) {
    const int64_t r0 = rb * kRowBlock, r1 = std::min(rows, r0 + kRowBlock);
    for (int64_t ob = 0; ob < out; ob += kOutBlock) {
      const int64_t ob1 = std::min(out, ob + kOutBlock);
      int64_t r = r0;
      for (; r + 2 <= r1; r += 2) {
        int64_t o = ob;
        for (; o + 4 <= ob1; o += 4) tile<2, 4>(x, w, b, y, r, o, in, out);
        for (; o < ob1; ++o) tile<2, 1>(x, w, b, y, r, o, in, out);
      }
      for (; r < r1; ++r) {
        int64_t o = ob;
        for (; o + 4 <= ob1; o += 4) tile<1, 4>(x, w, b, y, r, o, in, out);
        for (; o < ob1; ++o) tile<1, 1>(x, w, b, y, r, o, in, out);
      }
    }
  }
}

}  // namespace retort::kernels
