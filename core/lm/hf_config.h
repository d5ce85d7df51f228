// Hugging Face config.json <-> LlamaConfig: LlamaForCausalLM, MistralForCausalLM and
// Qwen2ForCausalLM read (what Retort's model cannot run is refused, never approximated), and
// the config.json Retort writes when it exports a model.
#pragma once
#include <nlohmann/json.hpp>

#include <string>

#include "core/lm/llama_config.h"

namespace retort::core {

// Reads the model shape from a parsed config.json; `what` (its path) names it in errors. Input
// errors: unknown architecture, a missing or mistyped key, an active sliding window, non-null
// rope_scaling, attention_bias / mlp_bias on Llama or Mistral, a hidden_act other than silu, a
// head_dim other than hidden_size / num_attention_heads, and what validate() refuses.
LlamaConfig llama_config_from_hf(const nlohmann::json& config, const std::string& what);

// config.json for a model of this shape: Qwen2ForCausalLM when qkv_bias, else LlamaForCausalLM;
// torch_dtype float32. The tokenizer's ids (bos/eos) are not known here; the exporter adds them.
nlohmann::json hf_config_from_llama(const LlamaConfig& c);

}  // namespace retort::core
