// safetensors encoding and validating parser (nlohmann::json for the header).
#include "core/checkpoint/safetensors.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/base/dtype.h"

#include "core/base/error.h"
#include "core/base/json_int.h"

namespace retort::core {

std::vector<uint8_t> encode_safetensors(const std::vector<NamedTensor>& tensors,
                                        const std::map<std::string, std::string>& metadata) {
  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const NamedTensor& t : tensors) {
    int64_t numel = 1;
    for (int64_t d : t.shape) numel *= d;
    RETORT_CHECK(numel == static_cast<int64_t>(t.data.size()), "tensor " + t.name + " size");
    const uint64_t bytes = static_cast<uint64_t>(numel) * 4;
    header[t.name] = {{"dtype", "F32"}, {"shape", t.shape}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  std::vector<uint8_t> out(8 + text.size() + offset);
  const uint64_t n = text.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<uint8_t>(n >> (8 * i));
  std::memcpy(out.data() + 8, text.data(), text.size());
  uint8_t* data = out.data() + 8 + text.size();
  for (const NamedTensor& t : tensors) {
    std::memcpy(data, t.data.data(), t.data.size() * 4);
    data += t.data.size() * 4;
  }
  return out;
}

namespace {

// The dtype a safetensors dtype name stands for; false for names Retort does not read.
bool parse_dtype_name(const std::string& name, SafetensorsDtype& out) {
  if (name == "F32") out = SafetensorsDtype::f32;
  else if (name == "F16") out = SafetensorsDtype::f16;
  else if (name == "BF16") out = SafetensorsDtype::bf16;
  else return false;
  return true;
}

uint64_t element_bytes(SafetensorsDtype t) { return t == SafetensorsDtype::f32 ? 4 : 2; }

struct Span {
  uint64_t begin, end;
  const std::string* name;
};

SafetensorsFile parse(std::vector<uint8_t> bytes, const std::string& what, bool f32_only) {
  SafetensorsFile file;
  file.bytes = std::move(bytes);
  const auto& b = file.bytes;
  if (b.size() < 8) RETORT_INPUT_ERROR(what + ": too short for a safetensors file");
  uint64_t header_len = 0;
  for (int i = 0; i < 8; ++i) header_len |= static_cast<uint64_t>(b[i]) << (8 * i);
  if (header_len > b.size() - 8)
    RETORT_INPUT_ERROR(what + ": safetensors header length " + std::to_string(header_len) +
                       " exceeds the file size " + std::to_string(b.size()));
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(b.begin() + 8, b.begin() + 8 + static_cast<int64_t>(header_len));
  } catch (const nlohmann::json::exception& e) {
    RETORT_INPUT_ERROR(what + ": safetensors header is not valid JSON (" + e.what() + ")");
  }
  if (!header.is_object()) RETORT_INPUT_ERROR(what + ": safetensors header is not an object");
  const uint64_t data_begin = 8 + header_len;
  const uint64_t data_size = b.size() - data_begin;
  std::vector<Span> spans;
  for (const auto& [name, entry] : header.items()) {
    const std::string tensor = what + ": tensor '" + name + "'";
    try {
      if (name == "__metadata__") {
        for (const auto& [k, v] : entry.items()) file.metadata[k] = v.get<std::string>();
        continue;
      }
      const std::string dtype_name = entry.at("dtype").get<std::string>();
      SafetensorsDtype dtype{};
      if (!parse_dtype_name(dtype_name, dtype))
        RETORT_INPUT_ERROR(tensor + " has dtype " + dtype_name + (f32_only ? ", expected F32" : ", expected F32, F16 or BF16"));
      if (f32_only && dtype != SafetensorsDtype::f32)
        RETORT_INPUT_ERROR(tensor + " has dtype " + dtype_name + ", expected F32");
      auto shape = json_int64_list(entry.at("shape"));
      std::vector<uint64_t> offsets;
      for (int64_t o : json_int64_list(entry.at("data_offsets"))) {
        if (o < 0) RETORT_INPUT_ERROR(tensor + " has a negative data offset");
        offsets.push_back(static_cast<uint64_t>(o));
      }
      uint64_t numel = 1;
      for (int64_t d : shape) {
        if (d < 0) RETORT_INPUT_ERROR(tensor + " has a negative dimension");
        if (__builtin_mul_overflow(numel, static_cast<uint64_t>(d), &numel))
          RETORT_INPUT_ERROR(tensor + ": element count of shape " + nlohmann::json(shape).dump() +
                             " overflows 64 bits");
      }
      uint64_t length = 0;
      if (__builtin_mul_overflow(numel, element_bytes(dtype), &length))
        RETORT_INPUT_ERROR(tensor + ": byte count of shape " + nlohmann::json(shape).dump() + " overflows 64 bits");
      if (offsets.size() != 2 || offsets[0] > offsets[1] || offsets[1] > data_size)
        RETORT_INPUT_ERROR(tensor + " has data_offsets outside the file's data section of " +
                           std::to_string(data_size) + " bytes");
      if (offsets[1] - offsets[0] != length)
        RETORT_INPUT_ERROR(tensor + " data length " + std::to_string(offsets[1] - offsets[0]) +
                           " does not match its shape " + nlohmann::json(shape).dump() + " of " +
                           dtype_name + " (" + std::to_string(length) + " bytes)");
      const uint8_t* ptr = b.data() + data_begin + offsets[0];
      const bool aligned = (data_begin + offsets[0]) % 4 == 0;
      if (f32_only && !aligned) RETORT_INPUT_ERROR(tensor + " data is not 4-byte aligned");
      SafetensorsFile::Entry e;
      e.shape = std::move(shape);
      e.dtype = dtype;
      e.raw = std::span<const uint8_t>(ptr, length);
      if (dtype == SafetensorsDtype::f32 && aligned)
        e.data = std::span<const float>(reinterpret_cast<const float*>(ptr), numel);
      auto it = file.tensors.emplace(name, std::move(e)).first;
      spans.push_back({offsets[0], offsets[1], &it->first});
    } catch (const nlohmann::json::exception& e) {
      RETORT_INPUT_ERROR(tensor + ": malformed safetensors header entry (" + e.what() + ")");
    }
  }
  // The tensors tile the data section exactly: no overlap, no gap, nothing after the last.
  std::sort(spans.begin(), spans.end(),
            [](const Span& x, const Span& y) { return x.begin != y.begin ? x.begin < y.begin : x.end < y.end; });
  uint64_t covered = 0;
  const std::string* previous = nullptr;
  for (const Span& sp : spans) {
    if (sp.begin < covered)
      RETORT_INPUT_ERROR(what + ": tensor '" + *sp.name + "' overlaps tensor '" + *previous + "'");
    if (sp.begin > covered)
      RETORT_INPUT_ERROR(what + ": " + std::to_string(sp.begin - covered) + " unused bytes before tensor '" +
                         *sp.name + "'");
    covered = sp.end;
    previous = sp.name;
  }
  if (covered != data_size)
    RETORT_INPUT_ERROR(what + ": " + std::to_string(data_size - covered) + " trailing bytes after the last tensor" +
                       (previous ? " '" + *previous + "'" : std::string()));
  return file;
}

}  // namespace

float f16_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exponent = (h >> 10) & 0x1fu;
  const uint32_t mantissa = h & 0x3ffu;
  uint32_t bits;
  if (exponent == 0x1f) {
    bits = sign | 0x7f800000u | (mantissa << 13);  // infinity or NaN (payload kept)
  } else if (exponent != 0) {
    bits = sign | ((exponent + 112) << 23) | (mantissa << 13);  // rebias 15 -> 127
  } else {
    const float magnitude = std::ldexp(static_cast<float>(mantissa), -24);  // zero or subnormal: exact
    return sign ? -magnitude : magnitude;
  }
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

float bf16_bits_to_float(uint16_t bits) { return bf16_to_float(bf16{bits}); }

const char* safetensors_dtype_name(SafetensorsDtype t) {
  switch (t) {
    case SafetensorsDtype::f32: return "F32";
    case SafetensorsDtype::f16: return "F16";
    case SafetensorsDtype::bf16: return "BF16";
  }
  return "?";
}

SafetensorsFile parse_safetensors(std::vector<uint8_t> bytes, const std::string& what) {
  return parse(std::move(bytes), what, true);
}

SafetensorsFile parse_safetensors_any(std::vector<uint8_t> bytes, const std::string& what) {
  return parse(std::move(bytes), what, false);
}

std::vector<float> tensor_to_float(const SafetensorsFile::Entry& entry) {
  const uint8_t* p = entry.raw.data();
  const size_t n = entry.raw.size() / element_bytes(entry.dtype);
  std::vector<float> out(n);
  if (entry.dtype == SafetensorsDtype::f32) {
    std::memcpy(out.data(), p, n * 4);
    return out;
  }
  for (size_t k = 0; k < n; ++k) {
    const uint16_t bits = static_cast<uint16_t>(p[2 * k] | (p[2 * k + 1] << 8));
    out[k] = entry.dtype == SafetensorsDtype::f16 ? f16_to_float(bits) : bf16_bits_to_float(bits);
  }
  return out;
}

}  // namespace retort::core
