// Test-only tool: streams tensors as Retort reads them to stdout for the Python references.
//   lm_tensor_dump gguf FILE   every tensor of a GGUF file, file order, dequantized to fp32
//   lm_tensor_dump import PATH import_lm(PATH): its config (JSON), then the HF tensors by name
// Stream: records of [u32 name length][name][u64 element count][count x f32]; `import` starts
// with one record named "config" whose payload is the JSON text (count = its byte length).
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "core/base/error.h"
#include "core/checkpoint/gguf.h"
#include "core/lm/lm_import.h"

namespace {

void put_record(const std::string& name, const void* data, uint64_t count, size_t elem_bytes) {
  const auto n = static_cast<uint32_t>(name.size());
  std::fwrite(&n, 4, 1, stdout);
  std::fwrite(name.data(), 1, name.size(), stdout);
  std::fwrite(&count, 8, 1, stdout);
  std::fwrite(data, elem_bytes, count, stdout);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: lm_tensor_dump gguf FILE | import PATH\n");
    return 2;
  }
  const std::string mode = argv[1], path = argv[2];
  try {
    if (mode == "gguf") {
      const auto f = retort::core::open_gguf(path);
      for (const auto& t : f.tensors()) {
        const std::vector<float> v = f.dequantize(t);
        put_record(t.name, v.data(), v.size(), 4);
      }
    } else if (mode == "import") {
      const auto lm = retort::core::import_lm(path);
      nlohmann::json j = retort::core::to_json(lm.config);
      j["kind"] = lm.kind;
      const std::string text = j.dump();
      put_record("config", text.data(), text.size(), 1);
      for (const auto& [name, v] : lm.tensors) put_record(name, v.data(), v.size(), 4);
    } else {
      std::fprintf(stderr, "lm_tensor_dump: unknown mode %s\n", mode.c_str());
      return 2;
    }
  } catch (const retort::Error& e) {
    std::fprintf(stderr, "lm_tensor_dump: %s\n", e.message().c_str());
    return e.exit_code();
  }
  return std::fflush(stdout) == 0 ? 0 : 1;
}
