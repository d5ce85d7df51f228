// Fixed-width bit packing for the LM targets cache: unsigned fields of 1..32 bits appended
// least-significant bit first into bytes, and a reader that refuses to run past its bytes.
#pragma once
#include <bit>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/base/error.h"

namespace retort::core {

// Bits that hold every value in [0, values): ceil(log2 values), at least 1.
inline int bits_for(uint64_t values) { return values <= 2 ? 1 : std::bit_width(values - 1); }

class BitWriter {
 public:
  explicit BitWriter(std::vector<uint8_t>& out) : out_(out) {}
  // Appends the low `bits` bits of `value` (1 ≤ bits ≤ 32, value < 2^bits).
  void put(uint32_t value, int bits) {
    acc_ |= static_cast<uint64_t>(value) << fill_;
    fill_ += bits;
    while (fill_ >= 8) out_.push_back(static_cast<uint8_t>(acc_)), acc_ >>= 8, fill_ -= 8;
  }
  // Writes the last partial byte (zero-padded); call once, after the last put.
  void flush() {
    if (fill_ > 0) out_.push_back(static_cast<uint8_t>(acc_));
    acc_ = 0, fill_ = 0;
  }

 private:
  std::vector<uint8_t>& out_;
  uint64_t acc_ = 0;
  int fill_ = 0;
};

class BitReader {
 public:
  // `what` names the data in the input error thrown when a read runs past the end.
  BitReader(std::span<const uint8_t> bytes, std::string what) : bytes_(bytes), what_(std::move(what)) {}
  uint32_t get(int bits) {
    while (fill_ < bits) {
      if (next_ >= bytes_.size()) RETORT_INPUT_ERROR(what_ + ": packed fields run past the end of their section");
      acc_ |= static_cast<uint64_t>(bytes_[next_++]) << fill_;
      fill_ += 8;
    }
    const auto v = static_cast<uint32_t>(acc_ & ((uint64_t{1} << bits) - 1));
    acc_ >>= bits, fill_ -= bits;
    return v;
  }
  // Bytes consumed so far (the partial last byte counts).
  size_t bytes_used() const { return next_; }

 private:
  std::span<const uint8_t> bytes_;
  std::string what_;
  uint64_t acc_ = 0;
  int fill_ = 0;
  size_t next_ = 0;
};

}  // namespace retort::core
