// GGUF parsing over an mmap'ed file: a bounds-checked cursor reads header, metadata and tensor
// infos; every count is checked against the bytes left before anything is allocated.
#include "core/checkpoint/gguf.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "core/base/error.h"

namespace retort::core {

struct GgufFile::Mapping {
  const uint8_t* data = nullptr;
  uint64_t size = 0;
  Mapping() = default;
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  ~Mapping() {
    if (data) ::munmap(const_cast<uint8_t*>(data), size);
  }
};

namespace {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" read as a little-endian uint32
constexpr int kMaxArrayDepth = 8;        // nested arrays deeper than this are refused

std::shared_ptr<const GgufFile::Mapping> map_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) RETORT_INPUT_ERROR(fmt::format("{}: cannot open ({})", path, std::strerror(errno)));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    RETORT_INPUT_ERROR(path + ": not a regular file");
  }
  auto m = std::make_shared<GgufFile::Mapping>();
  m->size = static_cast<uint64_t>(st.st_size);
  if (m->size > 0) {
    void* p = ::mmap(nullptr, m->size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      ::close(fd);
      RETORT_INPUT_ERROR(fmt::format("{}: cannot mmap ({})", path, std::strerror(errno)));
    }
    m->data = static_cast<const uint8_t*>(p);
  }
  ::close(fd);
  return m;
}

// Reads little-endian values from [data, data + size); a read past the end is an input error
// "<file>: truncated ... while reading <context>".
class Cursor {
 public:
  Cursor(const uint8_t* data, uint64_t size, const std::string& path) : data_(data), size_(size), path_(path) {}
  uint64_t pos() const { return pos_; }
  uint64_t left() const { return size_ - pos_; }
  void need(uint64_t n, const std::string& context) const {
    if (n > left())
      RETORT_INPUT_ERROR(fmt::format("{}: truncated file: {} needs {} bytes at offset {}, {} left", path_,
                                     context, n, pos_, left()));
  }
  template <typename T>
  T read(const std::string& context) {
    need(sizeof(T), context);
    T v;
    std::memcpy(&v, data_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  std::string string(const std::string& context) {
    const uint64_t n = read<uint64_t>(context);
    need(n, context);
    std::string s(reinterpret_cast<const char*>(data_ + pos_), n);
    pos_ += n;
    return s;
  }

 private:
  const uint8_t* data_;
  uint64_t size_;
  uint64_t pos_ = 0;
  const std::string& path_;
};

bool is_known(uint32_t t) { return t <= static_cast<uint32_t>(GgufType::f64); }

// The fewest bytes one value of type t takes in the file (strings: their length; arrays: type
// and count), so that a count can be checked against the bytes left before it is allocated.
uint64_t min_value_bytes(GgufType t) {
  switch (t) {
    case GgufType::u8: case GgufType::i8: case GgufType::boolean: return 1;
    case GgufType::u16: case GgufType::i16: return 2;
    case GgufType::u32: case GgufType::i32: case GgufType::f32: return 4;
    case GgufType::u64: case GgufType::i64: case GgufType::f64: case GgufType::string: return 8;
    case GgufType::array: return 12;
  }
  return 1;
}

GgufValue read_value(Cursor& c, GgufType type, const std::string& key, const std::string& path, int depth) {
  GgufValue v;
  v.type = type;
  const std::string ctx = "the value of " + key;
  switch (type) {
    case GgufType::u8: v.u = c.read<uint8_t>(ctx); break;
    case GgufType::i8: v.i = c.read<int8_t>(ctx); break;
    case GgufType::u16: v.u = c.read<uint16_t>(ctx); break;
    case GgufType::i16: v.i = c.read<int16_t>(ctx); break;
    case GgufType::u32: v.u = c.read<uint32_t>(ctx); break;
    case GgufType::i32: v.i = c.read<int32_t>(ctx); break;
    case GgufType::u64: v.u = c.read<uint64_t>(ctx); break;
    case GgufType::i64: v.i = c.read<int64_t>(ctx); break;
    case GgufType::f32: v.f = c.read<float>(ctx); break;
    case GgufType::f64: v.f = c.read<double>(ctx); break;
    case GgufType::boolean: {
      const uint8_t b = c.read<uint8_t>(ctx);
      if (b > 1) RETORT_INPUT_ERROR(fmt::format("{}: metadata {}: bool value {} is not 0 or 1", path, key, b));
      v.u = b;
      break;
    }
    case GgufType::string: v.s = c.string(ctx); break;
    case GgufType::array: {
      if (depth >= kMaxArrayDepth)
        RETORT_INPUT_ERROR(fmt::format("{}: metadata {}: arrays nested deeper than {}", path, key, kMaxArrayDepth));
      const uint32_t elem = c.read<uint32_t>(ctx);
      if (!is_known(elem))
        RETORT_INPUT_ERROR(fmt::format("{}: metadata {}: unknown array element type {}", path, key, elem));
      v.elem_type = static_cast<GgufType>(elem);
      const uint64_t n = c.read<uint64_t>(ctx);
      if (n > c.left() / min_value_bytes(v.elem_type))
        RETORT_INPUT_ERROR(fmt::format("{}: truncated file: metadata {} claims {} array elements, more than "
                                       "the {} bytes left can hold",
                                       path, key, n, c.left()));
      v.items.reserve(n);
      for (uint64_t k = 0; k < n; ++k) v.items.push_back(read_value(c, v.elem_type, key, path, depth + 1));
      break;
    }
  }
  return v;
}

[[noreturn]] void wrong_type(const std::string& path, const std::string& key, const GgufValue& v,
                             const char* wanted) {
  std::string have = gguf_type_name(v.type);
  if (v.type == GgufType::array) have += std::string(" of ") + gguf_type_name(v.elem_type);
  RETORT_INPUT_ERROR(fmt::format("{}: metadata {} is {}, expected {}", path, key, have, wanted));
}

bool is_unsigned(GgufType t) {
  return t == GgufType::u8 || t == GgufType::u16 || t == GgufType::u32 || t == GgufType::u64;
}
bool is_signed(GgufType t) {
  return t == GgufType::i8 || t == GgufType::i16 || t == GgufType::i32 || t == GgufType::i64;
}

}  // namespace

const char* gguf_type_name(GgufType t) {
  switch (t) {
    case GgufType::u8: return "u8";
    case GgufType::i8: return "i8";
    case GgufType::u16: return "u16";
    case GgufType::i16: return "i16";
    case GgufType::u32: return "u32";
    case GgufType::i32: return "i32";
    case GgufType::f32: return "f32";
    case GgufType::boolean: return "bool";
    case GgufType::string: return "string";
    case GgufType::array: return "array";
    case GgufType::u64: return "u64";
    case GgufType::i64: return "i64";
    case GgufType::f64: return "f64";
  }
  return "unknown";
}

std::vector<int64_t> GgufTensorInfo::shape() const {
  return std::vector<int64_t>(dims.rbegin(), dims.rend());
}

GgufFile open_gguf(const std::string& path) {
  GgufFile f;
  f.path_ = path;
  f.mapping_ = map_file(path);
  Cursor c(f.mapping_->data, f.mapping_->size, f.path_);
  if (f.mapping_->size < 4 || c.read<uint32_t>("the magic") != kMagic)
    RETORT_INPUT_ERROR(path + ": not a GGUF file (bad magic; expected \"GGUF\")");
  f.version_ = c.read<uint32_t>("the version");
  if (f.version_ != 2 && f.version_ != 3)
    RETORT_INPUT_ERROR(fmt::format("{}: GGUF version {} is not supported (Retort reads versions 2 and 3{})",
                                   path, f.version_,
                                   f.version_ > 0xffff ? "; a big-endian file?" : ""));
  const uint64_t n_tensors = c.read<uint64_t>("the tensor count");
  const uint64_t n_kv = c.read<uint64_t>("the metadata count");
  // A key takes at least 8 (length) + 4 (type) + 1 bytes; a tensor info at least 8 + 4 + 4 + 8.
  if (n_kv > c.left() / 13)
    RETORT_INPUT_ERROR(fmt::format("{}: truncated file: header claims {} metadata entries, more than the "
                                   "{} bytes left can hold", path, n_kv, c.left()));
  f.metadata_.reserve(n_kv);
  for (uint64_t k = 0; k < n_kv; ++k) {
    std::string key = c.string(fmt::format("metadata key {}", k));
    const uint32_t type = c.read<uint32_t>("the type of " + key);
    if (!is_known(type))
      RETORT_INPUT_ERROR(fmt::format("{}: metadata {} has unknown value type {}", path, key, type));
    GgufValue v = read_value(c, static_cast<GgufType>(type), key, path, 0);
    if (!f.metadata_index_.emplace(key, f.metadata_.size()).second)
      RETORT_INPUT_ERROR(fmt::format("{}: metadata key {} appears twice", path, key));
    f.metadata_.emplace_back(std::move(key), std::move(v));
  }
  if (const GgufValue* a = f.find("general.alignment")) {
    if (a->type != GgufType::u32) wrong_type(path, "general.alignment", *a, "u32");
    if (a->u == 0 || (a->u & (a->u - 1)) != 0)
      RETORT_INPUT_ERROR(fmt::format("{}: general.alignment {} is not a power of two", path, a->u));
    f.alignment_ = a->u;
  }
  if (n_tensors > c.left() / 24)
    RETORT_INPUT_ERROR(fmt::format("{}: truncated file: header claims {} tensors, more than the {} bytes "
                                   "left can hold", path, n_tensors, c.left()));
  f.tensors_.reserve(n_tensors);
  for (uint64_t k = 0; k < n_tensors; ++k) {
    GgufTensorInfo t;
    t.name = c.string(fmt::format("the name of tensor {}", k));
    const std::string what = path + ": tensor " + t.name;
    const uint32_t n_dims = c.read<uint32_t>("the dimension count of " + t.name);
    if (n_dims > 8) RETORT_INPUT_ERROR(fmt::format("{} has {} dimensions (at most 8)", what, n_dims));
    t.n_elements = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      t.dims.push_back(c.read<uint64_t>("the dimensions of " + t.name));
      if (__builtin_mul_overflow(t.n_elements, t.dims.back(), &t.n_elements))
        RETORT_INPUT_ERROR(what + ": element count overflows 64 bits");
    }
    t.type = c.read<uint32_t>("the type of " + t.name);
    if (!t.dims.empty() && t.dims[0] > 0) {
      // Blocks run along the innermost dimension: each row is a whole number of blocks.
      ggml_storage_bytes(t.type, t.dims[0], what + " (rows of " + ggml_type_name(t.type) + ")");
    }
    t.n_bytes = ggml_storage_bytes(t.type, t.n_elements, what);
    t.offset = c.read<uint64_t>("the data offset of " + t.name);
    if (t.offset % f.alignment_ != 0)
      RETORT_INPUT_ERROR(fmt::format("{}: data offset {} is not a multiple of the alignment {}", what,
                                     t.offset, f.alignment_));
    if (!f.tensor_index_.emplace(t.name, f.tensors_.size()).second)
      RETORT_INPUT_ERROR(what + " appears twice");
    f.tensors_.push_back(std::move(t));
  }
  const uint64_t pad = (f.alignment_ - c.pos() % f.alignment_) % f.alignment_;
  f.data_begin_ = c.pos() + pad;
  const uint64_t data_size = f.data_begin_ <= f.mapping_->size ? f.mapping_->size - f.data_begin_ : 0;
  if (!f.tensors_.empty() && f.data_begin_ > f.mapping_->size)
    RETORT_INPUT_ERROR(path + ": truncated file: the data section starts past the end");
  std::vector<const GgufTensorInfo*> by_offset;
  for (const GgufTensorInfo& t : f.tensors_) {
    if (t.offset > data_size || t.n_bytes > data_size - t.offset)
      RETORT_INPUT_ERROR(fmt::format("{}: tensor {}: data [{}, {}) is outside the data section of {} bytes "
                                     "(truncated file?)",
                                     path, t.name, t.offset, t.offset + t.n_bytes, data_size));
    by_offset.push_back(&t);
  }
  std::sort(by_offset.begin(), by_offset.end(),
            [](const GgufTensorInfo* a, const GgufTensorInfo* b) { return a->offset < b->offset; });
  for (size_t k = 1; k < by_offset.size(); ++k)
    if (by_offset[k - 1]->offset + by_offset[k - 1]->n_bytes > by_offset[k]->offset)
      RETORT_INPUT_ERROR(fmt::format("{}: tensor {} overlaps tensor {}", path, by_offset[k]->name,
                                     by_offset[k - 1]->name));
  return f;
}

const GgufValue* GgufFile::find(const std::string& key) const {
  auto it = metadata_index_.find(key);
  return it == metadata_index_.end() ? nullptr : &metadata_[it->second].second;
}

namespace {
const GgufValue& require(const GgufFile& f, const std::string& key) {
  const GgufValue* v = f.find(key);
  if (!v) RETORT_INPUT_ERROR(fmt::format("{}: metadata {} is missing", f.path(), key));
  return *v;
}
}  // namespace

uint64_t GgufFile::get_u64(const std::string& key) const {
  const GgufValue& v = require(*this, key);
  if (is_unsigned(v.type)) return v.u;
  if (is_signed(v.type) && v.i >= 0) return static_cast<uint64_t>(v.i);
  wrong_type(path_, key, v, "a non-negative integer");
}

int64_t GgufFile::get_i64(const std::string& key) const {
  const GgufValue& v = require(*this, key);
  if (is_signed(v.type)) return v.i;
  if (is_unsigned(v.type) && v.u <= static_cast<uint64_t>(INT64_MAX)) return static_cast<int64_t>(v.u);
  wrong_type(path_, key, v, "an integer");
}

double GgufFile::get_f64(const std::string& key) const {
  const GgufValue& v = require(*this, key);
  if (v.type == GgufType::f32 || v.type == GgufType::f64) return v.f;
  wrong_type(path_, key, v, "f32 or f64");
}

bool GgufFile::get_bool(const std::string& key) const {
  const GgufValue& v = require(*this, key);
  if (v.type == GgufType::boolean) return v.u != 0;
  wrong_type(path_, key, v, "bool");
}

const std::string& GgufFile::get_string(const std::string& key) const {
  const GgufValue& v = require(*this, key);
  if (v.type == GgufType::string) return v.s;
  wrong_type(path_, key, v, "string");
}

std::vector<std::string> GgufFile::get_string_array(const std::string& key) const {
  const GgufValue& v = require(*this, key);
  if (v.type != GgufType::array || v.elem_type != GgufType::string) wrong_type(path_, key, v, "array of string");
  std::vector<std::string> out;
  out.reserve(v.items.size());
  for (const GgufValue& item : v.items) out.push_back(item.s);
  return out;
}

std::vector<int32_t> GgufFile::get_i32_array(const std::string& key) const {
  const GgufValue& v = require(*this, key);
  if (v.type != GgufType::array || !(is_signed(v.elem_type) || is_unsigned(v.elem_type)))
    wrong_type(path_, key, v, "array of integers");
  std::vector<int32_t> out;
  out.reserve(v.items.size());
  for (size_t k = 0; k < v.items.size(); ++k) {
    const GgufValue& item = v.items[k];
    const bool fits = is_signed(v.elem_type) ? (item.i >= INT32_MIN && item.i <= INT32_MAX)
                                             : item.u <= static_cast<uint64_t>(INT32_MAX);
    if (!fits) RETORT_INPUT_ERROR(fmt::format("{}: metadata {}[{}] does not fit int32", path_, key, k));
    out.push_back(is_signed(v.elem_type) ? static_cast<int32_t>(item.i) : static_cast<int32_t>(item.u));
  }
  return out;
}

const GgufTensorInfo* GgufFile::find_tensor(const std::string& name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

std::span<const uint8_t> GgufFile::tensor_bytes(const GgufTensorInfo& t) const {
  return {mapping_->data + data_begin_ + t.offset, t.n_bytes};
}

std::vector<float> GgufFile::dequantize(const GgufTensorInfo& t) const {
  const std::string what = path_ + ": tensor " + t.name;
  if (!ggml_dequantizable(t.type)) dequantize_ggml(t.type, {}, {}, what);  // the error, before allocating
  std::vector<float> out(t.n_elements);
  dequantize_ggml(t.type, tensor_bytes(t), out, what);
  return out;
}

}  // namespace retort::core
