// CPU distillation loss for one row with a top-k teacher (k index/logit pairs + full-vocabulary
// lse): student softmax over V, the divergence over the k (+ tail bucket) categories in double,
// then the gradient: the tail formula for every token, overwritten at the k top-k tokens.
#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/cpu/kd_loss_cpu_math.h"
#include "kernels/cpu/kd_loss_cpu_rows.h"

namespace retort::kernels::cpu {
namespace {

// Teacher probability and log-probability of each top-k pair, student ones of the same tokens,
// and the tail bucket (zero when there is none).
struct Categories {
  std::vector<double> p, log_p, q, log_q;
  double p_tail = 0, q_tail = 0;
};

template <Divergence kDiv>
void divergence_over_categories(const Categories& cat, double beta, double& loss, double& g_bar,
                                std::vector<double>& gq, double& gq_tail) {
  const size_t k = cat.p.size();
  gq.resize(k);
  loss = 0;
  g_bar = 0;
  for (size_t c = 0; c < k; ++c) {
    double l;
    category_terms<kDiv>(cat.p[c], cat.q[c], cat.log_p[c], cat.log_q[c], beta, l, gq[c]);
    loss += l;
    g_bar += gq[c];
  }
  double l_tail = 0;
  gq_tail = 0;
  if (cat.p_tail > 0 || cat.q_tail > 0)
    category_terms<kDiv>(cat.p_tail, cat.q_tail, std::log(cat.p_tail), std::log(cat.q_tail), beta, l_tail, gq_tail);
  loss += l_tail;
  g_bar += gq_tail;
}

void divergence_dispatch(Divergence d, const Categories& cat, double beta, double& loss, double& g_bar,
                         std::vector<double>& gq, double& gq_tail) {
  switch (d) {
    case Divergence::fkl: return divergence_over_categories<Divergence::fkl>(cat, beta, loss, g_bar, gq, gq_tail);
    case Divergence::rkl: return divergence_over_categories<Divergence::rkl>(cat, beta, loss, g_bar, gq, gq_tail);
    case Divergence::jsd: return divergence_over_categories<Divergence::jsd>(cat, beta, loss, g_bar, gq, gq_tail);
    case Divergence::tvd: return divergence_over_categories<Divergence::tvd>(cat, beta, loss, g_bar, gq, gq_tail);
  }
}

// out[i] = exp(a[i] - shift) as exp_row does, and also Σ out over the tokens not in the top-k
// set (summed directly, not 1 - Σ_K: no cancellation). `keep` is a 0/1 mask, reset afterwards.
double exp_row_with_tail(const float* a, float shift, float* out, int64_t V, const uint32_t* indices, int64_t k,
                         double& tail) {
  thread_local std::vector<float> keep;
  if (keep.size() < static_cast<size_t>(V)) keep.assign(static_cast<size_t>(V), 1.0f);
  for (int64_t c = 0; c < k; ++c) keep[indices[c]] = 0.0f;
  const float* kp = keep.data();
  double total = 0, tail_sum = 0;
  for (int64_t c = 0; c < V; c += kSumChunk) {
    const int64_t end = c + kSumChunk < V ? c + kSumChunk : V;
    float s = 0, s_tail = 0;
#pragma omp simd reduction(+ : s, s_tail)
    for (int64_t i = c; i < end; ++i) {
      const float e = vexp(a[i] - shift);
      out[i] = e;
      s += e;
      s_tail += kp[i] * e;
    }
    total += s;
    tail_sum += s_tail;
  }
  for (int64_t c = 0; c < k; ++c) keep[indices[c]] = 1.0f;
  tail = tail_sum;
  return total;
}

}  // namespace

void topk_row(const RowSetup& setup, const RowInput& in, RowScratch& scratch, RowOutput& out) {
  thread_local Categories cat;
  thread_local std::vector<double> gq;
  thread_local std::vector<float> values_f;
  const int64_t V = setup.vocab, k = in.k;
  const float inv_t = setup.inv_temperature;
  const float* z = row_as_float(in.student, in.student_dtype, V, scratch.z);
  values_f.resize(static_cast<size_t>(k));
  const float* v = row_as_float(in.topk_values, in.teacher_dtype, k, values_f);
  int64_t nonfinite = 0;
  float z_max;
  const float* a = row_max_scaled(z, inv_t, V, scratch.a, z_max, nonfinite);
  const float v_max = row_max(v, k, nonfinite);
  if (nonfinite > 0 || z_max == -INFINITY || v_max == -INFINITY || !std::isfinite(in.topk_lse))
    return write_nan_row(setup, in, out);

  // Student softmax over the whole vocabulary (and the T = 1 softmax for CE when T ≠ 1).
  const float a_max = z_max * inv_t;
  float* q_exp = scratch.q.data();
  double tail_a = 0;
  const double sum_a = exp_row_with_tail(a, a_max, q_exp, V, in.topk_indices, k, tail_a);
  const bool separate_s = setup.with_ce && setup.temperature != 1.0f;
  // At T = 2 and 4, exp(z - z_max) is exp(a - a_max) squared (a = z·2^-k is exact): no exps.
  const int squarings = setup.temperature == 2.0f ? 1 : setup.temperature == 4.0f ? 2 : 0;
  const double sum_z = !separate_s   ? sum_a
                       : squarings   ? squares_row(q_exp, squarings, scratch.s.data(), V)
                                     : exp_row(z, 1.0f, z_max, scratch.s.data(), V);
  const float* s_exp = separate_s ? scratch.s.data() : q_exp;
  const double log_sa = std::log(sum_a);

  // Categories in double.
  const auto kk = static_cast<size_t>(k);
  cat.p.resize(kk); cat.log_p.resize(kk); cat.q.resize(kk); cat.log_q.resize(kk);
  double sum_p = 0;
  const double b_max = static_cast<double>(v_max) * inv_t;
  double sum_v = 0;  // renormalize: Σ exp(b - b_max) over the k values
  for (size_t c = 0; c < kk; ++c) sum_v += std::exp(static_cast<double>(v[c]) * inv_t - b_max);
  for (size_t c = 0; c < kk; ++c) {
    const uint32_t j = in.topk_indices[c];
    // Bucket: the tail 1 - Σ p_c cancels, so t/T is taken in double with the exact 1/T.
    const double b = static_cast<double>(v[c]) / setup.temperature;
    cat.log_p[c] = setup.tail == Tail::bucket ? b - in.topk_lse
                                              : (static_cast<double>(v[c]) * inv_t - b_max) - std::log(sum_v);
    cat.p[c] = std::exp(cat.log_p[c]);
    cat.log_q[c] = (static_cast<double>(a[j]) - a_max) - log_sa;
    cat.q[c] = q_exp[j] / sum_a;
    sum_p += cat.p[c];
  }
  cat.p_tail = cat.q_tail = 0;
  if (setup.tail == Tail::bucket) {
    if (k < V) {
      cat.p_tail = std::max(0.0, 1.0 - sum_p);
      cat.q_tail = tail_a / sum_a;
    }
    const double norm = sum_p + cat.p_tail, log_norm = std::log(norm);
    for (size_t c = 0; c < kk; ++c) {
      cat.p[c] /= norm;
      cat.log_p[c] -= log_norm;
    }
    cat.p_tail /= norm;
  } else {
    // q̂ = softmax over the k student logits, computed from the logits themselves.
    double a_max_k = -INFINITY, sum_k = 0;
    for (size_t c = 0; c < kk; ++c) a_max_k = std::max(a_max_k, static_cast<double>(a[in.topk_indices[c]]));
    for (size_t c = 0; c < kk; ++c) sum_k += std::exp(static_cast<double>(a[in.topk_indices[c]]) - a_max_k);
    for (size_t c = 0; c < kk; ++c) {
      cat.log_q[c] = (static_cast<double>(a[in.topk_indices[c]]) - a_max_k) - std::log(sum_k);
      cat.q[c] = std::exp(cat.log_q[c]);
    }
  }
  double loss = 0, g_bar = 0, gq_tail = 0;
  divergence_dispatch(setup.divergence, cat, setup.beta, loss, g_bar, gq, gq_tail);

  // Gradient: every token as a tail token (bucket) or no KD term (renormalize), then the k
  // top-k tokens overwritten with their own category term.
  float* dz = in.student_dtype == DType::f32 ? static_cast<float*>(in.dz) : scratch.out.data();
  const float grad_ce = setup.with_ce ? setup.grad_ce : 0.0f;
  const float inv_sa = static_cast<float>(1.0 / sum_a), inv_sz = static_cast<float>(1.0 / sum_z);
  const double g_tail = cat.q_tail > 0 ? gq_tail / cat.q_tail : 0.0;
  const float tail_coef = setup.tail == Tail::bucket ? setup.grad_kd * static_cast<float>(g_tail - g_bar) : 0.0f;
#pragma omp simd
  for (int64_t i = 0; i < V; ++i) dz[i] = tail_coef * (q_exp[i] * inv_sa) + grad_ce * (s_exp[i] * inv_sz);
  for (size_t c = 0; c < kk; ++c) {
    const uint32_t j = in.topk_indices[c];
    const double kd_term = gq[c] - cat.q[c] * g_bar;
    dz[j] = static_cast<float>(setup.grad_kd * kd_term + grad_ce * (s_exp[j] * static_cast<double>(inv_sz)));
  }
  if (setup.with_ce && in.label >= 0) {
    dz[in.label] -= grad_ce;
    out.ce = std::log(sum_z) - static_cast<double>(z[in.label] - z_max);
  }
  if (in.student_dtype == DType::bf16) float_row_to_bf16(dz, static_cast<bf16*>(in.dz), V);

  const double kd = static_cast<double>(setup.temperature) * setup.temperature * loss;
  out.kd = kd < 0 ? 0.0 : kd;
  if (setup.want_entropy) {
    double h = cat.p_tail > 0 ? -cat.p_tail * std::log(cat.p_tail) : 0.0;
    for (size_t c = 0; c < kk; ++c) h += cat.p[c] > 0 ? -cat.p[c] * cat.log_p[c] : 0.0;
    out.entropy = static_cast<float>(h);
  }
  if (setup.want_agree) {
    uint32_t teacher_top = std::numeric_limits<uint32_t>::max();
    for (size_t c = 0; c < kk; ++c)
      if (v[c] == v_max) teacher_top = std::min(teacher_top, in.topk_indices[c]);
    out.agree = static_cast<int64_t>(teacher_top) == first_index_of(z, V, z_max);
  }
}

}  // namespace retort::kernels::cpu
