// Names of the element types and their parsing.
#include "core/base/dtype.h"

#include "core/base/error.h"

namespace retort {

const char* dtype_name(DType t) {
  switch (t) {
    case DType::f32: return "fp32";
    case DType::bf16: return "bf16";
    case DType::u32: return "u32";
    case DType::f64: return "fp64";
  }
  return "?";
}

DType parse_dtype(std::string_view name) {
  if (name == "fp32" || name == "f32" || name == "float32") return DType::f32;
  if (name == "bf16" || name == "bfloat16") return DType::bf16;
  if (name == "u32" || name == "uint32") return DType::u32;
  if (name == "fp64" || name == "f64" || name == "float64") return DType::f64;
  RETORT_INPUT_ERROR("unknown dtype '" + std::string(name) + "' (expected fp32, bf16, u32 or fp64)");
}

}  // namespace retort
