// libFuzzer target: bytes as a Hugging Face config.json -> llama_config_from_hf; what it accepts
// must survive the export round trip (hf_config_from_llama, read again) unchanged.
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "core/lm/hf_config.h"
#include "tests/fuzz/fuzz_util.h"

using namespace retort::core;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto json = nlohmann::json::parse(data, data + size, nullptr, false);
  if (json.is_discarded()) return 0;  // not JSON: the JSON library's concern, not this reader's
  retort::fuzz::expect_clean_errors("fuzz_hf_config", [&] {
    const LlamaConfig c = llama_config_from_hf(json, "config.json");
    const nlohmann::json exported = hf_config_from_llama(c);
    if (hf_config_from_llama(llama_config_from_hf(exported, "exported config.json")) != exported) std::abort();
  });
  return 0;
}
