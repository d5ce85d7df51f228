// The bf16 wire's conversion loops: the portable ones (compiled for x86-64-v3 like the ring) and
// the AVX512_BF16 ones, 32 values per vcvtne2ps2bf16, with any block holding a denormal fp32
// value redone by the portable formula so both give the same bits for every input.
#include "comm/mpi/bf16_wire.h"

#include <cstring>

#if defined(__x86_64__)
// GCC 12's AVX-512 headers trip -Wmaybe-uninitialized on their own _mm512_undefined_* temporaries
// (GCC bug 105593, fixed in GCC 13); the warning points into the header, so it is silenced there.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
#endif

namespace retort::comm {
namespace {

// float_to_bf16 / bf16_to_float of core/base/dtype.h without the branch, so loops vectorise.
inline uint16_t to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  const uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
  const uint32_t quiet_nan = (u >> 16) | 0x0040u;
  return static_cast<uint16_t>((u & 0x7fffffffu) > 0x7f800000u ? quiet_nan : rounded);
}
inline float from_bf16(uint16_t bits) {
  const uint32_t u = static_cast<uint32_t>(bits) << 16;
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

void round_portable(const float* in, uint16_t* out, int n) {
  for (int i = 0; i < n; ++i) out[i] = to_bf16(in[i]);
}
void fold_portable(float* own, uint16_t* partial, int n, const Average* average) {
  if (!average) {
    for (int i = 0; i < n; ++i) partial[i] = to_bf16(from_bf16(to_bf16(own[i])) + from_bf16(partial[i]));
  } else if (average->power_of_two) {
    for (int i = 0; i < n; ++i) {
      const uint16_t sum = to_bf16(from_bf16(to_bf16(own[i])) + from_bf16(partial[i]));
      partial[i] = sum;
      own[i] = from_bf16(sum) * average->inverse;
    }
  } else {
    for (int i = 0; i < n; ++i) {
      const uint16_t sum = to_bf16(from_bf16(to_bf16(own[i])) + from_bf16(partial[i]));
      partial[i] = sum;
      own[i] = from_bf16(sum) / average->divisor;
    }
  }
}
void widen_portable(const uint16_t* in, float* out, int n, const Average& average) {
  if (average.power_of_two) {
    for (int i = 0; i < n; ++i) out[i] = from_bf16(in[i]) * average.inverse;
  } else {
    for (int i = 0; i < n; ++i) out[i] = from_bf16(in[i]) / average.divisor;
  }
}

#if defined(__x86_64__)
#define RETORT_AVX512_BF16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16")))

// 32 fp32 values (lo: 0–15, hi: 16–31) → 32 bf16. vcvtne2ps2bf16 rounds to nearest even and
// quiets NaNs as the portable formula does, but treats denormal inputs as zero: a block with
// one is rounded by the formula instead (fpclass 0x20: denormal of either sign).
RETORT_AVX512_BF16 inline __m512i round32(__m512 lo, __m512 hi) {
  const __mmask16 denormal = _mm512_fpclass_ps_mask(lo, 0x20) | _mm512_fpclass_ps_mask(hi, 0x20);
  if (__builtin_expect(denormal == 0, 1)) return reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(hi, lo));
  alignas(64) float values[32];
  alignas(64) uint16_t rounded[32];
  _mm512_store_ps(values, lo);
  _mm512_store_ps(values + 16, hi);
  for (int i = 0; i < 32; ++i) rounded[i] = to_bf16(values[i]);
  return _mm512_load_si512(rounded);
}
// bf16 values 0–15 / 16–31 of a 32-lane vector, widened to fp32.
RETORT_AVX512_BF16 inline __m512 widen_lo(__m512i v) {
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm512_castsi512_si256(v)), 16));
}
RETORT_AVX512_BF16 inline __m512 widen_hi(__m512i v) {
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm512_extracti64x4_epi64(v, 1)), 16));
}
RETORT_AVX512_BF16 inline __m512 divide16(__m512 x, const Average& a) {
  return a.power_of_two ? _mm512_mul_ps(x, _mm512_set1_ps(a.inverse)) : _mm512_div_ps(x, _mm512_set1_ps(a.divisor));
}

RETORT_AVX512_BF16 void round_avx512(const float* in, uint16_t* out, int n) {
  int i = 0;
  for (; i + 32 <= n; i += 32) _mm512_storeu_si512(out + i, round32(_mm512_loadu_ps(in + i), _mm512_loadu_ps(in + i + 16)));
  round_portable(in + i, out + i, n - i);
}
RETORT_AVX512_BF16 void fold_avx512(float* own, uint16_t* partial, int n, const Average* average) {
  int i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m512i mine = round32(_mm512_loadu_ps(own + i), _mm512_loadu_ps(own + i + 16));
    const __m512i incoming = _mm512_loadu_si512(partial + i);
    const __m512i sum = round32(_mm512_add_ps(widen_lo(mine), widen_lo(incoming)),
                                _mm512_add_ps(widen_hi(mine), widen_hi(incoming)));
    _mm512_storeu_si512(partial + i, sum);
    if (average) {
      _mm512_storeu_ps(own + i, divide16(widen_lo(sum), *average));
      _mm512_storeu_ps(own + i + 16, divide16(widen_hi(sum), *average));
    }
  }
  fold_portable(own + i, partial + i, n - i, average);
}
RETORT_AVX512_BF16 void widen_avx512(const uint16_t* in, float* out, int n, const Average& average) {
  int i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256i bits = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(in + i));
    _mm512_storeu_ps(out + i, divide16(_mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(bits), 16)), average));
  }
  widen_portable(in + i, out + i, n - i, average);
}
#endif

}  // namespace

const Bf16WireKernels& portable_bf16_wire() {
  static const Bf16WireKernels kernels{"portable", round_portable, fold_portable, widen_portable};
  return kernels;
}

const Bf16WireKernels* avx512_bf16_wire() {
#if defined(__x86_64__)
  static const Bf16WireKernels kernels{"avx512_bf16", round_avx512, fold_avx512, widen_avx512};
  static const bool supported = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                                __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
                                __builtin_cpu_supports("avx512bf16");
  return supported ? &kernels : nullptr;
#else
  return nullptr;
#endif
}

const Bf16WireKernels& bf16_wire() {
  static const Bf16WireKernels& chosen = avx512_bf16_wire() ? *avx512_bf16_wire() : portable_bf16_wire();
  return chosen;
}

}  // namespace retort::comm
