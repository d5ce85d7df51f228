// CPU distillation loss for one row with a dense teacher. One pass reads z and t from memory,
// block by block (kDenseBlock elements): the block's maxima, then 2^((x - block max)·log2(e)/T)
// for both rows, stored, with the block's sums, while the next block is prefetched. The blocks
// are then rescaled to the row maxima by one factor each (so no separate max pass over the
// row), a ḡ pass runs for jsd/tvd, and the gradient pass applies the factors per block.
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
  const auto blocks = static_cast<size_t>((vocab + kDenseBlock - 1) / kDenseBlock);
  if (block.size() < kBlockFields * blocks) block.resize(kBlockFields * blocks);
}

namespace {

constexpr double kLog2e = 1.4426950408889634, kLn2 = 0.6931471805599453;

// dst[0, n) = src[0, n): plain stores up to dst's first 32-byte boundary and for the n mod 8
// tail, non-temporal stores in between (no read-for-ownership of the output lines).
inline void stream_store(const float* src, float* dst, int64_t n) {
  const int64_t head = std::min<int64_t>(n, static_cast<int64_t>((32 - (reinterpret_cast<uintptr_t>(dst) & 31)) & 31) / 4);
  int64_t i = 0;
  for (; i < head; ++i) dst[i] = src[i];
  for (; i + 8 <= n; i += 8) _mm256_stream_ps(dst + i, _mm256_loadu_ps(src + i));
  for (; i < n; ++i) dst[i] = src[i];
}

// The exp loop of a block runs in spans of kPrefetchSpan elements; before each span the same
// span of the next block of z and t (4 KB ahead) is prefetched, one line per 16 floats, so the
// next block's reads overlap this block's exps (the hardware prefetchers stop at 4 KB pages).
// always_inline: GCC's IPA takes a function whose only effect is __builtin_prefetch for const
// and deletes its calls (no prefetch was emitted while this was a plain inline function).
constexpr int64_t kPrefetchSpan = 256;
[[gnu::always_inline]] inline void prefetch_next_block(const float* z, const float* t, int64_t c0, int64_t V) {
  const int64_t ahead = c0 + kDenseBlock;
  if (ahead >= V) return;
  for (int64_t l = 0; l < kPrefetchSpan && ahead + l < V; l += 16) {
    _mm_prefetch(reinterpret_cast<const char*>(z + ahead + l), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(t + ahead + l), _MM_HINT_T0);
  }
}

// e^(2^N): e squared N times (e itself for N = 0).
template <int N>
[[gnu::always_inline]] inline float squared(float e) {
  if constexpr (N == 0) return e;
  else return squared<N - 1>(e * e);
}

// Per-block values of the exp pass, kBlockFields arrays of one float per block in scratch.block.
struct Blocks {
  float *z_max, *t_max;   // block maxima (an all -inf block: -FLT_MAX, so x - max stays -inf)
  float *sa, *sb;         // Σ e_a, Σ e_b with e_a = 2^u, u = (z - z_max_block)·log2(e)/T, e_b likewise
  float *w, *ent, *ss;    // Σ e_b·(v - u) (fkl) or Σ e_a·(v - u) (rkl); Σ e_b·v; Σ e_a^(2^k)
  float *fa, *fb, *fs;    // block → row rescaling: 2^((z_max_block - z_max)·log2(e)/T), same for t;
                          // exp(z_max_block - z_max) for softmax(z)
  Blocks(float* base, int64_t n)
      : z_max(base), t_max(base + n), sa(base + 2 * n), sb(base + 3 * n), w(base + 4 * n), ent(base + 5 * n),
        ss(base + 6 * n), fa(base + 7 * n), fb(base + 8 * n), fs(base + 9 * n) {}
};
static_assert(kBlockFields == 10);

// The per-row work once z and t are float rows; kDiv is fixed at compile time so every inner
// loop is a straight-line `omp simd` loop. kSquarings > 0 (T = 2^kSquarings, α > 0): the CE's
// exp(z - z_max_block) is e_a squared kSquarings times (the same value up to the rounding of u).
template <Divergence kDiv, int kSquarings, bool kEntropy>
[[gnu::always_inline]] inline void dense_row_impl(const RowSetup& setup, const RowInput& in, const float* z, const float* t,
                                                  RowScratch& scratch, RowOutput& out) {
  const int64_t V = setup.vocab, n_blocks = (V + kDenseBlock - 1) / kDenseBlock;
  const float inv_t = setup.inv_temperature, beta = setup.beta;
  const double k_d = kLog2e / setup.temperature;
  const float k = static_cast<float>(k_d);
  float* q_exp = scratch.q.data();
  float* p_exp = scratch.p.data();
  Blocks blk(scratch.block.data(), n_blocks);

  // Exp pass, block by block: the maxima (and the NaN/+inf count) from memory, then from L1 the
  // exps and their sums; fkl/rkl get Σ e·(v - u), the loss's log-ratio at block scale.
  constexpr bool kl_sums = kDiv == Divergence::fkl || kDiv == Divergence::rkl;
  int64_t nonfinite = 0;
  float z_max = -INFINITY, t_max = -INFINITY;
  for (int64_t b = 0; b < n_blocks; ++b) {
    const int64_t c = b * kDenseBlock, end = std::min(c + kDenseBlock, V);
    float mz = -INFINITY, mt = -INFINITY;
    int32_t bad = 0;
#pragma omp simd reduction(max : mz, mt) reduction(+ : bad)
    for (int64_t i = c; i < end; ++i) {
      const float x = z[i], y = t[i];
      mz = x > mz ? x : mz;
      mt = y > mt ? y : mt;
      bad += !(x <= 3.40282347e38f) | !(y <= 3.40282347e38f);  // NaN or +inf
    }
    nonfinite += bad;
    z_max = std::max(z_max, mz);
    t_max = std::max(t_max, mt);
    mz = std::max(mz, -std::numeric_limits<float>::max());
    mt = std::max(mt, -std::numeric_limits<float>::max());
    float sa = 0, sb = 0, w = 0, ent = 0, ss = 0;
    for (int64_t c0 = c; c0 < end; c0 += kPrefetchSpan) {
      const int64_t e0 = std::min(c0 + kPrefetchSpan, end);
      prefetch_next_block(z, t, c0, V);
#pragma omp simd reduction(+ : sa, sb, w, ent, ss)
      for (int64_t i = c0; i < e0; ++i) {
        const float u = (z[i] - mz) * k, v = (t[i] - mt) * k;
        const float ea = vexp2(u), eb = vexp2(v);
        q_exp[i] = ea;
        p_exp[i] = eb;
        sa += ea;
        sb += eb;
        if constexpr (kSquarings > 0) ss += squared<kSquarings>(ea);
        if constexpr (kDiv == Divergence::fkl) w += keep_if(eb > 0.0f, eb * (v - u));
        if constexpr (kDiv == Divergence::rkl) w += keep_if(ea > 0.0f, ea * (v - u));
        if constexpr (kEntropy) ent += keep_if(eb > 0.0f, eb * v);
      }
    }
    blk.z_max[b] = mz;
    blk.t_max[b] = mt;
    blk.sa[b] = sa;
    blk.sb[b] = sb;
    blk.w[b] = w;
    blk.ent[b] = ent;
    blk.ss[b] = ss;
  }
  if (nonfinite > 0 || z_max == -INFINITY || t_max == -INFINITY) return write_nan_row(setup, in, out);

  // Block → row factors (vectorised over the blocks), then the row sums in float64: Σ e over the
  // row at row scale is Σ_b f_b·Σ_block e; the log-ratio at row scale is (v - u) + Δ_b with
  // Δ_b = ((t_max_b - t_max) - (z_max_b - z_max))·log2(e)/T. Blocks whose factor is 0 drop out.
  const bool separate_s = kSquarings == 0 && setup.with_ce && setup.temperature != 1.0f;
#pragma omp simd
  for (int64_t b = 0; b < n_blocks; ++b) {
    blk.fa[b] = vexp2((blk.z_max[b] - z_max) * k);
    blk.fb[b] = vexp2((blk.t_max[b] - t_max) * k);
    blk.fs[b] = vexp2((blk.z_max[b] - z_max) * static_cast<float>(kLog2e));
  }
  double sum_a = 0, sum_b = 0, w_sum = 0, ent_sum = 0, sum_s = 0;
  for (int64_t b = 0; b < n_blocks; ++b) {
    const double fa = blk.fa[b], fb = blk.fb[b];
    const double dz_b = static_cast<double>(blk.z_max[b]) - z_max, dt_b = static_cast<double>(blk.t_max[b]) - t_max;
    sum_a += fa * blk.sa[b];
    sum_b += fb * blk.sb[b];
    if constexpr (kSquarings > 0) sum_s += static_cast<double>(blk.fs[b]) * blk.ss[b];
    const double delta = (dt_b - dz_b) * k_d;
    if constexpr (kDiv == Divergence::fkl)
      if (fb > 0) w_sum += fb * (blk.w[b] + delta * blk.sb[b]);
    if constexpr (kDiv == Divergence::rkl)
      if (fa > 0) w_sum += fa * (blk.w[b] + delta * blk.sa[b]);
    if constexpr (kEntropy)
      if (fb > 0) ent_sum += fb * (blk.ent[b] + dt_b * k_d * blk.sb[b]);
  }
  // softmax(z) for the CE: e_a^(2^k) rescaled by fs (T = 2, 4; at T = 1, e_a and fs = fa),
  // otherwise a separate exp pass at row scale (factor 1).
  const double sum_z = kSquarings > 0 ? sum_s : separate_s ? exp_row(z, 1.0f, z_max, scratch.s.data(), V) : sum_a;
  const float* s_exp = separate_s ? scratch.s.data() : q_exp;
  const double log_sa_d = std::log(sum_a), log_sb_d = std::log(sum_b);
  const float log_sa = static_cast<float>(log_sa_d), log_sb = static_cast<float>(log_sb_d);
  const float inv_sa = static_cast<float>(1.0 / sum_a), inv_sb = static_cast<float>(1.0 / sum_b);
  const float inv_sz = static_cast<float>(1.0 / sum_z);

  // ḡ = Σ q_j g_j. fkl: exactly -1, rkl: KL(q‖p), both known now; jsd/tvd need a pass (which
  // also gives their loss). jsd keeps q_j g_j in p_exp for the gradient pass (it costs a log).
  double loss = 0, entropy = log_sb_d - kLn2 * ent_sum / sum_b, g_bar = -1.0;
  if constexpr (kDiv == Divergence::fkl) loss = kLn2 * w_sum / sum_b - log_sb_d + log_sa_d;
  if constexpr (kDiv == Divergence::rkl) g_bar = loss = -kLn2 * w_sum / sum_a + log_sb_d - log_sa_d;
  if constexpr (!kl_sums) {
    g_bar = 0;
    for (int64_t b = 0; b < n_blocks; ++b) {
      const int64_t c = b * kDenseBlock, end = std::min(c + kDenseBlock, V);
      const float qa = blk.fa[b] * inv_sa, pb = blk.fb[b] * inv_sb;
      float l_sum = 0, g_sum = 0;
#pragma omp simd reduction(+ : l_sum, g_sum)
      for (int64_t i = c; i < end; ++i) {
        const float q = q_exp[i] * qa, p = p_exp[i] * pb;
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

  // Gradient pass: dz_j = grad_kd·(q_j g_j - q_j ḡ) + grad_ce·s_j (the -[j == y] comes after),
  // with q_j = e_a·fa_b/Σ, p_j = e_b·fb_b/Σ, s_j = s_exp^(2^k)·fs_b/Σ per block; for fkl (ḡ = -1)
  // that is three per-block coefficients times e_a, e_b and s_exp.
  const float grad_kd = setup.grad_kd, grad_ce = setup.with_ce ? setup.grad_ce : 0.0f;
  const float gb = static_cast<float>(g_bar);
  float* dz = in.student_dtype == DType::f32 ? static_cast<float*>(in.dz) : scratch.out.data();
  float* chunk = scratch.out.data();
  for (int64_t b = 0; b < n_blocks; ++b) {
    const int64_t c = b * kDenseBlock, n = std::min(c + kDenseBlock, V) - c;
    const float qa = blk.fa[b] * inv_sa, pb = blk.fb[b] * inv_sb;
    const float sc = !setup.with_ce ? 0.0f : separate_s ? inv_sz : blk.fs[b] * inv_sz;
    const float* ea = q_exp + c;
    const float* eb = p_exp + c;
    const float* es = s_exp + c;
    float* o = in.student_dtype == DType::f32 ? chunk : dz + c;
    if constexpr (kDiv == Divergence::fkl) {
      const float ca = grad_kd * qa, cb = grad_kd * pb, cs = grad_ce * sc;
#pragma omp simd
      for (int64_t j = 0; j < n; ++j) o[j] = ca * ea[j] - cb * eb[j] + cs * squared<kSquarings>(es[j]);
    } else {
      const float* zc = z + c;
      const float* tc = t + c;
#pragma omp simd
      for (int64_t j = 0; j < n; ++j) {
        const float q = ea[j] * qa, s = squared<kSquarings>(es[j]) * sc;
        float gq;
        if constexpr (kDiv == Divergence::jsd) {
          gq = eb[j];
        } else {
          const float p = eb[j] * pb;
          const float log_q = (zc[j] - z_max) * inv_t - log_sa, log_p = (tc[j] - t_max) * inv_t - log_sb;
          float l;
          category_terms<kDiv>(p, q, log_p, log_q, beta, l, gq);
        }
        o[j] = grad_kd * (gq - q * gb) + grad_ce * s;
      }
    }
    // fp32 dz is written once and not read back here: each block goes from L1 scratch to memory
    // with streaming stores.
    if (in.student_dtype == DType::f32) stream_store(chunk, dz + c, n);
  }
  if (in.student_dtype == DType::f32) _mm_sfence();
  if (setup.with_ce && in.label >= 0) {
    dz[in.label] -= grad_ce;
    // CE = log Σ exp(z) - z_y = log Σ exp(z - z_max) - (z_y - z_max).
    out.ce = std::log(sum_z) - static_cast<double>(z[in.label] - z_max);
  }
  if (in.student_dtype == DType::bf16) float_row_to_bf16(dz, static_cast<bf16*>(in.dz), V);
  const double kd = static_cast<double>(setup.temperature) * setup.temperature * loss;
  out.kd = kd < 0 ? 0.0 : kd;
  if constexpr (kEntropy) out.entropy = static_cast<float>(entropy);
  if (setup.want_agree) out.agree = first_index_of(z, V, z_max) == first_index_of(t, V, t_max);
}

template <int kSquarings, bool kEntropy>
[[gnu::always_inline]] inline void dense_row_for(const RowSetup& setup, const RowInput& in, const float* z, const float* t,
                                                 RowScratch& scratch, RowOutput& out) {
  switch (setup.divergence) {
    case Divergence::fkl: return dense_row_impl<Divergence::fkl, kSquarings, kEntropy>(setup, in, z, t, scratch, out);
    case Divergence::rkl: return dense_row_impl<Divergence::rkl, kSquarings, kEntropy>(setup, in, z, t, scratch, out);
    case Divergence::jsd: return dense_row_impl<Divergence::jsd, kSquarings, kEntropy>(setup, in, z, t, scratch, out);
    case Divergence::tvd: return dense_row_impl<Divergence::tvd, kSquarings, kEntropy>(setup, in, z, t, scratch, out);
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
  const int squarings = !setup.with_ce ? 0 : setup.temperature == 2.0f ? 1 : setup.temperature == 4.0f ? 2 : 0;
  const bool entropy = setup.want_entropy;
  switch (squarings) {
    case 1: return entropy ? dense_row_for<1, true>(setup, in, z, t, scratch, out)
                           : dense_row_for<1, false>(setup, in, z, t, scratch, out);
    case 2: return entropy ? dense_row_for<2, true>(setup, in, z, t, scratch, out)
                           : dense_row_for<2, false>(setup, in, z, t, scratch, out);
    default: return entropy ? dense_row_for<0, true>(setup, in, z, t, scratch, out)
                            : dense_row_for<0, false>(setup, in, z, t, scratch, out);
  }
}

}  // namespace retort::kernels::cpu
