// libFuzzer target: bytes as a GGUF file -> open_gguf (header, typed metadata, tensor infos,
// alignment), every typed getter on every key, and every tensor's bytes and dequantization.
#include <vector>

#include "core/checkpoint/gguf.h"
#include "tests/fuzz/fuzz_util.h"

using namespace retort::core;

namespace {
volatile float g_sink;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = retort::fuzz::write_input("input.gguf", data, size);
  retort::fuzz::expect_clean_errors("fuzz_gguf", [&] {
    const GgufFile file = open_gguf(path);
    for (const auto& entry : file.metadata()) {
      const std::string& key = entry.first;
      retort::fuzz::expect_clean_errors("fuzz_gguf", [&] { file.get_u64(key); });
      retort::fuzz::expect_clean_errors("fuzz_gguf", [&] { file.get_i64(key); });
      retort::fuzz::expect_clean_errors("fuzz_gguf", [&] { file.get_f64(key); });
      retort::fuzz::expect_clean_errors("fuzz_gguf", [&] { file.get_bool(key); });
      retort::fuzz::expect_clean_errors("fuzz_gguf", [&] { file.get_string(key); });
      retort::fuzz::expect_clean_errors("fuzz_gguf", [&] { file.get_string_array(key); });
      retort::fuzz::expect_clean_errors("fuzz_gguf", [&] { file.get_i32_array(key); });
    }
    float sum = 0;
    for (const GgufTensorInfo& t : file.tensors()) {
      retort::fuzz::expect_clean_errors("fuzz_gguf", [&] {
        for (uint8_t b : file.tensor_bytes(t)) sum += b;
        if (ggml_dequantizable(t.type))
          for (float v : file.dequantize(t)) sum += v;
      });
    }
    g_sink = sum;
  });
  return 0;
}
