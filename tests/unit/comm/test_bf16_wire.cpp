// The bf16 wire's conversion loops, portable and AVX512_BF16, against core/base/dtype.h's
// float_to_bf16 / bf16_to_float: every high half of the fp32 bit space with rounding-tie and
// edge low halves (zeros, denormals, infinities, NaNs, ties to even), odd lengths for the tails.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <vector>

#include "comm/mpi/bf16_wire.h"
#include "core/base/dtype.h"

using namespace retort;
using namespace retort::comm;

namespace {

float from_bits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}
uint32_t bits_of(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}
uint16_t reference_round(float f) { return float_to_bf16(f).bits; }
float reference_widen(uint16_t b) { return bf16_to_float(bf16{b}); }
bool is_nan16(uint16_t b) { return (b & 0x7fffu) > 0x7f80u; }

// fp32 inputs: every high half with low halves 0, 1, 0x7fff, 0x8000 (a tie), 0x8001, 0xffff and
// one pseudo-random; 7 · 65,536 values, then 5 more so no length is a multiple of a vector.
std::vector<float> edge_inputs() {
  std::vector<float> v;
  uint32_t state = 12345;
  for (uint32_t high = 0; high < 65536; ++high)
    for (uint32_t low : {0u, 1u, 0x7fffu, 0x8000u, 0x8001u, 0xffffu, 0x10000u}) {
      if (low == 0x10000u) {
        state = state * 1664525u + 1013904223u;
        low = state >> 16;
      }
      v.push_back(from_bits(high << 16 | low));
    }
  for (int i = 0; i < 5; ++i) v.push_back(static_cast<float>(i) * 0.37f);
  return v;
}

// The kernels this CPU can run: the portable ones always, the AVX512_BF16 ones where supported.
std::vector<const Bf16WireKernels*> runnable_kernels() {
  std::vector<const Bf16WireKernels*> k{&portable_bf16_wire()};
  if (avx512_bf16_wire()) k.push_back(avx512_bf16_wire());
  else WARN("this CPU has no AVX512_BF16: only the portable bf16 wire loops are tested here");
  return k;
}

}  // namespace

TEST_CASE("bf16 wire: rounding matches float_to_bf16 on every high half", "[comm][bf16_wire]") {
  const std::vector<float> in = edge_inputs();
  const int n = static_cast<int>(in.size());
  for (const Bf16WireKernels* k : runnable_kernels()) {
    INFO("kernels " << k->name);
    std::vector<uint16_t> out(in.size() + 1, 0xabcd);  // one sentinel past the end
    k->round(in.data(), out.data(), n);
    size_t mismatches = 0;
    for (int i = 0; i < n; ++i) mismatches += out[i] != reference_round(in[i]);
    CHECK(mismatches == 0);
    CHECK(out[in.size()] == 0xabcd);
  }
}

TEST_CASE("bf16 wire: fold and widen match the reference composition", "[comm][bf16_wire]") {
  const std::vector<float> own_in = edge_inputs();
  const int n = static_cast<int>(own_in.size());
  std::vector<uint16_t> partial_in(own_in.size());
  uint32_t state = 777;
  for (auto& p : partial_in) {  // every bf16 pattern is likely: denormals, infinities and NaNs too
    state = state * 1664525u + 1013904223u;
    p = static_cast<uint16_t>(state >> 16);
  }
  for (int ranks : {2, 3}) {
    const Average average(ranks);
    for (bool last : {false, true}) {
      for (const Bf16WireKernels* k : runnable_kernels()) {
        INFO("kernels " << k->name << ", S = " << ranks << (last ? ", last step" : ", middle step"));
        std::vector<float> own = own_in;
        std::vector<uint16_t> partial = partial_in;
        k->fold(own.data(), partial.data(), n, last ? &average : nullptr);
        size_t sum_mismatches = 0, own_mismatches = 0;
        for (int i = 0; i < n; ++i) {
          const uint16_t sum = reference_round(reference_widen(reference_round(own_in[i])) + reference_widen(partial_in[i]));
          // Both operands NaN: which payload an fp32 add keeps is the compiler's choice; NaN it stays.
          sum_mismatches += is_nan16(sum) ? !is_nan16(partial[i]) : partial[i] != sum;
          const float expect = last ? (average.power_of_two ? reference_widen(partial[i]) * average.inverse
                                                            : reference_widen(partial[i]) / average.divisor)
                                    : own_in[i];
          own_mismatches += std::isnan(expect) ? !std::isnan(own[i]) : bits_of(own[i]) != bits_of(expect);
        }
        CHECK(sum_mismatches == 0);
        CHECK(own_mismatches == 0);

        std::vector<float> widened(own_in.size() + 1, -7.0f);
        k->widen(partial_in.data(), widened.data(), n, average);
        size_t widen_mismatches = 0;
        for (int i = 0; i < n; ++i) {
          const float expect = average.power_of_two ? reference_widen(partial_in[i]) * average.inverse
                                                    : reference_widen(partial_in[i]) / average.divisor;
          widen_mismatches += std::isnan(expect) ? !std::isnan(widened[i]) : bits_of(widened[i]) != bits_of(expect);
        }
        CHECK(widen_mismatches == 0);
        CHECK(widened[own_in.size()] == -7.0f);
      }
    }
  }
}
