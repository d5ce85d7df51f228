// A tiny GGUF writer for the tests (metadata of every type, tensors of any ggml type given as
// raw bytes, the alignment padding), so each reader path and each malformed case is a file
// the test makes; plus half-precision encoding and an independent float64 half decoder.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace retort::test {

class GgufWriter {
 public:
  uint32_t version = 3;
  uint64_t alignment = 32;  // padding used; write general.alignment with u32("general.alignment", n)

  void u8(const std::string& key, uint8_t v) { scalar(key, 0, &v, 1); }
  void i8(const std::string& key, int8_t v) { scalar(key, 1, &v, 1); }
  void u16(const std::string& key, uint16_t v) { scalar(key, 2, &v, 2); }
  void i16(const std::string& key, int16_t v) { scalar(key, 3, &v, 2); }
  void u32(const std::string& key, uint32_t v) { scalar(key, 4, &v, 4); }
  void i32(const std::string& key, int32_t v) { scalar(key, 5, &v, 4); }
  void f32(const std::string& key, float v) { scalar(key, 6, &v, 4); }
  void boolean(const std::string& key, bool v) {
    const uint8_t b = v;
    scalar(key, 7, &b, 1);
  }
  void u64(const std::string& key, uint64_t v) { scalar(key, 10, &v, 8); }
  void i64(const std::string& key, int64_t v) { scalar(key, 11, &v, 8); }
  void f64(const std::string& key, double v) { scalar(key, 12, &v, 8); }
  void str(const std::string& key, const std::string& v) {
    begin_kv(key, 8);
    put_string(kv_, v);
  }
  void string_array(const std::string& key, const std::vector<std::string>& v) {
    begin_kv(key, 9);
    put(kv_, uint32_t{8});
    put(kv_, uint64_t{v.size()});
    for (const auto& s : v) put_string(kv_, s);
  }
  void i32_array(const std::string& key, const std::vector<int32_t>& v) {
    begin_kv(key, 9);
    put(kv_, uint32_t{5});
    put(kv_, uint64_t{v.size()});
    for (int32_t x : v) put(kv_, x);
  }
  // A metadata entry written as given: key, value type id, then `value` bytes verbatim.
  void raw_kv(const std::string& key, uint32_t type, const std::vector<uint8_t>& value) {
    begin_kv(key, type);
    kv_.insert(kv_.end(), value.begin(), value.end());
  }

  // A tensor: dims innermost-first (GGUF order), data as stored. `offset` < 0: placed after the
  // previous tensor at the next aligned position; otherwise written as this offset.
  void tensor(const std::string& name, std::vector<uint64_t> dims, uint32_t type, std::vector<uint8_t> data,
              int64_t offset = -1) {
    tensors_.push_back({name, std::move(dims), type, std::move(data), offset});
  }

  std::vector<uint8_t> bytes() const {
    std::vector<uint8_t> out;
    put(out, uint32_t{0x46554747});
    put(out, version);
    put(out, uint64_t{tensors_.size()});
    put(out, n_kv_);
    out.insert(out.end(), kv_.begin(), kv_.end());
    std::vector<uint8_t> data;
    for (const Tensor& t : tensors_) {
      data.resize((data.size() + alignment - 1) / alignment * alignment);
      put_string(out, t.name);
      put(out, static_cast<uint32_t>(t.dims.size()));
      for (uint64_t d : t.dims) put(out, d);
      put(out, t.type);
      put(out, t.offset >= 0 ? static_cast<uint64_t>(t.offset) : uint64_t{data.size()});
      data.insert(data.end(), t.data.begin(), t.data.end());
    }
    out.resize((out.size() + alignment - 1) / alignment * alignment);
    out.insert(out.end(), data.begin(), data.end());
    return out;
  }

  void write(const std::filesystem::path& path) const { write_bytes(path, bytes()); }

  static void write_bytes(const std::filesystem::path& path, const std::vector<uint8_t>& b) {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
  }

  template <typename T>
  static void put(std::vector<uint8_t>& out, T v) {
    const auto* p = reinterpret_cast<const uint8_t*>(&v);
    out.insert(out.end(), p, p + sizeof(T));
  }
  static void put_string(std::vector<uint8_t>& out, const std::string& s) {
    put(out, uint64_t{s.size()});
    out.insert(out.end(), s.begin(), s.end());
  }

 private:
  struct Tensor {
    std::string name;
    std::vector<uint64_t> dims;
    uint32_t type;
    std::vector<uint8_t> data;
    int64_t offset;
  };
  void begin_kv(const std::string& key, uint32_t type) {
    put_string(kv_, key);
    put(kv_, type);
    ++n_kv_;
  }
  void scalar(const std::string& key, uint32_t type, const void* v, size_t n) {
    begin_kv(key, type);
    const auto* p = static_cast<const uint8_t*>(v);
    kv_.insert(kv_.end(), p, p + n);
  }
  std::vector<uint8_t> kv_;
  uint64_t n_kv_ = 0;
  std::vector<Tensor> tensors_;
};

// The half-precision value of `bits` by its definition, in float64 (independent of the reader).
inline double half_value(uint16_t bits) {
  const int sign = bits >> 15, exponent = (bits >> 10) & 0x1f, mantissa = bits & 0x3ff;
  double v;
  if (exponent == 0x1f) v = mantissa ? NAN : INFINITY;
  else if (exponent == 0) v = std::ldexp(mantissa / 1024.0, -14);
  else v = std::ldexp(1.0 + mantissa / 1024.0, exponent - 15);
  return sign ? -v : v;
}

// Nearest half to a float of normal half range (the tests use it for scales), round-to-nearest
// by search over the 2^15 positive encodings, so no encoder is shared with the code under test.
inline uint16_t half_bits_near(double x) {
  uint16_t best = 0;
  double best_err = INFINITY;
  for (uint32_t b = 0; b < 0x7c00; ++b) {
    const double err = std::abs(half_value(static_cast<uint16_t>(b)) - std::abs(x));
    if (err < best_err) best_err = err, best = static_cast<uint16_t>(b);
  }
  return x < 0 ? static_cast<uint16_t>(best | 0x8000) : best;
}

}  // namespace retort::test
