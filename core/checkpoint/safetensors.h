// The safetensors format (8-byte little-endian header length, JSON header with dtype, shape
// and data_offsets per tensor plus optional "__metadata__" strings, then the raw data): encode
// fp32 tensors, and parse F32/F16/BF16 files validating header, dtypes, shapes and offsets.
#pragma once
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

namespace retort::core {

// IEEE half (binary16) bits to float, exactly (subnormals, infinities and NaN payloads kept).
float f16_to_float(uint16_t bits);
// bfloat16 bits to float, exactly (the bits are the float's upper half).
float bf16_bits_to_float(uint16_t bits);

struct NamedTensor {
  std::string name;
  std::vector<int64_t> shape;
  std::span<const float> data;  // product(shape) elements
};

// The complete file image (header padded with spaces to a multiple of 8 bytes).
std::vector<uint8_t> encode_safetensors(const std::vector<NamedTensor>& tensors,
                                        const std::map<std::string, std::string>& metadata);

enum class SafetensorsDtype : uint8_t { f32, f16, bf16 };
const char* safetensors_dtype_name(SafetensorsDtype t);  // "F32", "F16", "BF16"

struct SafetensorsFile {
  struct Entry {
    std::vector<int64_t> shape;
    SafetensorsDtype dtype = SafetensorsDtype::f32;
    std::span<const uint8_t> raw;  // the tensor's bytes, inside `bytes`
    // F32 tensors whose data is 4-byte aligned: the values, inside `bytes`; empty otherwise
    // (use tensor_to_float, which reads every dtype).
    std::span<const float> data;
  };
  std::vector<uint8_t> bytes;
  std::map<std::string, Entry> tensors;
  std::map<std::string, std::string> metadata;
};

// Parses `bytes` (moved in) read from `what` (a file name for messages). Every tensor must be
// F32 and 4-byte aligned (so `data` is set). Input error on any violation (see below).
SafetensorsFile parse_safetensors(std::vector<uint8_t> bytes, const std::string& what);
// Parses a file of F32, F16 and BF16 tensors. Input errors naming `what` and the tensor: header
// length beyond the file, header not a JSON object, unknown dtype, negative dimension, element or
// byte count overflowing 64 bits, data_offsets not [begin, end] inside the data section, length
// not matching the shape, tensors overlapping, gaps between tensors or bytes after the last one.
SafetensorsFile parse_safetensors_any(std::vector<uint8_t> bytes, const std::string& what);
// The tensor's values as fp32 (exact for all three dtypes).
std::vector<float> tensor_to_float(const SafetensorsFile::Entry& entry);

}  // namespace retort::core
