// Branch-free float exp/log that GCC vectorises (AVX2) inside `omp simd` loops, bf16 row
// conversions, and the per-category divergence terms shared by the dense and top-k CPU paths.
#pragma once
#include <bit>
#include <cmath>
#include <cstdint>

#include "core/base/dtype.h"
#include "kernels/kd_loss.h"

namespace retort::kernels::cpu {

// exp(x) for x ≤ 88 (all callers pass x - max ≤ 0): Cody-Waite reduction to |r| ≤ ln2/2, the
// Cephes degree-6 polynomial, then 2^n via the exponent bits. ≤ 2 ulp; exp(x < -87.33) = 0
// (the denormal range is flushed) and exp(-inf) = 0. The flush is an integer and-mask on the
// float bits (for x ≤ 0, x ≥ lo ⇔ bits(x) ≤ bits(lo) as unsigned; below lo whatever the
// arithmetic gave is masked away, so x needs no clamp): under the default -ftrapping-math GCC
// will not if-convert float selects, integer ones vectorise.
[[gnu::always_inline]] inline float vexp(float x) {
  constexpr uint32_t lo_bits = 0xc2aeac4fu;  // -87.33654f
  const uint32_t keep = 0u - static_cast<uint32_t>(std::bit_cast<uint32_t>(x) <= lo_bits);
  // Round to nearest by the 1.5·2^23 trick (floorf would need -fno-trapping-math to vectorise):
  // the sum's low mantissa bits hold n itself, so 2^n is built from them without a conversion.
  const float shifted = x * 1.44269504088896341f + 12582912.0f;
  const float n = shifted - 12582912.0f;
  float r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float y = p * r * r + r + 1.0f;
  // y·2^n as an integer add to y's exponent field (no multiply): bits(shifted) = 0x4B400000 + n,
  // and 0x4B400000 << 23 vanishes mod 2^32, so bits(shifted) << 23 = n·2^23. Exact, and equal to
  // the product, because y·2^n is normal where it is kept: n ≥ -125 with y > 0.7, or n = -126
  // only for x within ln2/2 above lo ≈ -126·ln2, where r ≥ 0 and y ≥ 1.
  return std::bit_cast<float>((std::bit_cast<uint32_t>(y) + (std::bit_cast<uint32_t>(shifted) << 23)) & keep);
}

// 2^x for x ≤ 0 (the dense row passes x = (v - block max)·log2(e)/T): n = round(x) by the
// 1.5·2^23 trick, f = x - n in [-½, ½] (exact), 2^f by a degree-6 polynomial fitted for relative
// error on [-½, ½] (2e-9 before rounding), then 2^n added to the exponent field as in vexp.
// ≤ 2 ulp of 2^x (cpu_exp_test); results below 2^-126 (x < -126), -inf and NaNs with the sign
// bit set give 0. Nine float operations against vexp's twelve (no Cody-Waite reduction).
[[gnu::always_inline]] inline float vexp2(float x) {
  constexpr uint32_t lo_bits = 0xc2fc0000u;  // -126.0f
  const uint32_t keep = 0u - static_cast<uint32_t>(std::bit_cast<uint32_t>(x) <= lo_bits);
  const float shifted = x + 12582912.0f;
  const float f = x - (shifted - 12582912.0f);
  float p = 1.5353360504e-4f;
  p = p * f + 1.3398875016e-3f;
  p = p * f + 9.6184369177e-3f;
  p = p * f + 5.5503323674e-2f;
  p = p * f + 2.4022647738e-1f;
  p = p * f + 6.9314718246e-1f;
  p = p * f + 1.0f;
  // Kept results are normal: n ≥ -125 with p ≥ 2^-½, or n = -126 only for x in [-126, -125.5],
  // where f ≥ 0 and p ≥ 1 (p(0) = 1 exactly, p increasing).
  return std::bit_cast<float>((std::bit_cast<uint32_t>(p) + (std::bit_cast<uint32_t>(shifted) << 23)) & keep);
}

// log(x) for normal positive x (smaller x is clamped to FLT_MIN): x = m·2^e with m in
// [√½, √2), then log m = 2 atanh((m-1)/(m+1)) by its odd series to s^9. ≤ 2 ulp. The range
// shift is done on the bits (halving m = exponent - 1), so the function is branch-free.
[[gnu::always_inline]] inline float vlog(float x) {
  const uint32_t u0 = std::bit_cast<uint32_t>(x), min_normal = 0x00800000u;
  const uint32_t u = u0 < min_normal ? min_normal : u0;
  const uint32_t mant = (u & 0x007fffffu) | 0x3f800000u;   // m in [1, 2)
  const uint32_t upper = mant > 0x3fb504f3u ? 1u : 0u;      // m > √2
  const float m = std::bit_cast<float>(mant - (upper << 23));
  const float e = static_cast<float>(static_cast<int32_t>(u >> 23) - 127 + static_cast<int32_t>(upper));
  const float s = (m - 1.0f) / (m + 1.0f), s2 = s * s;
  const float series = s2 * (0.333333333f + s2 * (0.2f + s2 * (0.142857143f + s2 * 0.111111111f)));
  return e * 0.693147182f + (2.0f * s + 2.0f * s * series);
}
[[gnu::always_inline]] inline double vlog(double x) { return std::log(x); }

[[gnu::always_inline]] inline float bf16_bits_to_float(uint16_t b) { return std::bit_cast<float>(static_cast<uint32_t>(b) << 16); }
// Round to nearest even, NaN kept quiet NaN (the rule of retort::float_to_bf16), branch-free.
[[gnu::always_inline]] inline uint16_t float_to_bf16_bits(float f) {
  const uint32_t u = std::bit_cast<uint32_t>(f);
  const bool nan = (u & 0x7fffffffu) > 0x7f800000u;
  const uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
  return static_cast<uint16_t>(nan ? ((u >> 16) | 0x0040u) : rounded);
}

inline void bf16_row_to_float(const bf16* in, float* out, int64_t n) {
  const uint16_t* bits = reinterpret_cast<const uint16_t*>(in);
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) out[i] = bf16_bits_to_float(bits[i]);
}
inline void float_row_to_bf16(const float* in, bf16* out, int64_t n) {
  uint16_t* bits = reinterpret_cast<uint16_t*>(out);
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) bits[i] = float_to_bf16_bits(in[i]);
}

// v where keep, else +0 (also when v is NaN, e.g. 0·inf): an and-mask on the bits, which GCC
// vectorises; the double overload (scalar top-k path) is a plain select.
[[gnu::always_inline]] inline float keep_if(bool keep, float v) {
  return std::bit_cast<float>(std::bit_cast<uint32_t>(v) & (0u - static_cast<uint32_t>(keep)));
}
[[gnu::always_inline]] inline double keep_if(bool keep, double v) { return keep ? v : 0.0; }

// One category's contribution to D(p, q) and its q·∂D/∂q ("gq"), given the probabilities and
// their logs. Zero-probability sides contribute 0 (0·log 0 := 0). F is float or double.
template <Divergence kDiv, typename F>
[[gnu::always_inline]] inline void category_terms(F p, F q, F logp, F logq, F beta, F& loss, F& gq) {
  if constexpr (kDiv == Divergence::fkl) {
    loss = keep_if(p > F(0), p * (logp - logq));
    gq = -p;
  } else if constexpr (kDiv == Divergence::rkl) {
    loss = keep_if(q > F(0), q * (logq - logp));
    gq = loss;
  } else if constexpr (kDiv == Divergence::jsd) {
    const F logm = vlog(beta * p + (F(1) - beta) * q);  // m = 0 only when p = q = 0: both terms drop
    const F q_term = keep_if(q > F(0), q * (logq - logm));
    const F p_term = keep_if(p > F(0), p * (logp - logm));
    loss = beta * p_term + (F(1) - beta) * q_term;
    gq = (F(1) - beta) * q_term;
  } else {
    // sign(q - p), with differences within rounding noise (2^-20 relative) taken as a tie, so
    // equal distributions computed in different summation orders get the zero subgradient.
    const F d = q - p, ad = std::fabs(d);
    const F tie = F(9.5367431640625e-07) * (p + q);
    loss = F(0.5) * ad;
    gq = keep_if(ad > tie, F(0.5) * std::copysign(q, d));
  }
}

// jsd with β = 0 or 1 is fkl or rkl (the GKD convention); everything else keeps its divergence.
inline Divergence effective_divergence(const KdLossParams& params) {
  if (params.divergence == Divergence::jsd && params.beta == 0.0f) return Divergence::fkl;
  if (params.divergence == Divergence::jsd && params.beta == 1.0f) return Divergence::rkl;
  return params.divergence;
}

// ---- row passes (float rows, contiguous) -------------------------------------------------------

// Largest element (NaN-ignoring) and the number of NaN/+inf elements (counted in 32-bit lanes,
// cheaper than 64-bit ones, per chunk of 2^16 elements).
inline float row_max(const float* x, int64_t n, int64_t& nonfinite) {
  float m = -INFINITY;
  for (int64_t c = 0; c < n; c += 65536) {
    const int64_t end = c + 65536 < n ? c + 65536 : n;
    int32_t bad = 0;
#pragma omp simd reduction(max : m) reduction(+ : bad)
    for (int64_t i = c; i < end; ++i) {
      const float v = x[i];
      m = v > m ? v : m;
      bad += (v != v) | (v > 3.40282347e38f);
    }
    nonfinite += bad;
  }
  return m;
}

// Sums run in fp32 vector lanes over chunks of kSumChunk elements (a short dependency chain:
// one vector add per 8 elements) and the chunk sums are added in double.
constexpr int64_t kSumChunk = 256;

// out[i] = exp(x[i]·scale - shift); returns Σ out.
inline double exp_row(const float* x, float scale, float shift, float* out, int64_t n) {
  double total = 0;
  for (int64_t c = 0; c < n; c += kSumChunk) {
    const int64_t end = c + kSumChunk < n ? c + kSumChunk : n;
    float s = 0;
#pragma omp simd reduction(+ : s)
    for (int64_t i = c; i < end; ++i) {
      const float e = vexp(x[i] * scale - shift);
      out[i] = e;
      s += e;
    }
    total += s;
  }
  return total;
}

// out[i] = e[i]^(2^squarings) (squarings 1 or 2: exp(z - z_max) from exp((z - z_max)/T) at
// T = 2 or 4, see kd_loss_dense.cpp); returns Σ out, summed like exp_row.
inline double squares_row(const float* e, int squarings, float* out, int64_t n) {
  double total = 0;
  for (int64_t c = 0; c < n; c += kSumChunk) {
    const int64_t end = c + kSumChunk < n ? c + kSumChunk : n;
    float s = 0;
    if (squarings == 1) {
#pragma omp simd reduction(+ : s)
      for (int64_t i = c; i < end; ++i) {
        out[i] = e[i] * e[i];
        s += out[i];
      }
    } else {
#pragma omp simd reduction(+ : s)
      for (int64_t i = c; i < end; ++i) {
        const float sq = e[i] * e[i];
        out[i] = sq * sq;
        s += out[i];
      }
    }
    total += s;
  }
  return total;
}

// First index holding the value m (the argmax when m is the row maximum); 0 when absent.
inline int64_t first_index_of(const float* x, int64_t n, float m) {
  for (int64_t i = 0; i < n; ++i)
    if (x[i] == m) return i;
  return 0;
}

}  // namespace retort::kernels::cpu
