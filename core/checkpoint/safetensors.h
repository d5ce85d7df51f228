// The safetensors format (8-byte little-endian header length, JSON header with dtype, shape
// and data_offsets per tensor plus optional "__metadata__" strings, then the raw data): encode
// fp32 tensors, and parse a file validating header, dtypes, shapes and offsets.
#pragma once
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

namespace retort::core {

struct NamedTensor {
  std::string name;
  std::vector<int64_t> shape;
  std::span<const float> data;  // product(shape) elements
};

// The complete file image (header padded with spaces to a multiple of 8 bytes).
std::vector<uint8_t> encode_safetensors(const std::vector<NamedTensor>& tensors,
                                        const std::map<std::string, std::string>& metadata);

struct SafetensorsFile {
  struct Entry {
    std::vector<int64_t> shape;
    std::span<const float> data;  // points into `bytes`
  };
  std::vector<uint8_t> bytes;
  std::map<std::string, Entry> tensors;
  std::map<std::string, std::string> metadata;
};

// Parses `bytes` (moved in) read from `what` (a file name for messages). Every tensor must be
// F32 with offsets inside the data section matching its shape. Input error on any violation.
SafetensorsFile parse_safetensors(std::vector<uint8_t> bytes, const std::string& what);

}  // namespace retort::core
