// libFuzzer target: YAML config text -> load_config_text (parse, schema, defaults, overrides),
// then the training engine's checks and the YAML round trip of what was accepted.
#include <string>

#include "core/config/load.h"
#include "core/train/student_trainer.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  retort::fuzz::expect_clean_errors("fuzz_config", [&] {
    const retort::core::Config cfg = retort::core::load_config_text(text, "fuzz.yaml");
    const std::string yaml = retort::core::to_yaml(cfg);
    // What was accepted must load again to the same resolved config.
    if (retort::core::to_yaml(retort::core::load_config_text(yaml, "resolved.yaml")) != yaml) std::abort();
    retort::core::check_world_size(cfg, static_cast<int>(cfg.world_size()));
    retort::core::validate_training(cfg);
  });
  return 0;
}
