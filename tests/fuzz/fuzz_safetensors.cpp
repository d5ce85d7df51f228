// libFuzzer target: bytes -> parse_safetensors (F32 weights) and parse_safetensors_any (F32, F16,
// BF16), touching every tensor's bytes so a span outside the file is caught by ASan.
#include <vector>

#include "core/checkpoint/safetensors.h"
#include "tests/fuzz/fuzz_util.h"

namespace {
volatile float g_sink;
void touch(const retort::core::SafetensorsFile& f) {
  float sum = 0;
  for (const auto& [name, t] : f.tensors) {
    for (float v : t.data) sum += v;
    for (float v : retort::core::tensor_to_float(t)) sum += v;
  }
  g_sink = sum;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::vector<uint8_t> bytes(data, data + size);
  retort::fuzz::expect_clean_errors("fuzz_safetensors", [&] { touch(retort::core::parse_safetensors(bytes, "fuzz.safetensors")); });
  retort::fuzz::expect_clean_errors("fuzz_safetensors", [&] { touch(retort::core::parse_safetensors_any(bytes, "fuzz.safetensors")); });
  return 0;
}
