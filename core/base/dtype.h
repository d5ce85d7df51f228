// Element types that cross the project (fp32, bf16, uint32, fp64) and the bf16 conversions.
// bf16 conversion rounds to nearest even and keeps NaN a NaN, like CUDA's __float2bfloat16.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace retort {

enum class DType : uint8_t { f32 = 0, bf16 = 1, u32 = 2, f64 = 3 };

constexpr size_t dtype_size(DType t) {
  switch (t) {
    case DType::f32: return 4;
    case DType::bf16: return 2;
    case DType::u32: return 4;
    case DType::f64: return 8;
  }
  return 0;
}
const char* dtype_name(DType t);              // "fp32", "bf16", "u32", "fp64"
DType parse_dtype(std::string_view name);     // inverse of dtype_name; throws an input error

// Brain float16 as stored bits; arithmetic goes through float.
struct bf16 {
  uint16_t bits = 0;
};

inline float bf16_to_float(bf16 v) {
  uint32_t u = static_cast<uint32_t>(v.bits) << 16;
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

inline bf16 float_to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  if ((u & 0x7f800000u) == 0x7f800000u && (u & 0x007fffffu)) {  // NaN: keep it quiet NaN
    return bf16{static_cast<uint16_t>((u >> 16) | 0x0040u)};
  }
  const uint32_t rounding_bias = 0x7fffu + ((u >> 16) & 1u);
  return bf16{static_cast<uint16_t>((u + rounding_bias) >> 16)};
}

}  // namespace retort
