// HF config.json -> LlamaConfig for Llama, Mistral and Qwen2 (defaults, GQA, tied heads), the
// refusals (unknown architecture, sliding window, rope_scaling, head_dim, biases, activation,
// missing keys), and the config.json the exporter writes reading back to the same shape.
#include <catch2/catch.hpp>

#include "core/base/error.h"
#include "core/lm/hf_config.h"

using namespace retort::core;
using nlohmann::json;

namespace {

// SmolLM2-135M's config.json (the keys that matter).
json smollm2() {
  return json::parse(R"({
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 576,
    "intermediate_size": 1536, "num_hidden_layers": 30, "num_attention_heads": 9,
    "num_key_value_heads": 3, "vocab_size": 49152, "max_position_embeddings": 8192,
    "rope_theta": 100000, "rms_norm_eps": 1e-05, "tie_word_embeddings": true,
    "hidden_act": "silu", "rope_scaling": null, "attention_bias": false, "mlp_bias": false,
    "head_dim": 64, "torch_dtype": "bfloat16"})");
}

void require_refused(const json& j, const std::string& fragment) {
  try {
    llama_config_from_hf(j, "m/config.json");
    FAIL("accepted " << j.dump());
  } catch (const retort::Error& e) {
    REQUIRE(e.kind() == retort::ErrorKind::input);
    INFO(e.message());
    REQUIRE(e.message().rfind("m/config.json: ", 0) == 0);
    REQUIRE(e.message().find(fragment) != std::string::npos);
  }
}

}  // namespace

TEST_CASE("HF config.json of Llama, Mistral and Qwen2 map to LlamaConfig", "[hf_config]") {
  const LlamaConfig c = llama_config_from_hf(smollm2(), "m/config.json");
  REQUIRE(c.dim == 576);
  REQUIRE(c.ffn_dim == 1536);
  REQUIRE(c.n_layers == 30);
  REQUIRE(c.n_heads == 9);
  REQUIRE(c.n_kv_heads == 3);
  REQUIRE(c.vocab_size == 49152);
  REQUIRE(c.max_seq_len == 8192);
  REQUIRE(c.rope_theta == 100000.0);
  REQUIRE(c.norm_eps == 1e-5);
  REQUIRE(c.tie_embeddings);
  REQUIRE_FALSE(c.qkv_bias);

  json defaults = smollm2();
  for (const char* k : {"num_key_value_heads", "rope_theta", "rms_norm_eps", "tie_word_embeddings", "hidden_act",
                        "rope_scaling", "head_dim", "attention_bias", "mlp_bias"})
    defaults.erase(k);
  const LlamaConfig d = llama_config_from_hf(defaults, "m/config.json");
  REQUIRE(d.n_kv_heads == 9);  // multi-head attention when the key is absent
  REQUIRE(d.rope_theta == 10000.0);
  REQUIRE(d.norm_eps == 1e-6);
  REQUIRE_FALSE(d.tie_embeddings);

  json mistral = smollm2();
  mistral["architectures"] = {"MistralForCausalLM"};
  mistral["sliding_window"] = nullptr;
  REQUIRE(llama_config_from_hf(mistral, "m/config.json").n_layers == 30);
  mistral["sliding_window"] = 8192;  // a window as long as the model's context is no window
  REQUIRE_FALSE(llama_config_from_hf(mistral, "m/config.json").qkv_bias);

  json qwen = smollm2();
  qwen["architectures"] = {"Qwen2ForCausalLM"};
  qwen["use_sliding_window"] = false;
  qwen["sliding_window"] = 4096;  // ignored by Qwen2 while use_sliding_window is false
  REQUIRE(llama_config_from_hf(qwen, "m/config.json").qkv_bias);
}

TEST_CASE("HF configs Retort cannot run are refused naming the key", "[hf_config]") {
  auto with = [](const char* key, json v) {
    json j = smollm2();
    j[key] = std::move(v);
    return j;
  };
  require_refused(with("architectures", {"GPT2LMHeadModel"}), "unknown architecture GPT2LMHeadModel");
  require_refused(with("architectures", json::array()), "exactly one architecture");
  json mistral = with("architectures", {"MistralForCausalLM"});
  mistral["sliding_window"] = 4096;
  require_refused(mistral, "sliding_window 4096 is smaller than max_position_embeddings 8192");
  json qwen = with("architectures", {"Qwen2ForCausalLM"});
  qwen["use_sliding_window"] = true;
  require_refused(qwen, "use_sliding_window true");
  require_refused(with("rope_scaling", {{"rope_type", "llama3"}, {"factor", 8.0}}), "rope_scaling");
  require_refused(with("head_dim", 128), "head_dim 128 differs from hidden_size / num_attention_heads = 64");
  require_refused(with("attention_bias", true), "attention_bias true is not supported");
  require_refused(with("mlp_bias", true), "mlp_bias true is not supported");
  require_refused(with("hidden_act", "gelu"), "hidden_act gelu");
  require_refused(with("num_attention_heads", "nine"), "key num_attention_heads");
  require_refused(with("num_key_value_heads", 2), "not a multiple of n_kv_heads");
  json missing = smollm2();
  missing.erase("hidden_size");
  require_refused(missing, "key hidden_size");
  require_refused(json::array(), "not a JSON object");
}

TEST_CASE("the exporter's config.json reads back to the same shape", "[hf_config]") {
  LlamaConfig c = llama_config_from_hf(smollm2(), "m/config.json");
  for (bool bias : {false, true}) {
    c.qkv_bias = bias;
    c.tie_embeddings = !bias;
    const json j = hf_config_from_llama(c);
    REQUIRE(j.at("architectures")[0] == (bias ? "Qwen2ForCausalLM" : "LlamaForCausalLM"));
    REQUIRE(j.at("torch_dtype") == "float32");
    const LlamaConfig back = llama_config_from_hf(j, "export/config.json");
    REQUIRE(to_json(back) == to_json(c));
  }
}
