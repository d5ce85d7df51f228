// The bf16 gradient wire's three conversion loops (round a chunk for sending, fold a received
// partial sum into this rank's values, widen a finished chunk into the gradients), in a portable
// form and, where the CPU has AVX512_BF16, with vcvtne2ps2bf16: the same bits (denormal inputs,
// which that instruction flushes, go through the portable formula).
#pragma once
#include <cstdint>

namespace retort::comm {

// The division by S that ends the average: x * (1/S) when S is a power of two (rounds the same
// as x / S), else x / S.
struct Average {
  bool power_of_two;
  float inverse, divisor;
  explicit Average(int ranks)
      : power_of_two((ranks & (ranks - 1)) == 0),
        inverse(1.0f / static_cast<float>(ranks)),
        divisor(static_cast<float>(ranks)) {}
};

struct Bf16WireKernels {
  const char* name;
  // out[i] = bf16(in[i]): round to nearest even, a NaN stays a quiet NaN (core/base/dtype.h).
  void (*round)(const float* in, uint16_t* out, int n);
  // partial[i] = bf16(float(bf16(own[i])) + float(partial[i])), this rank's values rounded like
  // every wire value and the sum in fp32; with `average` (the last reduction) also
  // own[i] = float(partial[i]) / S.
  void (*fold)(float* own, uint16_t* partial, int n, const Average* average);
  // out[i] = float(in[i]) / S.
  void (*widen)(const uint16_t* in, float* out, int n, const Average& average);
};

// Branch-free loops the compiler vectorises; every x86-64 CPU.
const Bf16WireKernels& portable_bf16_wire();
// The AVX512_BF16 loops, or nullptr where this CPU (or this build) lacks them.
const Bf16WireKernels* avx512_bf16_wire();
// What the ring uses: the AVX512_BF16 loops where the CPU has them, else the portable ones.
const Bf16WireKernels& bf16_wire();

}  // namespace retort::comm
