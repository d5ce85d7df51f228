// Reader of llama.cpp's GGUF files (versions 2 and 3, little-endian): header, typed metadata,
// tensor infos and data (the file is mmap'ed), every size checked against the file before
// anything is allocated, and dequantization of F32/F16/BF16/Q8_0/Q4_0/Q4_1/Q5_0/Q5_1 to fp32.
#pragma once
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

namespace retort::core {

// GGUF metadata value types (the numbers are the file's).
enum class GgufType : uint32_t {
  u8 = 0, i8 = 1, u16 = 2, i16 = 3, u32 = 4, i32 = 5, f32 = 6, boolean = 7, string = 8,
  array = 9, u64 = 10, i64 = 11, f64 = 12,
};
const char* gguf_type_name(GgufType t);  // "u8" ... "array"

// One metadata value. Which field holds it follows `type`: unsigned integers and bool in `u`,
// signed integers in `i`, f32/f64 in `f`, strings in `s`, arrays in `items` (all of
// `elem_type`; nested arrays are arrays of arrays).
struct GgufValue {
  GgufType type = GgufType::u8;
  GgufType elem_type = GgufType::u8;  // element type when type == array
  uint64_t u = 0;
  int64_t i = 0;
  double f = 0;
  std::string s;
  std::vector<GgufValue> items;
};

// ggml tensor types; `ggml_type_name` names every type ggml defines (also those this reader
// cannot dequantize); an id ggml does not define is refused when the file is opened.
using GgmlType = uint32_t;
namespace ggml {
constexpr GgmlType F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3, Q5_0 = 6, Q5_1 = 7, Q8_0 = 8, BF16 = 30;
}
std::string ggml_type_name(GgmlType t);  // "Q4_1", or "type 99" when ggml defines no such type

struct GgufTensorInfo {
  std::string name;
  GgmlType type = ggml::F32;
  // GGUF order: innermost (contiguous) dimension first, i.e. ggml's ne[0], ne[1], ...
  std::vector<uint64_t> dims;
  uint64_t offset = 0;      // from the start of the data section (a multiple of the alignment)
  uint64_t n_elements = 0;  // product of dims
  uint64_t n_bytes = 0;     // of the stored (possibly quantized) data
  // Row-major shape, outermost first (numpy / PyTorch / HF order): dims reversed. A GGUF
  // matrix with dims [in, out] is an HF weight of shape [out, in] with the same memory layout.
  std::vector<int64_t> shape() const;
};

class GgufFile {
 public:
  const std::string& path() const { return path_; }
  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }

  // Metadata in file order, and lookup by key (nullptr when absent).
  const std::vector<std::pair<std::string, GgufValue>>& metadata() const { return metadata_; }
  const GgufValue* find(const std::string& key) const;
  // Typed getters: input error naming the file and the key when the key is missing or its value
  // has another type. get_u64 takes any integer type holding a non-negative value; get_i64 any
  // integer type that fits; get_f64 f32 or f64; get_i32_array any integer array whose values
  // fit int32.
  uint64_t get_u64(const std::string& key) const;
  int64_t get_i64(const std::string& key) const;
  double get_f64(const std::string& key) const;
  bool get_bool(const std::string& key) const;
  const std::string& get_string(const std::string& key) const;
  std::vector<std::string> get_string_array(const std::string& key) const;
  std::vector<int32_t> get_i32_array(const std::string& key) const;

  // Tensor infos in file order, and lookup by name (nullptr when absent).
  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }
  const GgufTensorInfo* find_tensor(const std::string& name) const;
  // The stored bytes of a tensor (inside the mapping; valid while this file lives).
  std::span<const uint8_t> tensor_bytes(const GgufTensorInfo& t) const;
  // The tensor as fp32, in memory order (dims[0] fastest). F32, F16, BF16 exactly; Q8_0, Q4_0,
  // Q4_1, Q5_0, Q5_1 as ggml does (scale * q [+ min] in fp32). Any other type: input error
  // naming the file, the tensor and the type.
  std::vector<float> dequantize(const GgufTensorInfo& t) const;

  struct Mapping;  // the mmap'ed file (opaque)

 private:
  friend GgufFile open_gguf(const std::string& path);
  std::string path_;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  std::shared_ptr<const Mapping> mapping_;
  uint64_t data_begin_ = 0;  // file offset of the data section
  std::vector<std::pair<std::string, GgufValue>> metadata_;
  std::unordered_map<std::string, size_t> metadata_index_;
  std::vector<GgufTensorInfo> tensors_;
  std::unordered_map<std::string, size_t> tensor_index_;
};

// Opens and validates a GGUF file: magic, version (2 or 3), every string/array/count within the
// file, metadata types known, unique keys and tensor names, ggml types known, tensor sizes that
// fit 64 bits, data offsets aligned and inside the file without overlap. Input error naming the
// file (and key or tensor) on any violation.
GgufFile open_gguf(const std::string& path);

// Whether dequantize_ggml reads this type.
bool ggml_dequantizable(GgmlType type);
// Dequantizes `count` elements of type `type` from `bytes` (which must hold exactly their
// storage) into `out`; what GgufFile::dequantize runs. An unsupported type is an input error
// naming `what` and the type (checked before the sizes).
void dequantize_ggml(GgmlType type, std::span<const uint8_t> bytes, std::span<float> out,
                     const std::string& what);
// Bytes of `count` elements of `type`; input error naming `what` when count is not a whole
// number of blocks or the size overflows 64 bits.
uint64_t ggml_storage_bytes(GgmlType type, uint64_t count, const std::string& what);

}  // namespace retort::core
