// Export of a Llama-family model as a Hugging Face model directory: config.json
// (LlamaForCausalLM, or Qwen2ForCausalLM with q/k/v biases; torch_dtype float32) and
// model.safetensors with HF tensor names in fp32, so transformers, vLLM and llama.cpp's
// converters take it as it is.
#pragma once
#include <nlohmann/json.hpp>

#include <functional>
#include <string>

#include "core/lm/lm_import.h"

namespace retort::core {

// Writes the tokenizer files of the model into the export directory and returns the
// config.json fields they determine (bos_token_id, eos_token_id, ...), merged into config.json.
using TokenizerExport = std::function<nlohmann::json(const std::string& out_dir)>;

struct HfExportSummary {
  std::string architecture;  // config.json's architectures[0]
  int64_t tensors = 0;
  int64_t parameters = 0;
  int64_t bytes = 0;  // of model.safetensors
};

// Writes `out_dir` (created; an input error when it exists and is not empty) from `lm`, every
// tensor checked against lm.config first. `tokenizer`, when set, runs after the weights are
// written and before config.json, which is written last.
HfExportSummary export_hf(const ImportedLm& lm, const std::string& out_dir, const TokenizerExport& tokenizer = {});

}  // namespace retort::core
