// Plain float64 references of the transformer kernels (forward and backward, written directly
// from the math in the kernel headers) and the buffer helpers the transformer kernel tests share.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "kernels/attention.h"
#include "kernels/rope.h"
#include "tests/support/numeric.h"

namespace retort::test::tk {

using Vec = std::vector<double>;
constexpr float kSentinel = -12345.f;
constexpr size_t kPad = 16;

// n random floats followed by kPad sentinels.
inline std::vector<float> padded_random(size_t n, uint32_t seed, float scale = 1.f) {
  auto v = random_normal(n, seed, scale);
  v.resize(n + kPad, kSentinel);
  return v;
}
inline std::vector<float> padded_sentinels(size_t n) { return std::vector<float>(n + kPad, kSentinel); }
inline bool tail_intact(const std::vector<float>& v, size_t n) {
  return std::all_of(v.begin() + n, v.end(), [](float x) { return x == kSentinel; });
}
inline Vec to_double(const std::vector<float>& v, size_t n) { return Vec(v.begin(), v.begin() + n); }

// Worst |got − ref| / (tol + |ref|·eps) over n elements (<= 1 passes). With RETORT_PRINT_ERRORS
// set, prints the worst absolute and relative errors under `what` (how docs figures are measured).
inline double worst_ratio(const char* what, const float* got, const double* ref, size_t n,
                          double tol, double eps) {
  double worst = 0, worst_abs = 0, worst_rel = 0;
  for (size_t i = 0; i < n; ++i) {
    const double err = std::abs(double(got[i]) - ref[i]);
    if (!(err == err)) return 1e30;  // NaN
    worst = std::max(worst, err / (tol + std::abs(ref[i]) * eps));
    worst_abs = std::max(worst_abs, err);
    worst_rel = std::max(worst_rel, err / std::max(std::abs(ref[i]), 1e-3));
  }
  if (std::getenv("RETORT_PRINT_ERRORS"))
    std::printf("%-40s max abs err %.3g  max rel err (|ref|>=1e-3) %.3g  n=%zu\n", what,
                worst_abs, worst_rel, n);
  return worst;
}

// ---- embedding ----
inline void embedding_forward(const std::vector<int32_t>& tok, const Vec& table, int64_t dim, Vec& out) {
  out.assign(tok.size() * dim, 0);
  for (size_t i = 0; i < tok.size(); ++i)
    for (int64_t c = 0; c < dim; ++c) out[i * dim + c] = table[tok[i] * dim + c];
}
inline void embedding_backward(const std::vector<int32_t>& tok, const Vec& dout, int64_t dim, Vec& dtable) {
  for (size_t i = 0; i < tok.size(); ++i)
    for (int64_t c = 0; c < dim; ++c) dtable[tok[i] * dim + c] += dout[i * dim + c];
}

// ---- RMSNorm ----
inline void rmsnorm_forward(const Vec& x, const Vec& w, int64_t rows, int64_t dim, double eps,
                            Vec& y, Vec& rstd) {
  y.assign(rows * dim, 0);
  rstd.assign(rows, 0);
  for (int64_t r = 0; r < rows; ++r) {
    double ss = 0;
    for (int64_t c = 0; c < dim; ++c) ss += x[r * dim + c] * x[r * dim + c];
    rstd[r] = 1 / std::sqrt(ss / dim + eps);
    for (int64_t c = 0; c < dim; ++c) y[r * dim + c] = x[r * dim + c] * rstd[r] * w[c];
  }
}
// dx overwritten, dw accumulated.
inline void rmsnorm_backward(const Vec& x, const Vec& w, const Vec& dy, int64_t rows, int64_t dim,
                             double eps, Vec& dx, Vec& dw) {
  Vec y, rstd;
  rmsnorm_forward(x, w, rows, dim, eps, y, rstd);
  dx.assign(rows * dim, 0);
  for (int64_t r = 0; r < rows; ++r) {
    const double s = rstd[r];
    double gx = 0;  // Σ w·dy·x
    for (int64_t c = 0; c < dim; ++c) gx += w[c] * dy[r * dim + c] * x[r * dim + c];
    for (int64_t c = 0; c < dim; ++c) {
      // ∂y_c/∂x_k = w_c (s δ_ck − s³ x_c x_k / dim)
      dx[r * dim + c] = w[c] * dy[r * dim + c] * s - s * s * s * x[r * dim + c] * gx / dim;
      dw[c] += dy[r * dim + c] * x[r * dim + c] * s;
    }
  }
}

// ---- RoPE (in place; sign −1 is the transpose) ----
inline void rope_apply(Vec& x, const std::vector<int32_t>& pos, const kernels::RopeParams& p, double sign) {
  const int64_t half = p.head_dim / 2;
  for (int64_t r = 0; r < p.rows; ++r)
    for (int64_t h = 0; h < p.n_heads; ++h)
      for (int64_t j = 0; j < half; ++j) {
        const double ang = pos[r] * std::pow(p.theta, -2.0 * j / p.head_dim);
        const double c = std::cos(ang), s = sign * std::sin(ang);
        double& a = x[r * p.row_stride + h * p.head_dim + j];
        double& b = x[r * p.row_stride + h * p.head_dim + j + half];
        const double xa = a, xb = b;
        a = xa * c - xb * s;
        b = xb * c + xa * s;
      }
}

// ---- SwiGLU ----
inline double sigmoid(double x) { return 1 / (1 + std::exp(-x)); }
inline void swiglu_forward(const Vec& g, const Vec& u, Vec& out) {
  out.resize(g.size());
  for (size_t i = 0; i < g.size(); ++i) out[i] = g[i] * sigmoid(g[i]) * u[i];
}
inline void swiglu_backward(const Vec& g, const Vec& u, const Vec& dout, Vec& dg, Vec& du) {
  dg.resize(g.size());
  du.resize(g.size());
  for (size_t i = 0; i < g.size(); ++i) {
    const double s = sigmoid(g[i]);
    dg[i] = dout[i] * u[i] * (s + g[i] * s * (1 - s));
    du[i] = dout[i] * g[i] * s;
  }
}

// ---- attention (same strided layouts as the kernel; outputs sized like the inputs) ----
inline int64_t ref_keys(const kernels::AttentionShape& s, int64_t i) {
  return std::min(s.kv_len, s.q_start + i + 1);
}
inline int64_t q_at(const kernels::AttentionShape& s, int64_t b, int64_t i, int64_t h, int64_t stride) {
  return (b * s.q_len + i) * stride + h * s.head_dim;
}
inline int64_t kv_at(const kernels::AttentionShape& s, int64_t b, int64_t j, int64_t g) {
  return (b * s.kv_len + j) * s.kv_stride + g * s.head_dim;
}
// Probabilities of query (b, i, h) over its keys.
inline Vec attention_probs(const Vec& q, const Vec& k, const kernels::AttentionShape& s, int64_t b,
                           int64_t i, int64_t h, double* lse) {
  const int64_t g = h / (s.n_heads / s.n_kv_heads), nk = ref_keys(s, i);
  Vec sc(nk);
  double mx = -1e300;
  for (int64_t j = 0; j < nk; ++j) {
    double dot = 0;
    for (int64_t c = 0; c < s.head_dim; ++c)
      dot += q[q_at(s, b, i, h, s.q_stride) + c] * k[kv_at(s, b, j, g) + c];
    sc[j] = s.scale * dot;
    mx = std::max(mx, sc[j]);
  }
  double sum = 0;
  for (double x : sc) sum += std::exp(x - mx);
  for (double& x : sc) x = std::exp(x - mx) / sum;
  if (lse) *lse = mx + std::log(sum);
  return sc;
}
inline void attention_forward(const Vec& q, const Vec& k, const Vec& v, const kernels::AttentionShape& s,
                              Vec& out, Vec& lse) {
  out.assign(s.batch * s.q_len * s.out_stride, 0);
  lse.assign(s.batch * s.n_heads * s.q_len, 0);
  for (int64_t b = 0; b < s.batch; ++b)
    for (int64_t h = 0; h < s.n_heads; ++h)
      for (int64_t i = 0; i < s.q_len; ++i) {
        const int64_t g = h / (s.n_heads / s.n_kv_heads);
        const Vec p = attention_probs(q, k, s, b, i, h, &lse[(b * s.n_heads + h) * s.q_len + i]);
        for (size_t j = 0; j < p.size(); ++j)
          for (int64_t c = 0; c < s.head_dim; ++c)
            out[q_at(s, b, i, h, s.out_stride) + c] += p[j] * v[kv_at(s, b, j, g) + c];
      }
}
// dq (q layout), dk, dv (kv layout) overwritten, sized like q/k/v.
inline void attention_backward(const Vec& q, const Vec& k, const Vec& v, const Vec& dout,
                               const kernels::AttentionShape& s, Vec& dq, Vec& dk, Vec& dv) {
  dq.assign(q.size(), 0);
  dk.assign(k.size(), 0);
  dv.assign(v.size(), 0);
  const int64_t d = s.head_dim;
  for (int64_t b = 0; b < s.batch; ++b)
    for (int64_t h = 0; h < s.n_heads; ++h)
      for (int64_t i = 0; i < s.q_len; ++i) {
        const int64_t g = h / (s.n_heads / s.n_kv_heads);
        const Vec p = attention_probs(q, k, s, b, i, h, nullptr);
        const int64_t qi = q_at(s, b, i, h, s.q_stride), oi = q_at(s, b, i, h, s.out_stride);
        Vec dp(p.size());
        double pdp = 0;  // Σ_j p_j dp_j
        for (size_t j = 0; j < p.size(); ++j) {
          for (int64_t c = 0; c < d; ++c) dp[j] += dout[oi + c] * v[kv_at(s, b, j, g) + c];
          pdp += p[j] * dp[j];
        }
        for (size_t j = 0; j < p.size(); ++j) {
          const double ds = p[j] * (dp[j] - pdp) * s.scale;
          for (int64_t c = 0; c < d; ++c) {
            dq[qi + c] += ds * k[kv_at(s, b, j, g) + c];
            dk[kv_at(s, b, j, g) + c] += ds * q[qi + c];
            dv[kv_at(s, b, j, g) + c] += p[j] * dout[oi + c];
          }
        }
      }
}

}  // namespace retort::test::tk
