// ggml tensor types: names, block sizes and bytes per block (ggml-common.h), and dequantization
// of the block formats Retort reads (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1: 32 weights per block, an fp16
// scale d [and min m], x = d * q [+ m] in fp32 exactly as ggml and gguf-py compute it).
#include <fmt/format.h>

#include <cstring>

#include "core/base/error.h"
#include "core/checkpoint/gguf.h"
#include "core/checkpoint/safetensors.h"

namespace retort::core {
namespace {

struct TypeTraits {
  const char* name = nullptr;  // nullptr: ggml defines no type with this id
  uint64_t block = 0;          // elements per block
  uint64_t bytes = 0;          // bytes per block
};

// Indexed by ggml type id; ids 4 and 5 (Q4_2, Q4_3) were removed from ggml.
constexpr TypeTraits kTypes[] = {
    {"F32", 1, 4},        {"F16", 1, 2},        {"Q4_0", 32, 18},     {"Q4_1", 32, 20},
    {},                   {},                   {"Q5_0", 32, 22},     {"Q5_1", 32, 24},
    {"Q8_0", 32, 34},     {"Q8_1", 32, 36},     {"Q2_K", 256, 84},    {"Q3_K", 256, 110},
    {"Q4_K", 256, 144},   {"Q5_K", 256, 176},   {"Q6_K", 256, 210},   {"Q8_K", 256, 292},
    {"IQ2_XXS", 256, 66}, {"IQ2_XS", 256, 74},  {"IQ3_XXS", 256, 98}, {"IQ1_S", 256, 50},
    {"IQ4_NL", 32, 18},   {"IQ3_S", 256, 110},  {"IQ2_S", 256, 82},   {"IQ4_XS", 256, 136},
    {"I8", 1, 1},         {"I16", 1, 2},        {"I32", 1, 4},        {"I64", 1, 8},
    {"F64", 1, 8},        {"IQ1_M", 256, 56},   {"BF16", 1, 2},       {"Q4_0_4_4", 32, 18},
    {"Q4_0_4_8", 32, 18}, {"Q4_0_8_8", 32, 18}, {"TQ1_0", 256, 54},   {"TQ2_0", 256, 66},
};
constexpr uint64_t kQK = 32;  // weights per block of the Q4/Q5/Q8 formats

const TypeTraits* traits(GgmlType t) {
  if (t >= std::size(kTypes) || kTypes[t].name == nullptr) return nullptr;
  return &kTypes[t];
}

uint16_t load_u16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
uint32_t load_u32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) |
         (static_cast<uint32_t>(p[2]) << 16) | (static_cast<uint32_t>(p[3]) << 24);
}

// Block layouts, 32 weights each; weight j < 16 is the low nibble of qs[j], weight j + 16 its
// high nibble; Q5 adds bit j of the 32-bit qh as the fifth bit of weight j.
//   Q8_0 [d:f16][qs:int8 x32]             x = q * d
//   Q4_0 [d:f16][qs:16]                   x = (nibble - 8) * d
//   Q4_1 [d:f16][m:f16][qs:16]            x = nibble * d + m
//   Q5_0 [d:f16][qh:u32][qs:16]           x = (5-bit q - 16) * d
//   Q5_1 [d:f16][m:f16][qh:u32][qs:16]    x = 5-bit q * d + m
void dequantize_blocks(GgmlType type, const uint8_t* in, float* out, uint64_t blocks) {
  const uint64_t size = kTypes[type].bytes;
  for (uint64_t b = 0; b < blocks; ++b, in += size, out += kQK) {
    const float d = f16_to_float(load_u16(in));
    switch (type) {
      case ggml::Q8_0:
        for (uint64_t j = 0; j < kQK; ++j) out[j] = static_cast<float>(static_cast<int8_t>(in[2 + j])) * d;
        break;
      case ggml::Q4_0:
        for (uint64_t j = 0; j < kQK / 2; ++j) {
          out[j] = d * static_cast<float>((in[2 + j] & 0x0F) - 8);
          out[j + kQK / 2] = d * static_cast<float>((in[2 + j] >> 4) - 8);
        }
        break;
      case ggml::Q4_1: {
        const float m = f16_to_float(load_u16(in + 2));
        for (uint64_t j = 0; j < kQK / 2; ++j) {
          out[j] = d * static_cast<float>(in[4 + j] & 0x0F) + m;
          out[j + kQK / 2] = d * static_cast<float>(in[4 + j] >> 4) + m;
        }
        break;
      }
      case ggml::Q5_0: {
        const uint32_t qh = load_u32(in + 2);
        for (uint64_t j = 0; j < kQK / 2; ++j) {
          const int lo = (in[6 + j] & 0x0F) | static_cast<int>(((qh >> j) & 1u) << 4);
          const int hi = (in[6 + j] >> 4) | static_cast<int>(((qh >> (j + 16)) & 1u) << 4);
          out[j] = d * static_cast<float>(lo - 16);
          out[j + kQK / 2] = d * static_cast<float>(hi - 16);
        }
        break;
      }
      case ggml::Q5_1: {
        const float m = f16_to_float(load_u16(in + 2));
        const uint32_t qh = load_u32(in + 4);
        for (uint64_t j = 0; j < kQK / 2; ++j) {
          const int lo = (in[8 + j] & 0x0F) | static_cast<int>(((qh >> j) & 1u) << 4);
          const int hi = (in[8 + j] >> 4) | static_cast<int>(((qh >> (j + 16)) & 1u) << 4);
          out[j] = d * static_cast<float>(lo) + m;
          out[j + kQK / 2] = d * static_cast<float>(hi) + m;
        }
        break;
      }
      default:
        RETORT_CHECK(false, "dequantize_blocks called for a type without blocks");
    }
  }
}

}  // namespace

std::string ggml_type_name(GgmlType t) {
  const TypeTraits* tr = traits(t);
  return tr ? std::string(tr->name) : fmt::format("type {}", t);
}

uint64_t ggml_storage_bytes(GgmlType type, uint64_t count, const std::string& what) {
  const TypeTraits* tr = traits(type);
  if (!tr) RETORT_INPUT_ERROR(fmt::format("{}: unknown ggml tensor type {}", what, type));
  if (count % tr->block != 0)
    RETORT_INPUT_ERROR(fmt::format("{}: {} elements are not a whole number of {} blocks of {}", what,
                                   count, tr->name, tr->block));
  uint64_t bytes = 0;
  if (__builtin_mul_overflow(count / tr->block, tr->bytes, &bytes))
    RETORT_INPUT_ERROR(fmt::format("{}: size of {} {} elements overflows 64 bits", what, count, tr->name));
  return bytes;
}

bool ggml_dequantizable(GgmlType type) {
  switch (type) {
    case ggml::F32: case ggml::F16: case ggml::BF16: case ggml::Q8_0:
    case ggml::Q4_0: case ggml::Q4_1: case ggml::Q5_0: case ggml::Q5_1:
      return true;
    default:
      return false;
  }
}

void dequantize_ggml(GgmlType type, std::span<const uint8_t> bytes, std::span<float> out,
                     const std::string& what) {
  if (!ggml_dequantizable(type))
    RETORT_INPUT_ERROR(fmt::format("{}: ggml type {} cannot be dequantized (Retort reads F32, F16, "
                                   "BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1)",
                                   what, ggml_type_name(type)));
  const uint64_t n = out.size();
  RETORT_CHECK(bytes.size() == ggml_storage_bytes(type, n, what), what + ": storage size");
  const uint8_t* in = bytes.data();
  switch (type) {
    case ggml::F32:
      if (n > 0) std::memcpy(out.data(), in, n * 4);  // an empty tensor has no data pointer
      return;
    case ggml::F16:
      for (uint64_t k = 0; k < n; ++k) out[k] = f16_to_float(load_u16(in + 2 * k));
      return;
    case ggml::BF16:
      for (uint64_t k = 0; k < n; ++k) out[k] = bf16_bits_to_float(load_u16(in + 2 * k));
      return;
    default:  // the block formats
      dequantize_blocks(type, in, out.data(), n / kQK);
      return;
  }
}

}  // namespace retort::core
