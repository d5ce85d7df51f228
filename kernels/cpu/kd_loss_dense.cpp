// CPU distillation loss for one row with a dense teacher: max pass (z and t in one loop), exp
// pass (2 exps per element; softmax(z) for the CE reuses exp(z/T) when T is 1, 2 or 4,
// otherwise a third exp; the entropy sum only when asked for), a ḡ pass for rkl/jsd/tvd, then
// the gradient pass. The exp pass also prefetches the next row's inputs, so reading them from
// memory overlaps this row's arithmetic.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
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

// Asks for the cache lines of [p, p + bytes) (a hint; no fault on any address).
inline void prefetch_bytes(const char* p, size_t bytes) {
  for (size_t off = 0; off < bytes; off += 64) __builtin_prefetch(p + off, 0, 3);
}

// dst[0, n) = src[0, n) with non-temporal stores (dst 32-byte aligned), the n mod 8 tail plain.
inline void stream_store(const float* src, float* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_stream_ps(dst + i, _mm256_loadu_ps(src + i));
  for (; i < n; ++i) dst[i] = src[i];
}

// e^(2^N): e squared N times (e itself for N = 0).
template <int N>
[[gnu::always_inline]] inline float squared(float e) {
  if constexpr (N == 0) return e;
  else return squared<N - 1>(e * e);
}

// The per-row work once z and t are float rows; kDiv is fixed at compile time so every inner
// loop is a straight-line `omp simd` loop. kSquarings > 0 (T = 2^kSquarings, α > 0): the CE's
// exp(z - z_max) is exp(da) squared kSquarings times, since da = fl(z - z_max)·2^-kSquarings is
// exact and so T·da is exactly the rounded z - z_max.
template <Divergence kDiv, int kSquarings, bool kEntropy>
[[gnu::always_inline]] inline void dense_row_impl(const RowSetup& setup, const RowInput& in, const float* z, const float* t, float z_max,
                    float t_max, RowScratch& scratch, RowOutput& out) {
  const int64_t V = setup.vocab;
  const float inv_t = setup.inv_temperature, beta = setup.beta;
  float* q_exp = scratch.q.data();
  float* p_exp = scratch.p.data();
  // Exp pass over both rows (2 exps per element): with da = (z - z_max)/T and db = (t - t_max)/T
  // (the difference first, so it is exactly 0 at the maximum and accurate near it at ±1e4
  // logits; nothing is stored), e_a = exp(da), e_b = exp(db), their sums, Σ e_b·d and Σ e_a·d
  // with d = db - da (fkl/rkl losses), and Σ e_b·db (entropy, when asked for).
  constexpr bool kl_sums = kDiv == Divergence::fkl || kDiv == Divergence::rkl;
  double sum_a = 0, sum_b = 0, w_p = 0, w_q = 0, e_b = 0, sum_s = 0;
  const size_t z_size = dtype_size(in.student_dtype), t_size = dtype_size(in.teacher_dtype);
  for (int64_t c = 0; c < V; c += kSumChunk) {
    const int64_t end = c + kSumChunk < V ? c + kSumChunk : V;
    if (in.next_student) {
      prefetch_bytes(static_cast<const char*>(in.next_student) + c * z_size, (end - c) * z_size);
      prefetch_bytes(static_cast<const char*>(in.next_teacher) + c * t_size, (end - c) * t_size);
    }
    float sa = 0, sb = 0, wp = 0, wq = 0, eb = 0, ss = 0;
#pragma omp simd reduction(+ : sa, sb, wp, wq, eb, ss)
    for (int64_t i = c; i < end; ++i) {
      const float da = (z[i] - z_max) * inv_t, db = (t[i] - t_max) * inv_t;
      const float ea = vexp(da), ebv = vexp(db);
      q_exp[i] = ea;
      p_exp[i] = ebv;
      sa += ea;
      sb += ebv;
      if constexpr (kSquarings > 0) ss += squared<kSquarings>(ea);
      if constexpr (kDiv == Divergence::fkl) wp += keep_if(ebv > 0.0f, ebv * (db - da));
      if constexpr (kDiv == Divergence::rkl) wq += keep_if(ea > 0.0f, ea * (db - da));
      if constexpr (kEntropy) eb += keep_if(ebv > 0.0f, ebv * db);
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
        const float log_q = (z[i] - z_max) * inv_t - log_sa, log_p = (t[i] - t_max) * inv_t - log_sb;
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
  const float grad_kd = setup.grad_kd, grad_ce = setup.with_ce ? setup.grad_ce : 0.0f;
  const float gb = static_cast<float>(g_bar);
  const auto grad_at = [&](int64_t i) __attribute__((always_inline)) {
    const float q = q_exp[i] * inv_sa, s = squared<kSquarings>(s_exp[i]) * inv_sz;
    float gq;
    if constexpr (kDiv == Divergence::fkl) {
      gq = -(p_exp[i] * inv_sb);
    } else if constexpr (kDiv == Divergence::jsd) {
      gq = p_exp[i];
    } else {
      const float p = p_exp[i] * inv_sb;
      const float log_q = (z[i] - z_max) * inv_t - log_sa, log_p = (t[i] - t_max) * inv_t - log_sb;
      float l;
      category_terms<kDiv>(p, q, log_p, log_q, beta, l, gq);
    }
    return grad_kd * (gq - q * gb) + grad_ce * s;
  };
  float* dz = in.student_dtype == DType::f32 ? static_cast<float*>(in.dz) : scratch.out.data();
  if (in.student_dtype == DType::f32) {
    // fp32 dz is written once and not read back here: chunks go through L1 scratch and on to
    // memory with streaming stores (no read-for-ownership of the output lines).
    const int64_t head = std::min<int64_t>(V, static_cast<int64_t>((32 - (reinterpret_cast<uintptr_t>(dz) & 31)) & 31) / 4);
    for (int64_t i = 0; i < head; ++i) dz[i] = grad_at(i);
    float* chunk = scratch.out.data();
    for (int64_t c = head; c < V; c += kSumChunk) {
      const int64_t n = c + kSumChunk < V ? kSumChunk : V - c;
#pragma omp simd
      for (int64_t j = 0; j < n; ++j) chunk[j] = grad_at(c + j);
      stream_store(chunk, dz + c, n);
    }
    _mm_sfence();
  } else {
#pragma omp simd
    for (int64_t i = 0; i < V; ++i) dz[i] = grad_at(i);
  }
  if (setup.with_ce && in.label >= 0) {
    dz[in.label] -= grad_ce;
    // CE = log Σ exp(z) - z_y = log Σ exp(z - z_max) - (z_y - z_max); with T = 1, a == z.
    out.ce = std::log(sum_z) - static_cast<double>(z[in.label] - z_max);
  }
  if (in.student_dtype == DType::bf16) float_row_to_bf16(dz, static_cast<bf16*>(in.dz), V);
  const double kd = static_cast<double>(setup.temperature) * setup.temperature * loss;
  out.kd = kd < 0 ? 0.0 : kd;
  if constexpr (kEntropy) out.entropy = static_cast<float>(entropy);
  if (setup.want_agree) out.agree = first_index_of(z, V, z_max) == first_index_of(t, V, t_max);
}

template <int kSquarings, bool kEntropy>
[[gnu::always_inline]] inline void dense_row_for(const RowSetup& setup, const RowInput& in, const float* z, const float* t, float z_max,
                   float t_max, RowScratch& scratch, RowOutput& out) {
  switch (setup.divergence) {
    case Divergence::fkl: return dense_row_impl<Divergence::fkl, kSquarings, kEntropy>(setup, in, z, t, z_max, t_max, scratch, out);
    case Divergence::rkl: return dense_row_impl<Divergence::rkl, kSquarings, kEntropy>(setup, in, z, t, z_max, t_max, scratch, out);
    case Divergence::jsd: return dense_row_impl<Divergence::jsd, kSquarings, kEntropy>(setup, in, z, t, z_max, t_max, scratch, out);
    case Divergence::tvd: return dense_row_impl<Divergence::tvd, kSquarings, kEntropy>(setup, in, z, t, z_max, t_max, scratch, out);
  }
}

}  // namespace

// Compiled twice, for AVX2 and for AVX-512 (x86-64-v4), the one the CPU supports picked at load
// time. The fp32 lane sums then run 8 or 16 lanes wide, so the two may differ in the last bits
// of the sums; a given machine always runs the same one (results stay run-to-run identical).
[[gnu::target_clones("arch=x86-64-v4", "default")]]
void dense_row(const RowSetup& setup, const RowInput& in, RowScratch& scratch, RowOutput& out) {
  const int64_t V = setup.vocab;
  const float* z = row_as_float(in.student, in.student_dtype, V, scratch.z);
  const float* t = row_as_float(in.teacher_dense, in.teacher_dtype, V, scratch.t);
  int64_t nonfinite = 0;
  float z_max, t_max;
  row_max2(z, t, V, z_max, t_max, nonfinite);
  if (nonfinite > 0 || z_max == -INFINITY || t_max == -INFINITY) return write_nan_row(setup, in, out);
  const int squarings = !setup.with_ce ? 0 : setup.temperature == 2.0f ? 1 : setup.temperature == 4.0f ? 2 : 0;
  const bool entropy = setup.want_entropy;
  switch (squarings) {
    case 1: return entropy ? dense_row_for<1, true>(setup, in, z, t, z_max, t_max, scratch, out)
                           : dense_row_for<1, false>(setup, in, z, t, z_max, t_max, scratch, out);
    case 2: return entropy ? dense_row_for<2, true>(setup, in, z, t, z_max, t_max, scratch, out)
                           : dense_row_for<2, false>(setup, in, z, t, z_max, t_max, scratch, out);
    default: return entropy ? dense_row_for<0, true>(setup, in, z, t, z_max, t_max, scratch, out)
                            : dense_row_for<0, false>(setup, in, z, t, z_max, t_max, scratch, out);
  }
}

}  // namespace retort::kernels::cpu
