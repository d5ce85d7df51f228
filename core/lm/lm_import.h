// Import of a Llama-family language model from the files people have: a Hugging Face model
// directory (config.json + model.safetensors or a sharded index; F32/BF16/F16), a llama.cpp
// GGUF file (arch llama; dequantized, q/k rows un-permuted back to HF's RoPE layout), a Retort
// LM weights .safetensors, or a Retort checkpoint directory. Tensors come out with HF names
// and shapes, in fp32, every one checked against the config.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/lm/llama_config.h"

namespace retort::core {

struct ImportedLm {
  LlamaConfig config;
  std::map<std::string, std::vector<float>> tensors;  // HF name -> row-major fp32 values
  std::string kind;  // "hf", "gguf", "retort" (weights file) or "retort-checkpoint"
  std::map<std::string, std::string> metadata;  // a Retort weights file's safetensors metadata (else empty)
};

// `path`: an HF directory (has config.json), a .gguf file, a Retort weights .safetensors, or a
// Retort checkpoint directory (has manifest.json; verified first) or its manifest.json. Input
// errors naming the file and the tensor: unknown architecture, missing or extra tensor, wrong
// shape, unsupported dtype or quantization type, and every malformation the readers refuse.
ImportedLm import_lm(const std::string& path);

// The tensors a model of this shape has, HF names and row-major shapes, in layer order:
// embed_tokens, per layer (input_layernorm, q/k/v(+bias)/o, post_attention_layernorm,
// gate/up/down), norm, lm_head (absent when tied).
std::vector<std::pair<std::string, std::vector<int64_t>>> hf_tensor_shapes(const LlamaConfig& c);

// The LlamaConfig of a GGUF file's `llama.*` metadata (vocab size from the metadata, else from
// token_embd.weight; tied when there is no output.weight). Input error naming file and key.
class GgufFile;
LlamaConfig llama_config_from_gguf(const GgufFile& f);

}  // namespace retort::core
