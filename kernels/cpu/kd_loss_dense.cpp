// CPU distillation loss for one row with a dense teacher: max pass, exp pass (2 exps per
// element, 3 when α > 0 and T ≠ 1), a ḡ pass for rkl/jsd/tvd, then the gradient pass.
#include <cmath>
#include <limits>

#include "kernels/cpu/kd_loss_cpu_math.h"
#include "kernels/cpu/kd_loss_cpu_rows.h"

namespace retort::kernels::cpu {

void RowScratch::reserve(int64_t vocab) {
  const auto n = static_cast<size_t>(vocab);
  for (auto* v : {&z, &t, &a, &b, &q, &p, &s, &out})
    if (v->size() < n) v->resize(n);
}

namespace {

// The per-row work once z and t are float rows; kDiv is fixed at compile time so every inner
// loop is a straight-line `omp simd` loop.
template <Divergence kDiv>
void dense_row_impl(const RowSetup& setup, const RowInput& in, const float* z, const float* t,
                    float z_max, float t_max, RowScratch& scratch, RowOutput& out) {
  const int64_t V = setup.vocab;
  const float inv_t = setup.inv_temperature, beta = setup.beta;
  const float a_max = z_max * inv_t, b_max = t_max * inv_t;
  const float* a = row_scaled(z, inv_t, V, scratch.a);
  const float* b = row_scaled(t, inv_t, V, scratch.b);
  float* q_exp = scratch.q.data();
  float* p_exp = scratch.p.data();
  const double sum_a = exp_row(a, 1.0f, a_max, q_exp, V);
  const double sum_b = exp_row(b, 1.0f, b_max, p_exp, V);
  const bool separate_s = setup.with_ce && setup.temperature != 1.0f;
  const double sum_z = separate_s ? exp_row(z, 1.0f, z_max, scratch.s.data(), V) : sum_a;
  const float* s_exp = separate_s ? scratch.s.data() : q_exp;
  // log q_i = (a_i - a_max) - log Σ: the first difference is exact near the max (±1e4 logits).
  const float log_sa = static_cast<float>(std::log(sum_a)), log_sb = static_cast<float>(std::log(sum_b));
  const float inv_sa = static_cast<float>(1.0 / sum_a), inv_sb = static_cast<float>(1.0 / sum_b);
  const float inv_sz = static_cast<float>(1.0 / sum_z);

  // ḡ = Σ q_j g_j (fkl: exactly -1), with the loss and entropy for rkl/jsd/tvd. jsd keeps
  // q_j g_j in p_exp for the gradient pass (it costs a log).
  double loss = 0, entropy = 0, g_bar = -1.0;
  if constexpr (kDiv != Divergence::fkl) {
    g_bar = 0;
    for (int64_t c = 0; c < V; c += kSumChunk) {
      const int64_t end = c + kSumChunk < V ? c + kSumChunk : V;
      float l_sum = 0, g_sum = 0, h_sum = 0;
#pragma omp simd reduction(+ : l_sum, g_sum, h_sum)
      for (int64_t i = c; i < end; ++i) {
        const float q = q_exp[i] * inv_sa, p = p_exp[i] * inv_sb;
        const float log_q = (a[i] - a_max) - log_sa, log_p = (b[i] - b_max) - log_sb;
        float l, gq;
        category_terms<kDiv>(p, q, log_p, log_q, beta, l, gq);
        if constexpr (kDiv == Divergence::jsd) p_exp[i] = gq;
        l_sum += l;
        g_sum += gq;
        h_sum += keep_if(p > 0.0f, -p * log_p);
      }
      loss += l_sum;
      g_bar += g_sum;
      entropy += h_sum;
    }
  }

  // Gradient pass: dz_j = grad_kd·(q_j g_j - q_j ḡ) + grad_ce·s_j (the -[j == y] comes after);
  // fkl also sums its loss and entropy here.
  float* dz = in.student_dtype == DType::f32 ? static_cast<float*>(in.dz) : scratch.out.data();
  const float grad_kd = setup.grad_kd, grad_ce = setup.with_ce ? setup.grad_ce : 0.0f;
  const float gb = static_cast<float>(g_bar);
  for (int64_t c = 0; c < V; c += kSumChunk) {
    const int64_t end = c + kSumChunk < V ? c + kSumChunk : V;
    float l_sum = 0, h_sum = 0;
#pragma omp simd reduction(+ : l_sum, h_sum)
    for (int64_t i = c; i < end; ++i) {
      const float q = q_exp[i] * inv_sa, s = s_exp[i] * inv_sz;
      float gq;
      if constexpr (kDiv == Divergence::jsd) {
        gq = p_exp[i];
      } else {
        const float p = p_exp[i] * inv_sb;
        const float log_q = (a[i] - a_max) - log_sa, log_p = (b[i] - b_max) - log_sb;
        float l;
        category_terms<kDiv>(p, q, log_p, log_q, beta, l, gq);
        if constexpr (kDiv == Divergence::fkl) {
          l_sum += l;
          h_sum += keep_if(p > 0.0f, -p * log_p);
        }
      }
      dz[i] = grad_kd * (gq - q * gb) + grad_ce * s;
    }
    if constexpr (kDiv == Divergence::fkl) {
      loss += l_sum;
      entropy += h_sum;
    }
  }
  if (setup.with_ce && in.label >= 0) {
    dz[in.label] -= grad_ce;
    // CE = log Σ exp(z) - z_y = log Σ exp(z - z_max) - (z_y - z_max); with T = 1, a == z.
    out.ce = std::log(sum_z) - static_cast<double>(z[in.label] - z_max);
  }
  if (in.student_dtype == DType::bf16) float_row_to_bf16(dz, static_cast<bf16*>(in.dz), V);
  const double kd = static_cast<double>(setup.temperature) * setup.temperature * loss;
  out.kd = kd < 0 ? 0.0 : kd;
  out.entropy = static_cast<float>(entropy);
  if (setup.want_agree) out.agree = first_index_of(z, V, z_max) == first_index_of(t, V, t_max);
}

}  // namespace

void dense_row(const RowSetup& setup, const RowInput& in, RowScratch& scratch, RowOutput& out) {
  const int64_t V = setup.vocab;
  const float* z = row_as_float(in.student, in.student_dtype, V, scratch.z);
  const float* t = row_as_float(in.teacher_dense, in.teacher_dtype, V, scratch.t);
  int64_t nonfinite = 0;
  const float z_max = row_max(z, V, nonfinite);
  const float t_max = row_max(t, V, nonfinite);
  if (nonfinite > 0 || z_max == -INFINITY || t_max == -INFINITY) return write_nan_row(setup, in, out);
  switch (setup.divergence) {
    case Divergence::fkl: return dense_row_impl<Divergence::fkl>(setup, in, z, t, z_max, t_max, scratch, out);
    case Divergence::rkl: return dense_row_impl<Divergence::rkl>(setup, in, z, t, z_max, t_max, scratch, out);
    case Divergence::jsd: return dense_row_impl<Divergence::jsd>(setup, in, z, t, z_max, t_max, scratch, out);
    case Divergence::tvd: return dense_row_impl<Divergence::tvd>(setup, in, z, t, z_max, t_max, scratch, out);
  }
}

}  // namespace retort::kernels::cpu
