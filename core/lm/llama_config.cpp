// LlamaConfig: validation and the JSON form stored in checkpoints.
#include "core/lm/llama_config.h"

#include <fmt/format.h>

#include "core/base/error.h"
#include "core/base/json_int.h"

namespace retort::core {

void validate(const LlamaConfig& c, const std::string& what) {
  auto positive = [&](int64_t v, const char* key) {
    if (v <= 0) RETORT_INPUT_ERROR(fmt::format("{}: {} must be positive (got {})", what, key, v));
  };
  positive(c.vocab_size, "vocab_size");
  positive(c.dim, "dim");
  positive(c.n_layers, "n_layers");
  positive(c.n_heads, "n_heads");
  positive(c.n_kv_heads, "n_kv_heads");
  positive(c.ffn_dim, "ffn_dim");
  positive(c.max_seq_len, "max_seq_len");
  if (c.dim % c.n_heads != 0)
    RETORT_INPUT_ERROR(fmt::format("{}: dim {} is not a multiple of n_heads {}", what, c.dim, c.n_heads));
  if (c.head_dim() % 2 != 0)
    RETORT_INPUT_ERROR(fmt::format("{}: head_dim {} (dim / n_heads) must be even for RoPE", what, c.head_dim()));
  if (c.n_heads % c.n_kv_heads != 0)
    RETORT_INPUT_ERROR(
        fmt::format("{}: n_heads {} is not a multiple of n_kv_heads {}", what, c.n_heads, c.n_kv_heads));
  if (c.vocab_size > (int64_t{1} << 31) - 1)
    RETORT_INPUT_ERROR(fmt::format("{}: vocab_size {} does not fit int32 token ids", what, c.vocab_size));
  if (!(c.rope_theta > 0)) RETORT_INPUT_ERROR(fmt::format("{}: rope_theta must be positive", what));
  if (!(c.norm_eps > 0)) RETORT_INPUT_ERROR(fmt::format("{}: norm_eps must be positive", what));
}

nlohmann::json to_json(const LlamaConfig& c) {
  return {{"vocab_size", c.vocab_size}, {"dim", c.dim},           {"n_layers", c.n_layers},
          {"n_heads", c.n_heads},       {"n_kv_heads", c.n_kv_heads}, {"ffn_dim", c.ffn_dim},
          {"max_seq_len", c.max_seq_len}, {"rope_theta", c.rope_theta}, {"norm_eps", c.norm_eps},
          {"tie_embeddings", c.tie_embeddings}, {"qkv_bias", c.qkv_bias}};
}

LlamaConfig llama_config_from_json(const nlohmann::json& j, const std::string& what) {
  if (!j.is_object()) RETORT_INPUT_ERROR(what + ": the llama model spec is not a JSON object");
  LlamaConfig c;
  try {
    c.vocab_size = json_int64(j.at("vocab_size"));
    c.dim = json_int64(j.at("dim"));
    c.n_layers = json_int64(j.at("n_layers"));
    c.n_heads = json_int64(j.at("n_heads"));
    c.n_kv_heads = j.contains("n_kv_heads") ? json_int64(j.at("n_kv_heads")) : c.n_heads;
    c.ffn_dim = json_int64(j.at("ffn_dim"));
    c.max_seq_len = json_int64(j.at("max_seq_len"));
    c.rope_theta = j.value("rope_theta", c.rope_theta);
    c.norm_eps = j.value("norm_eps", c.norm_eps);
    c.tie_embeddings = j.value("tie_embeddings", c.tie_embeddings);
    c.qkv_bias = j.value("qkv_bias", c.qkv_bias);
  } catch (const nlohmann::json::exception& e) {
    RETORT_INPUT_ERROR(fmt::format("{}: llama model spec: {}", what, e.what()));
  }
  validate(c, what);
  return c;
}

}  // namespace retort::core
