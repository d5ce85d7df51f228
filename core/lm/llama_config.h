// The shape of a Llama-family transformer (Llama 2/3, Mistral, Qwen2, SmolLM, TinyLlama): the
// `arch: llama` keys of the config schema, what checkpoints record, and what HF config.json and
// GGUF metadata are mapped to. Validated once; everything downstream trusts it.
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

namespace retort::core {

struct LlamaConfig {
  int64_t vocab_size = 0;
  int64_t dim = 0;          // model width d
  int64_t n_layers = 0;
  int64_t n_heads = 0;      // query heads; head_dim = dim / n_heads
  int64_t n_kv_heads = 0;   // key/value heads (grouped-query attention); divides n_heads
  int64_t ffn_dim = 0;      // SwiGLU hidden width
  int64_t max_seq_len = 0;  // longest sequence the model is used with (RoPE positions < this)
  double rope_theta = 10000.0;
  double norm_eps = 1e-5;   // RMSNorm epsilon
  bool tie_embeddings = false;  // the head is the input embedding (no lm_head.weight)
  bool qkv_bias = false;        // Qwen2-style biases on q/k/v projections

  int64_t head_dim() const { return dim / n_heads; }
  int64_t kv_dim() const { return n_kv_heads * head_dim(); }
};

// Input error naming `what` (a config key prefix or a file) when the shape is not a model.
void validate(const LlamaConfig& c, const std::string& what);
nlohmann::json to_json(const LlamaConfig& c);
// Parses the keys of to_json (missing optional keys take the defaults above) and validates.
LlamaConfig llama_config_from_json(const nlohmann::json& j, const std::string& what);

}  // namespace retort::core
