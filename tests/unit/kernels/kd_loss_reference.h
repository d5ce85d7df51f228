// Plain float64 reference of the distillation loss (kernels/kd_loss.h), written independently
// of the kernels: direct log-softmax, direct tail sums, textbook divergence formulas.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "kernels/kd_loss.h"

namespace retort::kernels::test {

// One call's inputs as float values (already representable in their dtypes).
struct Problem {
  int64_t rows = 0, vocab = 0, k = 0;
  DType student_dtype = DType::f32, teacher_dtype = DType::f32;
  bool topk = false;
  KdLossParams params;
  std::vector<double> z, t;          // rows×V; t unused for top-k (values exact in their dtype)
  std::vector<uint32_t> indices;     // rows×k
  std::vector<double> values, lse;   // rows×k, rows (lse exact in fp32)
  std::vector<int32_t> labels;       // rows, empty = nullptr
  bool metrics = true;
};

struct Reference {
  double loss = 0, kd = 0, ce = 0;
  // T²·Σ (P(1 + |log P|) + Q(1 + |log Q|)): the size of the terms the KD sum adds up (its
  // condition scale; the 1 covers logs of probabilities near 1). An fp32 kernel is held to a
  // small fraction of it, not to eps of a loss that cancels to ~0.
  double kd_scale = 0;
  int64_t counted = 0;
  std::vector<double> dz, entropy;
  std::vector<int> agree;
  // Per row: max_j of the magnitudes that dz_j is the signed sum of, (1-α)T(|q_j g_j| + |q_j ḡ|)
  // + α(s_j + [j == y]). They can cancel, so fp32 gradients are held to eps relative to this
  // (a norm-wise bound), not to each entry alone.
  std::vector<double> dz_scale;
  // tvd only: |∂ dz_j| that near-ties can cause. sign(q - p) is set-valued at q = p, and
  // where |P - Q| is within fp32 rounding of a tie (4e-6 relative: the kernels' 2^-20 tie band
  // plus rounding) any choice in [-½, ½] is a valid subgradient, for the token itself and
  // through ḡ for the whole row. The comparison allows exactly that much on top of eps.
  std::vector<double> dz_slack;
};

inline double ref_logsumexp(const std::vector<double>& x) {
  double m = -std::numeric_limits<double>::infinity();
  for (double v : x) m = std::max(m, v);
  double s = 0;
  for (double v : x) s += std::exp(v - m);
  return m + std::log(s);
}

// D(P‖Q) over categories from probabilities and log-probabilities (logs come from logits, so
// a probability that underflows keeps a finite log); qg_c = Q_c · ∂D/∂Q_c.
inline double ref_divergence(Divergence d, double beta, const std::vector<double>& P, const std::vector<double>& Q,
                             const std::vector<double>& logP, const std::vector<double>& logQ,
                             std::vector<double>& qg) {
  if (d == Divergence::jsd && beta == 0) d = Divergence::fkl;
  if (d == Divergence::jsd && beta == 1) d = Divergence::rkl;
  const size_t n = P.size();
  qg.assign(n, 0.0);
  double D = 0;
  for (size_t c = 0; c < n; ++c) {
    const double p = P[c], q = Q[c];
    switch (d) {
      case Divergence::fkl:  // D = Σ p log(p/q), ∂D/∂q = -p/q
        if (p > 0) D += p * (logP[c] - logQ[c]);
        qg[c] = -p;
        break;
      case Divergence::rkl:  // D = Σ q log(q/p), ∂D/∂q = log(q/p) + 1
        if (q > 0) {
          D += q * (logQ[c] - logP[c]);
          qg[c] = q * (logQ[c] - logP[c] + 1);
        }
        break;
      case Divergence::jsd: {  // ∂D/∂q = (1-β) log(q/m)
        const double m = beta * p + (1 - beta) * q;
        if (p > 0) D += beta * p * std::log(p / m);
        if (q > 0) {
          D += (1 - beta) * q * std::log(q / m);
          qg[c] = (1 - beta) * q * std::log(q / m);
        }
        break;
      }
      case Divergence::tvd:  // D = ½ Σ |p - q|
        D += 0.5 * std::abs(p - q);
        qg[c] = q > p ? 0.5 * q : (q < p ? -0.5 * q : 0.0);
        break;
    }
  }
  return D;
}

// Row loss ℓ_r (unweighted) and, when dz_row != nullptr, ∂ℓ_r/∂z.
inline double ref_row(const Problem& pb, int64_t r, double* dz_row, double* kd_out, double* ce_out, double* entropy,
                      int* agree, double* kd_scale = nullptr, double* dz_scale = nullptr,
                      double* dz_slack = nullptr) {
  const int64_t V = pb.vocab;
  const double T = pb.params.temperature, alpha = pb.params.alpha;
  std::vector<double> a(V), zrow(V);
  for (int64_t j = 0; j < V; ++j) {
    zrow[j] = pb.z[r * V + j];
    a[j] = zrow[j] / T;
  }
  const double lse_a = ref_logsumexp(a);
  std::vector<double> q(V), log_q(V);
  for (int64_t j = 0; j < V; ++j) {
    log_q[j] = a[j] - lse_a;
    q[j] = std::exp(log_q[j]);
  }

  std::vector<double> P, Q, logP, logQ, qg;
  std::vector<int64_t> token_category(V, -1);  // category of each token; -1 = none (renormalize)
  std::vector<double> q_eff(V, 0.0);           // the student probability entering the chain rule
  if (!pb.topk) {
    std::vector<double> b(V);
    for (int64_t j = 0; j < V; ++j) b[j] = pb.t[r * V + j] / T;
    const double lse_b = ref_logsumexp(b);
    for (int64_t j = 0; j < V; ++j) {
      logP.push_back(b[j] - lse_b);
      P.push_back(std::exp(logP.back()));
      Q.push_back(q[j]);
      logQ.push_back(log_q[j]);
      token_category[j] = j;
      q_eff[j] = q[j];
    }
  } else {
    const int64_t k = pb.k;
    std::vector<bool> in_topk(V, false);
    std::vector<double> b(k);
    for (int64_t c = 0; c < k; ++c) {
      in_topk[pb.indices[r * k + c]] = true;
      b[c] = pb.values[r * k + c] / T;
    }
    if (pb.params.tail == Tail::bucket) {
      double sp = 0, q_tail = 0;
      for (int64_t c = 0; c < k; ++c) {
        logP.push_back(b[c] - pb.lse[r]);
        P.push_back(std::exp(logP.back()));
        sp += P.back();
        Q.push_back(q[pb.indices[r * k + c]]);
        logQ.push_back(log_q[pb.indices[r * k + c]]);
      }
      for (int64_t j = 0; j < V; ++j)
        if (!in_topk[j]) q_tail += q[j];
      const double p_tail = k < V ? std::max(0.0, 1.0 - sp) : 0.0;
      P.push_back(p_tail);
      Q.push_back(q_tail);
      logP.push_back(std::log(p_tail));
      logQ.push_back(std::log(q_tail));
      for (double& p : P) p /= sp + p_tail;
      for (double& lp : logP) lp -= std::log(sp + p_tail);
      for (int64_t j = 0; j < V; ++j) {
        token_category[j] = k;  // the tail
        q_eff[j] = q[j];
      }
      for (int64_t c = 0; c < k; ++c) token_category[pb.indices[r * k + c]] = c;
    } else {
      const double lse_v = ref_logsumexp(b);
      double sq = 0;
      for (int64_t c = 0; c < k; ++c) sq += q[pb.indices[r * k + c]];
      for (int64_t c = 0; c < k; ++c) {
        const uint32_t j = pb.indices[r * k + c];
        logP.push_back(b[c] - lse_v);
        P.push_back(std::exp(logP.back()));
        Q.push_back(q[j] / sq);
        logQ.push_back(log_q[j] - std::log(sq));
        token_category[j] = c;
        q_eff[j] = q[j] / sq;
      }
    }
  }
  const double D = ref_divergence(pb.params.divergence, pb.params.beta, P, Q, logP, logQ, qg);
  double g_bar = 0;  // Σ_c Q_c ∂D/∂Q_c
  for (double v : qg) g_bar += v;
  const double kd = T * T * D;

  double ce = 0;
  const bool with_ce = alpha > 0 && !pb.labels.empty();
  std::vector<double> s(V);
  if (with_ce) {
    const double lse_z = ref_logsumexp(zrow);
    for (int64_t j = 0; j < V; ++j) s[j] = std::exp(zrow[j] - lse_z);
    ce = lse_z - zrow[pb.labels[r]];
  }
  const bool tvd = pb.params.divergence == Divergence::tvd;
  std::vector<bool> near_tie(P.size(), false);
  double tie_mass = 0;  // Σ ½Q_c over near-tie categories: the most ḡ can move
  for (size_t c = 0; c < P.size() && tvd; ++c) {
    near_tie[c] = std::abs(P[c] - Q[c]) <= 4e-6 * (P[c] + Q[c]) && Q[c] > 0;
    if (near_tie[c]) tie_mass += 0.5 * Q[c];
  }
  if (dz_row) {
    for (int64_t j = 0; j < V; ++j) {
      const int64_t c = token_category[j];
      if (dz_slack && tvd && c >= 0)
        dz_slack[j] = (1 - alpha) * T * (q_eff[j] * tie_mass + (near_tie[c] ? 0.5 * q_eff[j] : 0.0));
      // q_j ∂D/∂Q_c: the category's own qg for a single-token category, the tail's share else.
      double qg_j = 0;
      if (c >= 0) qg_j = Q[c] == q_eff[j] ? qg[c] : (Q[c] > 0 ? q_eff[j] * qg[c] / Q[c] : 0.0);
      const double kd_part = c < 0 ? 0.0 : (1 - alpha) * T * (qg_j - q_eff[j] * g_bar);
      const double ce_part = with_ce ? alpha * (s[j] - (j == pb.labels[r] ? 1.0 : 0.0)) : 0.0;
      dz_row[j] = kd_part + ce_part;
      const double kd_terms = c < 0 ? 0.0 : (1 - alpha) * T * (std::abs(qg_j) + std::abs(q_eff[j] * g_bar));
      const double ce_terms = with_ce ? alpha * (s[j] + (j == pb.labels[r] ? 1.0 : 0.0)) : 0.0;
      if (dz_scale) *dz_scale = std::max(*dz_scale, kd_terms + ce_terms);
    }
  }
  if (kd_out) *kd_out = kd;
  if (kd_scale) {
    double sc = 0;
    for (size_t c = 0; c < P.size(); ++c) {
      if (P[c] > 0) sc += P[c] * (1 + std::abs(logP[c]));
      if (Q[c] > 0) sc += Q[c] * (1 + std::abs(logQ[c]));
    }
    *kd_scale = T * T * sc;
  }
  if (ce_out) *ce_out = ce;
  if (entropy) {
    double h = 0;
    for (double p : P)
      if (p > 0) h -= p * std::log(p);
    *entropy = h;
  }
  if (agree) {
    int64_t zi = 0, ti = 0;
    for (int64_t j = 1; j < V; ++j)
      if (pb.z[r * V + j] > pb.z[r * V + zi]) zi = j;
    if (!pb.topk) {
      for (int64_t j = 1; j < V; ++j)
        if (pb.t[r * V + j] > pb.t[r * V + ti]) ti = j;
    } else {
      double best = -std::numeric_limits<double>::infinity();
      ti = V;
      for (int64_t c = 0; c < pb.k; ++c) {
        const double v = pb.values[r * pb.k + c];
        const int64_t j = pb.indices[r * pb.k + c];
        if (v > best || (v == best && j < ti)) {
          best = v;
          ti = j;
        }
      }
    }
    *agree = zi == ti;
  }
  return (1 - alpha) * kd + (with_ce ? alpha * ce : 0.0);
}

inline bool ref_counted(const Problem& pb, int64_t r) {
  return pb.labels.empty() || pb.labels[r] != pb.params.ignore_index;
}

inline Reference reference(const Problem& pb) {
  Reference ref;
  const int64_t V = pb.vocab;
  for (int64_t r = 0; r < pb.rows; ++r) ref.counted += ref_counted(pb, r);
  const double w = pb.params.reduction == Reduction::mean ? (ref.counted ? 1.0 / ref.counted : 0.0) : 1.0;
  ref.dz.assign(pb.rows * V, 0.0);
  ref.entropy.assign(pb.rows, std::numeric_limits<double>::quiet_NaN());
  ref.agree.assign(pb.rows, 0);
  ref.dz_scale.assign(pb.rows, 0.0);
  ref.dz_slack.assign(pb.rows * V, 0.0);
  for (int64_t r = 0; r < pb.rows; ++r) {
    if (!ref_counted(pb, r)) continue;
    double kd = 0, ce = 0, scale = 0;
    ref.loss += w * ref_row(pb, r, &ref.dz[r * V], &kd, &ce, &ref.entropy[r], &ref.agree[r], &scale, &ref.dz_scale[r],
                            &ref.dz_slack[r * V]);
    ref.dz_scale[r] *= w;
    for (int64_t j = 0; j < V; ++j) ref.dz_slack[r * V + j] *= w;
    ref.kd_scale += w * scale;
    ref.kd += w * std::max(kd, 0.0);
    ref.ce += w * ce;
    for (int64_t j = 0; j < V; ++j) ref.dz[r * V + j] *= w;
  }
  if (pb.params.alpha == 0) ref.ce = 0;
  return ref;
}

// The reduced loss alone (for finite differences).
inline double reference_loss(const Problem& pb) {
  double total = 0;
  int64_t counted = 0;
  for (int64_t r = 0; r < pb.rows; ++r) counted += ref_counted(pb, r);
  const double w = pb.params.reduction == Reduction::mean ? 1.0 / std::max<int64_t>(counted, 1) : 1.0;
  for (int64_t r = 0; r < pb.rows; ++r)
    if (ref_counted(pb, r)) total += w * ref_row(pb, r, nullptr, nullptr, nullptr, nullptr, nullptr);
  return total;
}

}  // namespace retort::kernels::test
