// Test support: a safetensors file image from a header object written as given (padded with
// spaces to 8 bytes, as writers do) and a data section.
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace retort::test {

inline std::vector<uint8_t> safetensors_bytes(const nlohmann::json& header, const std::vector<uint8_t>& data) {
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  const uint64_t n = text.size();
  std::vector<uint8_t> out(8 + text.size() + data.size());
  std::memcpy(out.data(), &n, 8);
  std::memcpy(out.data() + 8, text.data(), text.size());
  if (!data.empty()) std::memcpy(out.data() + 8 + text.size(), data.data(), data.size());
  return out;
}

}  // namespace retort::test
