// CPU causal GQA attention, flash style. Forward: one task per (sequence, head, query tile), key
// tiles in increasing order with an online softmax. Backward: one task per (sequence, head), key
// tiles outer and query tiles inner (P recomputed from lse), dq accumulated in key-tile order;
// per-head dk/dv go to a scratch buffer and are summed over the group's heads in increasing order.
// Tile products are Eigen GEMMs on strided maps of the caller's rows.
#include "kernels/attention.h"

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <vector>

#include "core/base/error.h"
#include "kernels/cpu/kd_loss_cpu_math.h"  // vexp: the project's vectorisable exp

namespace retort::kernels {
namespace {
using RowMat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using Strided = Eigen::OuterStride<>;
using CRows = Eigen::Map<const RowMat, 0, Strided>;
using Rows = Eigen::Map<RowMat, 0, Strided>;
using cpu::vexp;
constexpr int64_t kTile = kAttentionTile;
constexpr float kNegInf = -std::numeric_limits<float>::infinity();

void check(const AttentionShape& s) {
  RETORT_CHECK(s.batch >= 0 && s.q_len >= 0 && s.q_start >= 0, "attention sizes must be >= 0");
  RETORT_CHECK(s.q_len == 0 || s.kv_len > 0, "attention needs kv_len > 0 for queries");
  RETORT_CHECK(s.n_heads > 0 && s.n_kv_heads > 0 && s.n_heads % s.n_kv_heads == 0,
               "attention n_kv_heads must divide n_heads");
  RETORT_CHECK(s.head_dim > 0, "attention head_dim must be positive");
  RETORT_CHECK(s.q_stride >= s.n_heads * s.head_dim && s.out_stride >= s.n_heads * s.head_dim,
               "attention q_stride/out_stride smaller than n_heads*head_dim");
  RETORT_CHECK(s.kv_stride >= s.n_kv_heads * s.head_dim,
               "attention kv_stride smaller than n_kv_heads*head_dim");
}

// Keys query i (local index) may attend: j < keys_for(i).
inline int64_t keys_for(const AttentionShape& s, int64_t i) {
  return std::min(s.kv_len, s.q_start + i + 1);
}

inline float reduce_lanes(const float* lane) {
  return ((lane[0] + lane[4]) + (lane[2] + lane[6])) + ((lane[1] + lane[5]) + (lane[3] + lane[7]));
}

// Σ a∘b over n floats in a fixed order (8 lanes, fixed lane reduction, tail in order).
inline float dot_fixed(const float* a, const float* b, int64_t n) {
  float lane[8] = {};
  const int64_t body = n - n % 8;
  for (int64_t i = 0; i < body; i += 8) {
#pragma omp simd
    for (int64_t l = 0; l < 8; ++l) lane[l] = std::fma(a[i + l], b[i + l], lane[l]);
  }
  float sum = reduce_lanes(lane);
  for (int64_t i = body; i < n; ++i) sum = std::fma(a[i], b[i], sum);
  return sum;
}

// Σ a over n floats in the same fixed order.
inline float sum_fixed(const float* a, int64_t n) {
  float lane[8] = {};
  const int64_t body = n - n % 8;
  for (int64_t i = 0; i < body; i += 8) {
#pragma omp simd
    for (int64_t l = 0; l < 8; ++l) lane[l] += a[i + l];
  }
  float sum = reduce_lanes(lane);
  for (int64_t i = body; i < n; ++i) sum += a[i];
  return sum;
}

// One query tile of one (sequence, head): rows [q0, q0+nq) against keys [0, keys_for(last)).
// Shapes: Q [nq, d] (strided), per key tile K, V [nk, d] (strided), S [nq, nk] scores then
// probabilities, acc [nq, d] the unnormalised output; m, l [nq] running max and sum.
void forward_tile(const float* q, const float* k, const float* v, float* out, float* lse,
                  const AttentionShape& s, int64_t b, int64_t h, int64_t q0) {
  const int64_t d = s.head_dim, g = h / (s.n_heads / s.n_kv_heads);
  const int64_t nq = std::min(kTile, s.q_len - q0);
  const CRows Q(q + (b * s.q_len + q0) * s.q_stride + h * d, nq, d, Strided(s.q_stride));
  const float* kb = k + b * s.kv_len * s.kv_stride + g * d;
  const float* vb = v + b * s.kv_len * s.kv_stride + g * d;
  RowMat S(nq, kTile), acc = RowMat::Zero(nq, d);
  std::vector<float> m(nq, kNegInf), l(nq, 0.f);
  const int64_t key_end = keys_for(s, q0 + nq - 1);
  for (int64_t k0 = 0; k0 < key_end; k0 += kTile) {
    const int64_t nk = std::min(kTile, key_end - k0);
    const CRows K(kb + k0 * s.kv_stride, nk, d, Strided(s.kv_stride));
    const CRows V(vb + k0 * s.kv_stride, nk, d, Strided(s.kv_stride));
    auto St = S.leftCols(nk);
    St.noalias() = s.scale * (Q * K.transpose());
    for (int64_t i = 0; i < nq; ++i) {
      float* row = St.row(i).data();
      const int64_t valid = std::clamp<int64_t>(keys_for(s, q0 + i) - k0, 0, nk);
      float mx = m[i];  // max is exact in any order
#pragma omp simd reduction(max : mx)
      for (int64_t j = 0; j < valid; ++j) mx = row[j] > mx ? row[j] : mx;
#pragma omp simd
      for (int64_t j = 0; j < valid; ++j) row[j] = vexp(row[j] - mx);
      for (int64_t j = valid; j < nk; ++j) row[j] = 0.f;
      const float sum = sum_fixed(row, valid);
      const float corr = m[i] == kNegInf ? 0.f : std::exp(m[i] - mx);
      l[i] = std::fma(l[i], corr, sum);
      m[i] = mx;
      acc.row(i) *= corr;
    }
    acc.noalias() += St * V;
  }
  Rows O(out + (b * s.q_len + q0) * s.out_stride + h * d, nq, d, Strided(s.out_stride));
  for (int64_t i = 0; i < nq; ++i) {
    const float inv = 1.f / l[i];
    for (int64_t c = 0; c < d; ++c) O(i, c) = acc(i, c) * inv;
    if (lse) lse[(b * s.n_heads + h) * s.q_len + q0 + i] = m[i] + std::log(l[i]);
  }
}

// Backward of one (sequence, head): dq rows of head h overwritten; this head's dk/dv for keys
// [0, kv_len) written to dk_h/dv_h (row stride dkv_stride). Shapes per (key tile, query tile):
// K, V, dK, dV [nk, d]; Q, dO, dQ [nq, d] (strided); P, dS [nq, nk] (dS holds dP first); D [q_len].
void backward_head(const float* q, const float* k, const float* v, const float* out,
                   const float* lse, const float* dout, float* dq, float* dk_h, float* dv_h,
                   int64_t dkv_stride, const AttentionShape& s, int64_t b, int64_t h) {
  const int64_t d = s.head_dim, g = h / (s.n_heads / s.n_kv_heads);
  const float* qb = q + b * s.q_len * s.q_stride + h * d;
  const float* ob = out + b * s.q_len * s.out_stride + h * d;
  const float* dob = dout + b * s.q_len * s.out_stride + h * d;
  float* dqb = dq + b * s.q_len * s.q_stride + h * d;
  const float* kb = k + b * s.kv_len * s.kv_stride + g * d;
  const float* vb = v + b * s.kv_len * s.kv_stride + g * d;
  const float* lse_b = lse + (b * s.n_heads + h) * s.q_len;
  std::vector<float> D(s.q_len);
  for (int64_t i = 0; i < s.q_len; ++i) {
    D[i] = dot_fixed(dob + i * s.out_stride, ob + i * s.out_stride, d);
    std::fill_n(dqb + i * s.q_stride, d, 0.f);
  }
  const int64_t key_end = s.q_len == 0 ? 0 : keys_for(s, s.q_len - 1);
  for (int64_t j = key_end; j < s.kv_len; ++j) {
    std::fill_n(dk_h + j * dkv_stride, d, 0.f);
    std::fill_n(dv_h + j * dkv_stride, d, 0.f);
  }
  RowMat P(kTile, kTile), dS(kTile, kTile), dK(kTile, d), dV(kTile, d);
  for (int64_t k0 = 0; k0 < key_end; k0 += kTile) {
    const int64_t nk = std::min(kTile, key_end - k0);
    const CRows K(kb + k0 * s.kv_stride, nk, d, Strided(s.kv_stride));
    const CRows V(vb + k0 * s.kv_stride, nk, d, Strided(s.kv_stride));
    auto dKt = dK.topRows(nk), dVt = dV.topRows(nk);
    dKt.setZero();
    dVt.setZero();
    // First query that sees key k0: q_start + i >= k0.
    const int64_t first_q = std::max<int64_t>(0, k0 - s.q_start) / kTile * kTile;
    for (int64_t q0 = first_q; q0 < s.q_len; q0 += kTile) {
      const int64_t nq = std::min(kTile, s.q_len - q0);
      const CRows Q(qb + q0 * s.q_stride, nq, d, Strided(s.q_stride));
      const CRows dO(dob + q0 * s.out_stride, nq, d, Strided(s.out_stride));
      auto Pt = P.topLeftCorner(nq, nk), dSt = dS.topLeftCorner(nq, nk);
      Pt.noalias() = Q * K.transpose();
      dSt.noalias() = dO * V.transpose();  // dP
      for (int64_t i = 0; i < nq; ++i) {
        const int64_t valid = std::clamp<int64_t>(keys_for(s, q0 + i) - k0, 0, nk);
        const float li = lse_b[q0 + i], Di = D[q0 + i];
        float* p = &Pt(i, 0);
        float* ds = &dSt(i, 0);
#pragma omp simd
        for (int64_t j = 0; j < valid; ++j) {
          p[j] = vexp(std::fma(p[j], s.scale, -li));
          ds[j] = p[j] * (ds[j] - Di) * s.scale;
        }
        for (int64_t j = valid; j < nk; ++j) p[j] = ds[j] = 0.f;
      }
      dVt.noalias() += Pt.transpose() * dO;
      dKt.noalias() += dSt.transpose() * Q;
      Rows dQ(dqb + q0 * s.q_stride, nq, d, Strided(s.q_stride));
      dQ.noalias() += dSt * K;
    }
    Rows(dk_h + k0 * dkv_stride, nk, d, Strided(dkv_stride)) = dKt;
    Rows(dv_h + k0 * dkv_stride, nk, d, Strided(dkv_stride)) = dVt;
  }
}
}  // namespace

void attention_forward(const float* q, const float* k, const float* v, float* out, float* lse,
                       const AttentionShape& s) {
  check(s);
  const int64_t q_tiles = (s.q_len + kTile - 1) / kTile;
  const int64_t tasks = s.batch * s.n_heads * q_tiles;
#pragma omp parallel for schedule(dynamic)
  for (int64_t t = 0; t < tasks; ++t) {
    const int64_t qt = t % q_tiles, h = (t / q_tiles) % s.n_heads, b = t / (q_tiles * s.n_heads);
    forward_tile(q, k, v, out, lse, s, b, h, qt * kTile);
  }
}

void attention_backward(const float* q, const float* k, const float* v, const float* out,
                        const float* lse, const float* dout, float* dq, float* dk, float* dv,
                        const AttentionShape& s) {
  check(s);
  RETORT_CHECK(lse != nullptr, "attention_backward needs the forward's lse");
  const int64_t d = s.head_dim, group = s.n_heads / s.n_kv_heads;
  const int64_t tasks = s.batch * s.n_heads;
  if (group == 1) {  // each head owns its kv head: write dk/dv in place
#pragma omp parallel for schedule(dynamic)
    for (int64_t t = 0; t < tasks; ++t) {
      const int64_t b = t / s.n_heads, h = t % s.n_heads;
      const int64_t off = b * s.kv_len * s.kv_stride + h * d;
      backward_head(q, k, v, out, lse, dout, dq, dk + off, dv + off, s.kv_stride, s, b, h);
    }
    return;
  }
  // Scratch [batch, n_heads, kv_len, d] of per-head dk and dv, then a fixed-order group sum.
  // Not zero-filled: backward_head writes every row of its slice.
  const std::unique_ptr<float[]> dk_heads(new float[tasks * s.kv_len * d]),
      dv_heads(new float[tasks * s.kv_len * d]);
#pragma omp parallel for schedule(dynamic)
  for (int64_t t = 0; t < tasks; ++t) {
    const int64_t b = t / s.n_heads, h = t % s.n_heads;
    backward_head(q, k, v, out, lse, dout, dq, dk_heads.get() + t * s.kv_len * d,
                  dv_heads.get() + t * s.kv_len * d, d, s, b, h);
  }
  const int64_t kv_rows = s.batch * s.kv_len;
#pragma omp parallel for schedule(static)
  for (int64_t row = 0; row < kv_rows; ++row) {
    const int64_t b = row / s.kv_len, j = row % s.kv_len;
    for (int64_t g = 0; g < s.n_kv_heads; ++g) {
      float* dkr = dk + row * s.kv_stride + g * d;
      float* dvr = dv + row * s.kv_stride + g * d;
      for (int64_t e = 0; e < group; ++e) {
        const int64_t src = ((b * s.n_heads + g * group + e) * s.kv_len + j) * d;
        for (int64_t c = 0; c < d; ++c) {
          dkr[c] = e == 0 ? dk_heads[src + c] : dkr[c] + dk_heads[src + c];
          dvr[c] = e == 0 ? dv_heads[src + c] : dvr[c] + dv_heads[src + c];
        }
      }
    }
  }
}

}  // namespace retort::kernels
