// CPU distillation loss for one row with a dense teacher: max pass, exp pass (2 exps per
// element; softmax(z) for the CE reuses exp(z/T) when T is 1, 2 or 4, otherwise a third exp),
// a ḡ pass for rkl/jsd/tvd, then the gradient pass.
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

// e^(2^N): e squared N times (e itself for N = 0).
template <int N>
[[gnu::always_inline]] inline float squared(float e) {
  if constexpr (N == 0) return e;
  else return squared<N - 1>(e * e);
}

// The per-row work once z and t are float rows; kDiv is fixed at compile time so every inner
// loop is a straight-line `omp simd` loop. kSquarings > 0 (T = 2^kSquarings, α > 0): the CE's
// exp(z - z_max) is exp(a - a_max) squared kSquarings times, since a = z·2^-kSquarings is exact
// and so T·(a - a_max) is exactly the rounded z - z_max.
template <Divergence kDiv, int kSquarings>
void dense_row_impl(const RowSetup& setup, const RowInput& in, const float* z, const float* t, const float* a,
                    const float* b, float z_max, float t_max, RowScratch& scratch, RowOutput& out) {
  const int64_t V = setup.vocab;
  const float inv_t = setup.inv_temperature, beta = setup.beta;
  const float a_max = z_max * inv_t, b_max = t_max * inv_t;
  float* q_exp = scratch.q.data();
  float* p_exp = scratch.p.data();
  // Exp pass over both rows (2 exps per element): e_a = exp(a - a_max), e_b = exp(b - b_max),
  // their sums, Σ e_b·d and Σ e_a·d with d = (b - b_max) - (a - a_max) (fkl/rkl losses), and
  // Σ e_b·(b - b_max) (entropy). Differences from the maxima are exact near them (±1e4 logits).
  constexpr bool kl_sums = kDiv == Divergence::fkl || kDiv == Divergence::rkl;
  double sum_a = 0, sum_b = 0, w_p = 0, w_q = 0, e_b = 0, sum_s = 0;
  for (int64_t c = 0; c < V; c += kSumChunk) {
    const int64_t end = c + kSumChunk < V ? c + kSumChunk : V;
    float sa = 0, sb = 0, wp = 0, wq = 0, eb = 0, ss = 0;
#pragma omp simd reduction(+ : sa, sb, wp, wq, eb, ss)
    for (int64_t i = c; i < end; ++i) {
      const float da = a[i] - a_max, db = b[i] - b_max;
      const float ea = vexp(da), ebv = vexp(db);
      q_exp[i] = ea;
      p_exp[i] = ebv;
      sa += ea;
      sb += ebv;
      if constexpr (kSquarings > 0) ss += squared<kSquarings>(ea);
      if constexpr (kl_sums) {
        wp += keep_if(ebv > 0.0f, ebv * (db - da));
        wq += keep_if(ea > 0.0f, ea * (db - da));
      }
      eb += keep_if(ebv > 0.0f, ebv * db);
    }
    sum_a += sa;
    sum_b += sb;
    w_p += wp;
    w_q += wq;
    e_b += eb;
    sum_s += ss;
  }
  const bool separate_s = kSquarings == 0 && setup.with_ce && setup.temperature != 1.0f;
  const double sum_z = kSquarings > 0 ? sum_s : separate_s ? exp_row(z, 1.0f, z_max, scratch.s.data(), V) : sum_a;
  const float* s_exp = separate_s ? scratch.s.data() : q_exp;
  const double log_sa_d = std::log(sum_a), log_sb_d = std::log(sum_b);
  const float log_sa = static_cast<float>(log_sa_d), log_sb = static_cast<float>(log_sb_d);
  const float inv_sa = static_cast<float>(1.0 / sum_a), inv_sb = static_cast<float>(1.0 / sum_b);
  const float inv_sz = static_cast<float>(1.0 / sum_z);

  // ḡ = Σ q_j g_j. fkl: exactly -1, rkl: KL(q‖p), both known now; jsd/tvd need a pass (which
  // also gives their loss). jsd keeps q_j g_j in p_exp for the gradient pass (it costs a log).
  double loss = 0, entropy = log_sb_d - e_b / sum_b, g_bar = -1.0;
  if constexpr (kDiv == Divergence::fkl) loss = w_p / sum_b - log_sb_d + log_sa_d;
  if constexpr (kDiv == Divergence::rkl) g_bar = loss = -w_q / sum_a + log_sb_d - log_sa_d;
  if constexpr (!kl_sums) {
    g_bar = 0;
    for (int64_t c = 0; c < V; c += kSumChunk) {
      const int64_t end = c + kSumChunk < V ? c + kSumChunk : V;
      float l_sum = 0, g_sum = 0;
#pragma omp simd reduction(+ : l_sum, g_sum)
      for (int64_t i = c; i < end; ++i) {
        const float q = q_exp[i] * inv_sa, p = p_exp[i] * inv_sb;
        const float log_q = (a[i] - a_max) - log_sa, log_p = (b[i] - b_max) - log_sb;
        float l, gq;
        category_terms<kDiv>(p, q, log_p, log_q, beta, l, gq);
        if constexpr (kDiv == Divergence::jsd) p_exp[i] = gq;
        l_sum += l;
        g_sum += gq;
      }
      loss += l_sum;
      g_bar += g_sum;
    }
  }

  // Gradient pass: dz_j = grad_kd·(q_j g_j - q_j ḡ) + grad_ce·s_j (the -[j == y] comes after).
  float* dz = in.student_dtype == DType::f32 ? static_cast<float*>(in.dz) : scratch.out.data();
  const float grad_kd = setup.grad_kd, grad_ce = setup.with_ce ? setup.grad_ce : 0.0f;
  const float gb = static_cast<float>(g_bar);
#pragma omp simd
  for (int64_t i = 0; i < V; ++i) {
    const float q = q_exp[i] * inv_sa, s = squared<kSquarings>(s_exp[i]) * inv_sz;
    float gq;
    if constexpr (kDiv == Divergence::fkl) {
      gq = -(p_exp[i] * inv_sb);
    } else if constexpr (kDiv == Divergence::jsd) {
      gq = p_exp[i];
    } else {
      const float p = p_exp[i] * inv_sb;
      const float log_q = (a[i] - a_max) - log_sa, log_p = (b[i] - b_max) - log_sb;
      float l;
      category_terms<kDiv>(p, q, log_p, log_q, beta, l, gq);
    }
    dz[i] = grad_kd * (gq - q * gb) + grad_ce * s;
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

template <int kSquarings>
void dense_row_for(const RowSetup& setup, const RowInput& in, const float* z, const float* t, const float* a,
                   const float* b, float z_max, float t_max, RowScratch& scratch, RowOutput& out) {
  switch (setup.divergence) {
    case Divergence::fkl: return dense_row_impl<Divergence::fkl, kSquarings>(setup, in, z, t, a, b, z_max, t_max, scratch, out);
    case Divergence::rkl: return dense_row_impl<Divergence::rkl, kSquarings>(setup, in, z, t, a, b, z_max, t_max, scratch, out);
    case Divergence::jsd: return dense_row_impl<Divergence::jsd, kSquarings>(setup, in, z, t, a, b, z_max, t_max, scratch, out);
    case Divergence::tvd: return dense_row_impl<Divergence::tvd, kSquarings>(setup, in, z, t, a, b, z_max, t_max, scratch, out);
  }
}

}  // namespace

void dense_row(const RowSetup& setup, const RowInput& in, RowScratch& scratch, RowOutput& out) {
  const int64_t V = setup.vocab;
  const float* z = row_as_float(in.student, in.student_dtype, V, scratch.z);
  const float* t = row_as_float(in.teacher_dense, in.teacher_dtype, V, scratch.t);
  int64_t nonfinite = 0;
  float z_max, t_max;
  const float* a = row_max_scaled(z, setup.inv_temperature, V, scratch.a, z_max, nonfinite);
  const float* b = row_max_scaled(t, setup.inv_temperature, V, scratch.b, t_max, nonfinite);
  if (nonfinite > 0 || z_max == -INFINITY || t_max == -INFINITY) return write_nan_row(setup, in, out);
  const int squarings = !setup.with_ce ? 0 : setup.temperature == 2.0f ? 1 : setup.temperature == 4.0f ? 2 : 0;
  switch (squarings) {
    case 1: return dense_row_for<1>(setup, in, z, t, a, b, z_max, t_max, scratch, out);
    case 2: return dense_row_for<2>(setup, in, z, t, a, b, z_max, t_max, scratch, out);
    default: return dense_row_for<0>(setup, in, z, t, a, b, z_max, t_max, scratch, out);
  }
}

}  // namespace retort::kernels::cpu
