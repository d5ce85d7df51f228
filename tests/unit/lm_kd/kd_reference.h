// Float64 reference of the LM head + distillation loss, written plainly for the lm_kd tests:
// logits X·Wᵀ, each row's loss from the kernels/kd_loss.h and lm_targets.h formulas, dZ by
// central differences of that loss, dX = dZ·W, dW = dZᵀ·X.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "core/lm/lm_targets.h"
#include "kernels/kd_loss.h"

namespace retort::test {

struct KdReference {
  double loss_sum = 0;
  int64_t tokens = 0;
  std::vector<double> dz, dx, dw;  // dz [n, v] already times grad_scale
};

// The teacher of one row in float64: dense logits, top-k (ids, values, lse) or sampled counts.
inline double kd_row_loss(const std::vector<double>& z, const core::LmTargets& t, const std::vector<double>& t_dense,
                          int64_t row, int32_t label, const kernels::KdLossParams& p) {
  const int64_t V = static_cast<int64_t>(z.size());
  const double T = p.temperature;
  auto log_softmax = [&](const std::vector<double>& x, double scale) {
    double m = -INFINITY, s = 0;
    for (double e : x) m = std::max(m, e * scale);
    for (double e : x) s += std::exp(e * scale - m);
    std::vector<double> out(x.size());
    for (size_t j = 0; j < x.size(); ++j) out[j] = x[j] * scale - m - std::log(s);
    return out;
  };
  const std::vector<double> log_q_full = log_softmax(z, 1 / T);
  std::vector<double> P, Q;  // categories
  if (t.kind == core::TargetKind::dense) {
    const std::vector<double> log_p = log_softmax(t_dense, 1 / T);
    for (int64_t j = 0; j < V; ++j) P.push_back(std::exp(log_p[j])), Q.push_back(std::exp(log_q_full[j]));
  } else if (t.kind == core::TargetKind::topk) {
    std::vector<double> tk, qk;
    double q_in = 0;
    for (int64_t c = 0; c < t.k; ++c) {
      const uint32_t j = t.indices[row * t.k + c];
      tk.push_back(t_dense[j]);
      qk.push_back(std::exp(log_q_full[j]));
      q_in += qk.back();
    }
    if (p.tail == kernels::Tail::renormalize) {
      const std::vector<double> lp = log_softmax(tk, 1 / T);
      for (int64_t c = 0; c < t.k; ++c) P.push_back(std::exp(lp[c])), Q.push_back(qk[c] / q_in);
    } else {
      double lse = 0, m = -INFINITY, p_in = 0;
      for (double e : t_dense) m = std::max(m, e / T);
      for (double e : t_dense) lse += std::exp(e / T - m);
      lse = m + std::log(lse);
      for (int64_t c = 0; c < t.k; ++c) P.push_back(std::exp(tk[c] / T - lse)), Q.push_back(qk[c]), p_in += P.back();
      if (t.k < V) P.push_back(1 - p_in), Q.push_back(1 - q_in);
    }
  }
  double d = 0;
  if (t.kind == core::TargetKind::sampled) {  // L̂/T² = Σ (c/n)(log p_i − log q_i), log p from t_dense
    double lse = 0, m = -INFINITY;
    for (double e : t_dense) m = std::max(m, e / T);
    for (double e : t_dense) lse += std::exp(e / T - m);
    lse = m + std::log(lse);
    for (int64_t s = 0; s < t.k; ++s) {
      const uint16_t c = t.counts[row * t.k + s];
      const uint32_t j = t.indices[row * t.k + s];
      if (c) d += (static_cast<double>(c) / t.k) * ((t_dense[j] / T - lse) - log_q_full[j]);
    }
  } else {
    auto kl = [](const std::vector<double>& a, const std::vector<double>& b) {
      double s = 0;
      for (size_t c = 0; c < a.size(); ++c)
        if (a[c] > 0) s += a[c] * std::log(a[c] / b[c]);
      return s;
    };
    const double beta = p.beta;
    std::vector<double> M(P.size());
    for (size_t c = 0; c < P.size(); ++c) M[c] = beta * P[c] + (1 - beta) * Q[c];
    switch (p.divergence) {
      case kernels::Divergence::fkl: d = kl(P, Q); break;
      case kernels::Divergence::rkl: d = kl(Q, P); break;
      case kernels::Divergence::jsd: d = beta * kl(P, M) + (1 - beta) * kl(Q, M); break;
      case kernels::Divergence::tvd:
        for (size_t c = 0; c < P.size(); ++c) d += 0.5 * std::abs(P[c] - Q[c]);
        break;
    }
  }
  double ce = 0;
  if (p.alpha > 0) ce = -log_softmax(z, 1)[label];
  return (1 - p.alpha) * T * T * d + p.alpha * ce;
}

// x [n, d], w [v, d] (float inputs), t_dense [n, v] the teacher logits in float64.
inline KdReference kd_reference(const std::vector<float>& x, const std::vector<float>& w, int64_t n, int64_t d,
                                int64_t v, const core::LmTargets& t, const std::vector<double>& t_dense,
                                const std::vector<int32_t>& labels, const kernels::KdLossParams& p, double scale) {
  KdReference r;
  r.dz.assign(static_cast<size_t>(n * v), 0);
  r.dx.assign(static_cast<size_t>(n * d), 0);
  r.dw.assign(static_cast<size_t>(v * d), 0);
  for (int64_t i = 0; i < n; ++i) {
    if (labels[i] == p.ignore_index) continue;
    std::vector<double> z(static_cast<size_t>(v)), trow(t_dense.begin() + i * v, t_dense.begin() + (i + 1) * v);
    for (int64_t j = 0; j < v; ++j)
      for (int64_t k = 0; k < d; ++k) z[j] += static_cast<double>(x[i * d + k]) * w[j * d + k];
    r.loss_sum += kd_row_loss(z, t, trow, i, labels[i], p);
    r.tokens += 1;
    for (int64_t j = 0; j < v; ++j) {
      const double h = 1e-5, z0 = z[j];
      z[j] = z0 + h;
      const double up = kd_row_loss(z, t, trow, i, labels[i], p);
      z[j] = z0 - h;
      const double down = kd_row_loss(z, t, trow, i, labels[i], p);
      z[j] = z0;
      r.dz[i * v + j] = (up - down) / (2 * h) * scale;
    }
  }
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < v; ++j)
      for (int64_t k = 0; k < d; ++k) {
        r.dx[i * d + k] += r.dz[i * v + j] * w[j * d + k];
        r.dw[j * d + k] += r.dz[i * v + j] * x[i * d + k];
      }
  return r;
}

}  // namespace retort::test
