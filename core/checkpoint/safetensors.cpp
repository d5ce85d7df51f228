// safetensors encoding and validating parser (nlohmann::json for the header).
#include "core/checkpoint/safetensors.h"

#include <nlohmann/json.hpp>

#include <cstring>

#include "core/base/error.h"

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

SafetensorsFile parse_safetensors(std::vector<uint8_t> bytes, const std::string& what) {
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
  try {
    for (const auto& [name, entry] : header.items()) {
      if (name == "__metadata__") {
        for (const auto& [k, v] : entry.items()) file.metadata[k] = v.get<std::string>();
        continue;
      }
      const std::string dtype = entry.at("dtype").get<std::string>();
      if (dtype != "F32")
        RETORT_INPUT_ERROR(what + ": tensor '" + name + "' has dtype " + dtype + ", expected F32");
      auto shape = entry.at("shape").get<std::vector<int64_t>>();
      const auto offsets = entry.at("data_offsets").get<std::vector<uint64_t>>();
      uint64_t numel = 1;
      for (int64_t d : shape) {
        if (d < 0) RETORT_INPUT_ERROR(what + ": tensor '" + name + "' has a negative dimension");
        numel *= static_cast<uint64_t>(d);
      }
      if (offsets.size() != 2 || offsets[0] > offsets[1] || offsets[1] > data_size)
        RETORT_INPUT_ERROR(what + ": tensor '" + name + "' has data_offsets outside the file");
      if (offsets[1] - offsets[0] != numel * 4)
        RETORT_INPUT_ERROR(what + ": tensor '" + name + "' data length does not match its shape");
      if ((data_begin + offsets[0]) % 4 != 0)
        RETORT_INPUT_ERROR(what + ": tensor '" + name + "' data is not 4-byte aligned");
      const auto* ptr = reinterpret_cast<const float*>(b.data() + data_begin + offsets[0]);
      file.tensors[name] = {std::move(shape), std::span<const float>(ptr, numel)};
    }
  } catch (const nlohmann::json::exception& e) {
    RETORT_INPUT_ERROR(what + ": malformed safetensors header (" + e.what() + ")");
  }
  return file;
}

}  // namespace retort::core
