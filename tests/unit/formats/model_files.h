// Test support: a tiny Llama model (config, random HF-named tensors whose values are exact in
// F32, BF16 and F16) written as an HF directory (one file or shards), a llama.cpp-style GGUF
// (q/k rows permuted as convert_hf_to_gguf.py does) or a Retort weights file.
#pragma once
#include <nlohmann/json.hpp>

#include <cstring>
#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "core/checkpoint/gguf.h"
#include "tests/unit/formats/gguf_writer.h"
#include "tests/unit/formats/safetensors_image.h"

namespace retort::test {

using TensorMap = std::map<std::string, std::pair<std::vector<int64_t>, std::vector<float>>>;

// hidden 32, 2 heads of 16, 1 KV head, 2 layers, ffn 48, vocab 16.
inline nlohmann::json tiny_hf_config(const std::string& arch = "LlamaForCausalLM", bool tied = false) {
  return {{"architectures", {arch}}, {"hidden_size", 32}, {"intermediate_size", 48},
          {"num_hidden_layers", 2},  {"num_attention_heads", 2}, {"num_key_value_heads", 1},
          {"vocab_size", 16},        {"max_position_embeddings", 64}, {"rope_theta", 10000.0},
          {"rms_norm_eps", 1e-5},    {"tie_word_embeddings", tied}};
}

// The tensors of tiny_hf_config, written out by name here (not taken from the code under test).
// Values are k/64 for k in [-64, 64]: exact in BF16 and F16.
inline TensorMap tiny_tensors(bool tied, bool qkv_bias, uint32_t seed) {
  std::mt19937 g(seed);
  std::uniform_int_distribution<int> k(-64, 64);
  TensorMap t;
  auto add = [&](const std::string& name, std::vector<int64_t> shape) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    std::vector<float> v(static_cast<size_t>(n));
    for (float& x : v) x = static_cast<float>(k(g)) / 64.f;
    t[name] = {std::move(shape), std::move(v)};
  };
  add("model.embed_tokens.weight", {16, 32});
  for (int i = 0; i < 2; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    add(p + "input_layernorm.weight", {32});
    add(p + "self_attn.q_proj.weight", {32, 32});
    add(p + "self_attn.k_proj.weight", {16, 32});
    add(p + "self_attn.v_proj.weight", {16, 32});
    if (qkv_bias) {
      add(p + "self_attn.q_proj.bias", {32});
      add(p + "self_attn.k_proj.bias", {16});
      add(p + "self_attn.v_proj.bias", {16});
    }
    add(p + "self_attn.o_proj.weight", {32, 32});
    add(p + "post_attention_layernorm.weight", {32});
    add(p + "mlp.gate_proj.weight", {48, 32});
    add(p + "mlp.up_proj.weight", {48, 32});
    add(p + "mlp.down_proj.weight", {32, 48});
  }
  add("model.norm.weight", {32});
  if (!tied) add("lm_head.weight", {16, 32});
  return t;
}

// Half bits of a float that half represents exactly as a normal number or zero.
inline uint16_t exact_half_bits(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  if ((u & 0x7fffffffu) == 0) return static_cast<uint16_t>(u >> 16);
  return static_cast<uint16_t>(((u >> 16) & 0x8000u) | ((((u >> 23) & 0xffu) - 112) << 10) | ((u >> 13) & 0x3ffu));
}

// A safetensors image of `names` from `t` in dtype "F32", "BF16" or "F16".
inline std::vector<uint8_t> safetensors_image(const TensorMap& t, const std::vector<std::string>& names,
                                              const std::string& dtype,
                                              const std::map<std::string, std::string>& metadata = {}) {
  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::vector<uint8_t> data;
  for (const std::string& name : names) {
    const auto& [shape, v] = t.at(name);
    const size_t begin = data.size();
    for (float x : v) {
      if (dtype == "F32") {
        GgufWriter::put(data, x);
      } else {
        uint32_t u;
        std::memcpy(&u, &x, 4);
        GgufWriter::put(data, dtype == "BF16" ? static_cast<uint16_t>(u >> 16) : exact_half_bits(x));
      }
    }
    header[name] = {{"dtype", dtype}, {"shape", shape}, {"data_offsets", {begin, data.size()}}};
  }
  return safetensors_bytes(header, data);
}

inline void write_text(const std::filesystem::path& p, const std::string& s) {
  GgufWriter::write_bytes(p, std::vector<uint8_t>(s.begin(), s.end()));
}

// An HF model directory: config.json + model.safetensors, or `shards` > 1 files with an index.
inline void write_hf_dir(const std::filesystem::path& dir, const nlohmann::json& config, const TensorMap& t,
                         const std::string& dtype, int shards = 1) {
  std::filesystem::create_directories(dir);
  write_text(dir / "config.json", config.dump(2));
  std::vector<std::string> names;
  for (const auto& [name, _] : t) names.push_back(name);
  if (shards == 1) {
    GgufWriter::write_bytes(dir / "model.safetensors", safetensors_image(t, names, dtype));
    return;
  }
  nlohmann::json index = {{"metadata", {{"total_size", 0}}}, {"weight_map", nlohmann::json::object()}};
  for (int s = 0; s < shards; ++s) {
    char file[64];
    std::snprintf(file, sizeof file, "model-%05d-of-%05d.safetensors", s + 1, shards);
    std::vector<std::string> part;
    for (size_t k = static_cast<size_t>(s); k < names.size(); k += static_cast<size_t>(shards)) {
      part.push_back(names[k]);
      index["weight_map"][names[k]] = file;
    }
    GgufWriter::write_bytes(dir / file, safetensors_image(t, part, dtype));
  }
  write_text(dir / "model.safetensors.index.json", index.dump(2));
}

// llama.cpp's convert_hf_to_gguf.py LlamaModel.permute: view the rows as [n_head, 2, hd/2] and
// swap the last two axes, so GGUF row (h, i, s) is HF row (h, s, i).
inline std::vector<float> llama_cpp_permute(const std::vector<float>& w, int64_t n_head, int64_t cols) {
  const int64_t rows = static_cast<int64_t>(w.size()) / cols, half = rows / n_head / 2;
  std::vector<float> out(w.size());
  for (int64_t h = 0; h < n_head; ++h)
    for (int64_t i = 0; i < half; ++i)
      for (int64_t s = 0; s < 2; ++s)
        for (int64_t c = 0; c < cols; ++c)
          out[static_cast<size_t>(((h * half + i) * 2 + s) * cols + c)] =
              w[static_cast<size_t>(((h * 2 + s) * half + i) * cols + c)];
  return out;
}

// The tiny model as llama.cpp writes it (arch llama, F32 tensors, GGUF names, dims reversed).
inline GgufWriter tiny_gguf(const TensorMap& t, bool tied) {
  GgufWriter w;
  w.str("general.architecture", "llama");
  w.u32("llama.context_length", 64);
  w.u32("llama.embedding_length", 32);
  w.u32("llama.block_count", 2);
  w.u32("llama.feed_forward_length", 48);
  w.u32("llama.attention.head_count", 2);
  w.u32("llama.attention.head_count_kv", 1);
  w.f32("llama.rope.freq_base", 10000.f);
  w.f32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
  w.u32("llama.rope.dimension_count", 16);
  w.string_array("tokenizer.ggml.tokens", std::vector<std::string>(16, "t"));
  auto put = [&](const std::string& gguf_name, const std::string& hf, int64_t permute_heads = 0) {
    const auto& [shape, v] = t.at(hf);
    std::vector<uint64_t> dims(shape.rbegin(), shape.rend());
    const auto values = permute_heads ? llama_cpp_permute(v, permute_heads, shape[1]) : v;
    std::vector<uint8_t> bytes(values.size() * 4);
    std::memcpy(bytes.data(), values.data(), bytes.size());
    w.tensor(gguf_name, dims, core::ggml::F32, bytes);
  };
  put("token_embd.weight", "model.embed_tokens.weight");
  for (int i = 0; i < 2; ++i) {
    const std::string b = "blk." + std::to_string(i) + ".", p = "model.layers." + std::to_string(i) + ".";
    put(b + "attn_norm.weight", p + "input_layernorm.weight");
    put(b + "attn_q.weight", p + "self_attn.q_proj.weight", 2);
    put(b + "attn_k.weight", p + "self_attn.k_proj.weight", 1);
    put(b + "attn_v.weight", p + "self_attn.v_proj.weight");
    put(b + "attn_output.weight", p + "self_attn.o_proj.weight");
    put(b + "ffn_norm.weight", p + "post_attention_layernorm.weight");
    put(b + "ffn_gate.weight", p + "mlp.gate_proj.weight");
    put(b + "ffn_up.weight", p + "mlp.up_proj.weight");
    put(b + "ffn_down.weight", p + "mlp.down_proj.weight");
  }
  put("output_norm.weight", "model.norm.weight");
  if (!tied) put("output.weight", "lm_head.weight");
  return w;
}

}  // namespace retort::test
