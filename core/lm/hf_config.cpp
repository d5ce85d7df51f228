// config.json mapping for the Llama family (key names as transformers' LlamaConfig,
// MistralConfig and Qwen2Config define them, with their defaults).
#include "core/lm/hf_config.h"

#include <fmt/format.h>

#include <type_traits>

#include "core/base/error.h"
#include "core/base/json_int.h"

namespace retort::core {
namespace {

enum class Family { llama, mistral, qwen2 };

// The value of `key`, or `fallback` when the key is absent or null.
template <typename T>
T value_or(const nlohmann::json& j, const char* key, T fallback) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  if constexpr (std::is_same_v<T, int64_t>) return json_int64(*it);
  else return it->get<T>();
}

}  // namespace

LlamaConfig llama_config_from_hf(const nlohmann::json& j, const std::string& what) {
  if (!j.is_object()) RETORT_INPUT_ERROR(what + ": config.json is not a JSON object");
  Family family{};
  std::string arch;
  try {
    const auto& archs = j.at("architectures");
    if (!archs.is_array() || archs.size() != 1)
      RETORT_INPUT_ERROR(what + ": architectures must list exactly one architecture, got " + archs.dump());
    arch = archs[0].get<std::string>();
  } catch (const nlohmann::json::exception& e) {
    RETORT_INPUT_ERROR(fmt::format("{}: architectures: {}", what, e.what()));
  }
  if (arch == "LlamaForCausalLM") family = Family::llama;
  else if (arch == "MistralForCausalLM") family = Family::mistral;
  else if (arch == "Qwen2ForCausalLM") family = Family::qwen2;
  else
    RETORT_INPUT_ERROR(fmt::format("{}: unknown architecture {} (Retort reads LlamaForCausalLM, "
                                   "MistralForCausalLM, Qwen2ForCausalLM)", what, arch));
  LlamaConfig c;
  const char* key = "";
  try {
    auto get = [&](const char* k) {
      key = k;
      return json_int64(j.at(k));
    };
    c.dim = get("hidden_size");
    c.ffn_dim = get("intermediate_size");
    c.n_layers = get("num_hidden_layers");
    c.n_heads = get("num_attention_heads");
    c.vocab_size = get("vocab_size");
    c.max_seq_len = get("max_position_embeddings");
    key = "num_key_value_heads";
    c.n_kv_heads = value_or<int64_t>(j, key, c.n_heads);
    key = "rope_theta";
    c.rope_theta = value_or<double>(j, key, 10000.0);
    key = "rms_norm_eps";
    c.norm_eps = value_or<double>(j, key, 1e-6);
    key = "tie_word_embeddings";
    c.tie_embeddings = value_or<bool>(j, key, false);
    c.qkv_bias = family == Family::qwen2;
    key = "hidden_act";
    const std::string act = value_or<std::string>(j, key, "silu");
    if (act != "silu")
      RETORT_INPUT_ERROR(fmt::format("{}: hidden_act {} is not supported (Retort's MLP is SwiGLU: silu)", what, act));
    key = "rope_scaling";
    if (j.contains(key) && !j.at(key).is_null())
      RETORT_INPUT_ERROR(fmt::format("{}: rope_scaling {} is not supported (Retort's RoPE is unscaled; "
                                     "rope_scaling must be null)", what, j.at(key).dump()));
    if (family != Family::qwen2) {
      for (const char* bias : {"attention_bias", "mlp_bias"}) {
        key = bias;
        if (value_or<bool>(j, bias, false))
          RETORT_INPUT_ERROR(fmt::format("{}: {} true is not supported (Retort's {} has no such biases)", what,
                                         bias, arch));
      }
    }
    key = "sliding_window";
    if (family == Family::mistral) {
      const int64_t window = value_or<int64_t>(j, key, 0);
      if (window > 0 && window < c.max_seq_len)
        RETORT_INPUT_ERROR(fmt::format("{}: sliding_window {} is smaller than max_position_embeddings {}: "
                                       "sliding-window attention is not supported", what, window, c.max_seq_len));
    } else if (family == Family::qwen2) {
      key = "use_sliding_window";
      if (value_or<bool>(j, key, false))
        RETORT_INPUT_ERROR(fmt::format("{}: use_sliding_window true: sliding-window attention is not supported", what));
    }
    key = "head_dim";
    if (j.contains(key) && !j.at(key).is_null() && c.n_heads > 0 && json_int64(j.at(key)) != c.dim / c.n_heads)
      RETORT_INPUT_ERROR(fmt::format("{}: head_dim {} differs from hidden_size / num_attention_heads = {} "
                                     "(not supported)", what, json_int64(j.at(key)), c.dim / c.n_heads));
  } catch (const nlohmann::json::exception& e) {
    RETORT_INPUT_ERROR(fmt::format("{}: key {}: {}", what, key, e.what()));
  }
  validate(c, what);
  return c;
}

nlohmann::json hf_config_from_llama(const LlamaConfig& c) {
  nlohmann::json j = {
      {"architectures", {c.qkv_bias ? "Qwen2ForCausalLM" : "LlamaForCausalLM"}},
      {"model_type", c.qkv_bias ? "qwen2" : "llama"},
      {"hidden_size", c.dim},
      {"intermediate_size", c.ffn_dim},
      {"num_hidden_layers", c.n_layers},
      {"num_attention_heads", c.n_heads},
      {"num_key_value_heads", c.n_kv_heads},
      {"head_dim", c.head_dim()},
      {"vocab_size", c.vocab_size},
      {"max_position_embeddings", c.max_seq_len},
      {"rope_theta", c.rope_theta},
      {"rope_scaling", nullptr},
      {"rms_norm_eps", c.norm_eps},
      {"tie_word_embeddings", c.tie_embeddings},
      {"hidden_act", "silu"},
      {"attention_dropout", 0.0},
      {"torch_dtype", "float32"},
  };
  if (c.qkv_bias) {
    j["use_sliding_window"] = false;
    j["sliding_window"] = c.max_seq_len;
    j["max_window_layers"] = c.n_layers;
  } else {
    j["attention_bias"] = false;
    j["mlp_bias"] = false;
  }
  return j;
}

}  // namespace retort::core
