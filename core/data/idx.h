// Reader for IDX files (the MNIST format), gzip-compressed or raw: validates the magic, the
// element type (unsigned byte), the dimensions and that the file holds exactly that much data.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace retort::core {

struct IdxArray {
  std::vector<int64_t> dims;   // e.g. {60000, 28, 28}
  std::vector<uint8_t> data;   // row-major, product(dims) bytes
};

// Throws an input error naming the file on a missing, truncated, oversized or corrupt file.
// `expected_rank` (> 0) is the number of dimensions the caller needs.
IdxArray read_idx(const std::string& path, int expected_rank);

}  // namespace retort::core
