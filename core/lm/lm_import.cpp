// import_lm: finds what kind of model `path` is, reads its config, and collects its tensors by
// HF name through one checker (no tensor missing, extra, duplicated or of the wrong shape).
#include "core/lm/lm_import.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>

#include "core/base/error.h"
#include "core/checkpoint/checkpoint.h"
#include "core/checkpoint/durable_io.h"
#include "core/checkpoint/gguf.h"
#include "core/checkpoint/safetensors.h"
#include "core/lm/hf_config.h"

namespace retort::core {
namespace fs = std::filesystem;
namespace {

std::string shape_text(const std::vector<int64_t>& s) { return nlohmann::json(s).dump(); }

nlohmann::json read_json(const std::string& path) {
  const auto bytes = read_file(path);
  try {
    return nlohmann::json::parse(bytes.begin(), bytes.end());
  } catch (const nlohmann::json::exception& e) {
    RETORT_INPUT_ERROR(fmt::format("{}: not valid JSON ({})", path, e.what()));
  }
}

// Collects tensors by HF name against the shapes the config implies. A tied model may also
// carry lm_head.weight (some exporters write both); it is accepted only when it equals the
// embedding, and dropped.
class Collector {
 public:
  explicit Collector(ImportedLm& out) : out_(out) {
    for (auto& [name, shape] : hf_tensor_shapes(out.config)) expected_.emplace(name, shape);
  }
  // `label` is the tensor as the file names it (the HF name, or "GGUF name (HF name)").
  void add(const std::string& name, const std::string& label, const std::vector<int64_t>& shape,
           const std::string& file, const std::function<std::vector<float>()>& values) {
    const bool tied_copy = name == "lm_head.weight" && out_.config.tie_embeddings;
    auto it = expected_.find(tied_copy ? "model.embed_tokens.weight" : name);
    if (it == expected_.end())
      RETORT_INPUT_ERROR(fmt::format("{}: unexpected tensor {} (not part of a model of this config)", file, label));
    if (shape != it->second)
      RETORT_INPUT_ERROR(fmt::format("{}: tensor {} has shape {}, the config needs {}", file, label,
                                     shape_text(shape), shape_text(it->second)));
    if (tied_copy) {
      if (!tied_head_file_.empty()) RETORT_INPUT_ERROR(fmt::format("{}: tensor {} appears twice", file, label));
      tied_head_ = values();
      tied_head_file_ = file;
      return;
    }
    if (!out_.tensors.emplace(name, values()).second)
      RETORT_INPUT_ERROR(fmt::format("{}: tensor {} appears twice", file, label));
  }
  void finish(const std::string& what) {
    for (const auto& [name, shape] : expected_)
      if (!out_.tensors.count(name))
        RETORT_INPUT_ERROR(fmt::format("{}: tensor {} is missing (the config needs shape {})", what, name,
                                       shape_text(shape)));
    if (!tied_head_file_.empty() && tied_head_ != out_.tensors.at("model.embed_tokens.weight"))
      RETORT_INPUT_ERROR(fmt::format("{}: tensor lm_head.weight differs from model.embed_tokens.weight but "
                                     "the embeddings are tied (tie_word_embeddings)", tied_head_file_));
  }

 private:
  ImportedLm& out_;
  std::map<std::string, std::vector<int64_t>> expected_;
  std::vector<float> tied_head_;
  std::string tied_head_file_;
};

// Every tensor of a parsed safetensors file into the collector; `skip` names tensors to ignore.
void collect_safetensors(Collector& c, const SafetensorsFile& file, const std::string& path,
                         const std::function<bool(const std::string&)>& skip) {
  for (const auto& [name, entry] : file.tensors) {
    if (skip(name)) continue;
    c.add(name, name, entry.shape, path, [&entry] { return tensor_to_float(entry); });
  }
}

// Buffers older transformers versions saved with the weights; they are recomputed, not read.
bool is_saved_buffer(const std::string& name) {
  const std::string suffix = "rotary_emb.inv_freq";
  return name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
}

ImportedLm import_hf_dir(const fs::path& dir) {
  ImportedLm out;
  out.kind = "hf";
  const std::string config_path = (dir / "config.json").string();
  out.config = llama_config_from_hf(read_json(config_path), config_path);
  Collector c(out);
  const fs::path single = dir / "model.safetensors", index = dir / "model.safetensors.index.json";
  if (fs::exists(index)) {
    const std::string index_path = index.string();
    const nlohmann::json j = read_json(index_path);
    std::map<std::string, std::string> weight_map;
    try {
      weight_map = j.at("weight_map").get<std::map<std::string, std::string>>();
    } catch (const nlohmann::json::exception& e) {
      RETORT_INPUT_ERROR(fmt::format("{}: weight_map: {}", index_path, e.what()));
    }
    std::set<std::string> shards;
    for (const auto& [name, shard] : weight_map) {
      if (shard.empty() || shard.find('/') != std::string::npos || shard == "." || shard == "..")
        RETORT_INPUT_ERROR(fmt::format("{}: tensor {}: shard '{}' is not a file name in the directory",
                                       index_path, name, shard));
      shards.insert(shard);
    }
    std::set<std::string> seen;
    for (const std::string& shard : shards) {
      const std::string shard_path = (dir / shard).string();
      const SafetensorsFile file = parse_safetensors_any(read_file(shard_path), shard_path);
      for (const auto& [name, entry] : file.tensors) {
        auto it = weight_map.find(name);
        if (!is_saved_buffer(name) && (it == weight_map.end() || it->second != shard))
          RETORT_INPUT_ERROR(fmt::format("{}: tensor {} is not listed for this shard in {}", shard_path, name,
                                         index_path));
        seen.insert(name);
      }
      collect_safetensors(c, file, shard_path, is_saved_buffer);
    }
    for (const auto& [name, shard] : weight_map)
      if (!seen.count(name))
        RETORT_INPUT_ERROR(fmt::format("{}: tensor {} is listed in shard {}, which does not hold it", index_path,
                                       name, shard));
    c.finish(index_path);
  } else if (fs::exists(single)) {
    const std::string path = single.string();
    collect_safetensors(c, parse_safetensors_any(read_file(path), path), path, is_saved_buffer);
    c.finish(path);
  } else {
    RETORT_INPUT_ERROR(fmt::format("{}: has config.json but neither model.safetensors nor "
                                   "model.safetensors.index.json", dir.string()));
  }
  return out;
}

// A Retort LM weights file: HF names, spec {"arch":"llama","llama":{...}} in retort.model.
ImportedLm import_retort_weights(const std::string& path, const std::string& kind) {
  const SafetensorsFile file = parse_safetensors_any(read_file(path), path);
  auto it = file.metadata.find("retort.model");
  if (it == file.metadata.end())
    RETORT_INPUT_ERROR(path + ": no retort.model metadata: not a Retort weights file (for a Hugging Face "
                              "model pass its directory, with config.json)");
  ImportedLm out;
  out.kind = kind;
  out.metadata = file.metadata;
  try {
    const nlohmann::json spec = nlohmann::json::parse(it->second);
    const std::string arch = spec.value("arch", "mlp");
    if (arch != "llama")
      RETORT_INPUT_ERROR(fmt::format("{}: a Retort {} weights file, not a language model (arch llama)", path, arch));
    out.config = llama_config_from_json(spec.at("llama"), path);
  } catch (const nlohmann::json::exception& e) {
    RETORT_INPUT_ERROR(fmt::format("{}: retort.model metadata: {}", path, e.what()));
  }
  Collector c(out);
  collect_safetensors(c, file, path, [](const std::string&) { return false; });
  c.finish(path);
  return out;
}

// llama.cpp stores q and k rows of each head interleaved for its RoPE: HF row s*hd/2 + i of a
// head is GGUF row 2i + s. rows [n_head * hd, cols] row-major, in place back to HF's order.
void unpermute_rope_rows(std::vector<float>& w, int64_t n_head, int64_t cols) {
  const int64_t rows = static_cast<int64_t>(w.size()) / cols, hd = rows / n_head;
  std::vector<float> src = w;
  for (int64_t h = 0; h < n_head; ++h)
    for (int64_t s = 0; s < 2; ++s)
      for (int64_t i = 0; i < hd / 2; ++i)
        std::memcpy(&w[static_cast<size_t>((h * hd + s * hd / 2 + i) * cols)],
                    &src[static_cast<size_t>((h * hd + 2 * i + s) * cols)], static_cast<size_t>(cols) * 4);
}

// GGUF tensor name -> HF name ("" when the name is not a Llama weight).
std::string hf_name_of_gguf(const std::string& name) {
  static const std::map<std::string, std::string> global = {{"token_embd.weight", "model.embed_tokens.weight"},
                                                            {"output_norm.weight", "model.norm.weight"},
                                                            {"output.weight", "lm_head.weight"}};
  static const std::map<std::string, std::string> per_layer = {
      {"attn_norm.weight", "input_layernorm.weight"},  {"attn_q.weight", "self_attn.q_proj.weight"},
      {"attn_k.weight", "self_attn.k_proj.weight"},    {"attn_v.weight", "self_attn.v_proj.weight"},
      {"attn_output.weight", "self_attn.o_proj.weight"}, {"ffn_norm.weight", "post_attention_layernorm.weight"},
      {"ffn_gate.weight", "mlp.gate_proj.weight"},     {"ffn_up.weight", "mlp.up_proj.weight"},
      {"ffn_down.weight", "mlp.down_proj.weight"}};
  if (auto it = global.find(name); it != global.end()) return it->second;
  if (name.rfind("blk.", 0) != 0) return "";
  const size_t dot = name.find('.', 4);
  if (dot == std::string::npos || dot == 4) return "";
  const std::string layer = name.substr(4, dot - 4);
  if (layer.find_first_not_of("0123456789") != std::string::npos || (layer.size() > 1 && layer[0] == '0')) return "";
  auto it = per_layer.find(name.substr(dot + 1));
  return it == per_layer.end() ? "" : "model.layers." + layer + "." + it->second;
}

ImportedLm import_gguf(const std::string& path) {
  const GgufFile f = open_gguf(path);
  ImportedLm out;
  out.kind = "gguf";
  out.config = llama_config_from_gguf(f);
  Collector c(out);
  for (const GgufTensorInfo& t : f.tensors()) {
    if (t.name == "rope_freqs.weight")
      RETORT_INPUT_ERROR(path + ": tensor rope_freqs.weight (RoPE frequency factors, i.e. scaled RoPE) is not "
                                "supported");
    const std::string hf = hf_name_of_gguf(t.name);
    if (hf.empty()) RETORT_INPUT_ERROR(fmt::format("{}: unexpected tensor {} (not a llama weight)", path, t.name));
    const bool is_q = hf.ends_with("q_proj.weight"), is_k = hf.ends_with("k_proj.weight");
    c.add(hf, t.name + " (" + hf + ")", t.shape(), path, [&] {
      std::vector<float> v = f.dequantize(t);
      if (is_q) unpermute_rope_rows(v, out.config.n_heads, out.config.dim);
      if (is_k) unpermute_rope_rows(v, out.config.n_kv_heads, out.config.dim);
      return v;
    });
  }
  c.finish(path);
  return out;
}

}  // namespace

std::vector<std::pair<std::string, std::vector<int64_t>>> hf_tensor_shapes(const LlamaConfig& c) {
  std::vector<std::pair<std::string, std::vector<int64_t>>> out;
  const int64_t d = c.dim, q = c.n_heads * c.head_dim(), kv = c.kv_dim();
  out.push_back({"model.embed_tokens.weight", {c.vocab_size, d}});
  for (int64_t i = 0; i < c.n_layers; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    out.push_back({p + "input_layernorm.weight", {d}});
    out.push_back({p + "self_attn.q_proj.weight", {q, d}});
    if (c.qkv_bias) out.push_back({p + "self_attn.q_proj.bias", {q}});
    out.push_back({p + "self_attn.k_proj.weight", {kv, d}});
    if (c.qkv_bias) out.push_back({p + "self_attn.k_proj.bias", {kv}});
    out.push_back({p + "self_attn.v_proj.weight", {kv, d}});
    if (c.qkv_bias) out.push_back({p + "self_attn.v_proj.bias", {kv}});
    out.push_back({p + "self_attn.o_proj.weight", {d, q}});
    out.push_back({p + "post_attention_layernorm.weight", {d}});
    out.push_back({p + "mlp.gate_proj.weight", {c.ffn_dim, d}});
    out.push_back({p + "mlp.up_proj.weight", {c.ffn_dim, d}});
    out.push_back({p + "mlp.down_proj.weight", {d, c.ffn_dim}});
  }
  out.push_back({"model.norm.weight", {d}});
  if (!c.tie_embeddings) out.push_back({"lm_head.weight", {c.vocab_size, d}});
  return out;
}

LlamaConfig llama_config_from_gguf(const GgufFile& f) {
  const std::string arch = f.get_string("general.architecture");
  if (arch != "llama")
    RETORT_INPUT_ERROR(fmt::format("{}: unknown architecture {} (general.architecture; Retort imports llama)",
                                   f.path(), arch));
  LlamaConfig c;
  auto count = [&](const std::string& key) { return static_cast<int64_t>(f.get_u64("llama." + key)); };
  c.dim = count("embedding_length");
  c.n_layers = count("block_count");
  c.ffn_dim = count("feed_forward_length");
  c.n_heads = count("attention.head_count");
  c.n_kv_heads = f.find("llama.attention.head_count_kv") ? count("attention.head_count_kv") : c.n_heads;
  c.max_seq_len = count("context_length");
  if (f.find("llama.rope.freq_base")) c.rope_theta = f.get_f64("llama.rope.freq_base");
  if (f.find("llama.attention.layer_norm_rms_epsilon"))
    c.norm_eps = f.get_f64("llama.attention.layer_norm_rms_epsilon");
  if (f.find("llama.vocab_size")) {
    c.vocab_size = count("vocab_size");
  } else if (const GgufTensorInfo* e = f.find_tensor("token_embd.weight"); e && e->dims.size() == 2) {
    c.vocab_size = static_cast<int64_t>(e->dims[1]);
  } else {
    RETORT_INPUT_ERROR(f.path() + ": no llama.vocab_size and no 2-D token_embd.weight to take it from");
  }
  c.tie_embeddings = f.find_tensor("output.weight") == nullptr;
  if (const GgufValue* s = f.find("llama.rope.scaling.type"); s && !(s->type == GgufType::string && s->s == "none"))
    RETORT_INPUT_ERROR(fmt::format("{}: llama.rope.scaling.type {} is not supported (Retort's RoPE is unscaled)",
                                   f.path(), s->type == GgufType::string ? s->s : gguf_type_name(s->type)));
  if (f.find("llama.rope.scaling.factor") && f.get_f64("llama.rope.scaling.factor") != 1.0)
    RETORT_INPUT_ERROR(f.path() + ": llama.rope.scaling.factor other than 1 is not supported");
  validate(c, f.path());
  if (f.find("llama.rope.dimension_count") && count("rope.dimension_count") != c.head_dim())
    RETORT_INPUT_ERROR(fmt::format("{}: llama.rope.dimension_count {} differs from the head size {} (partial "
                                   "rotary embeddings are not supported)", f.path(), count("rope.dimension_count"),
                                   c.head_dim()));
  return c;
}

ImportedLm import_lm(const std::string& path) {
  fs::path p(path);
  if (p.filename() == "manifest.json") p = p.parent_path();
  if (fs::is_directory(p)) {
    if (fs::exists(p / "config.json")) return import_hf_dir(p);
    if (fs::exists(p / "manifest.json")) {
      read_verified_manifest(p.string());
      return import_retort_weights((p / "model.safetensors").string(), "retort-checkpoint");
    }
    RETORT_INPUT_ERROR(path + ": a directory with neither config.json (a Hugging Face model) nor manifest.json "
                              "(a Retort checkpoint)");
  }
  if (!fs::exists(p)) RETORT_INPUT_ERROR(path + ": no such file or directory");
  char magic[4] = {};
  std::ifstream(path, std::ios::binary).read(magic, 4);
  if (std::memcmp(magic, "GGUF", 4) == 0 || p.extension() == ".gguf") return import_gguf(path);
  if (p.extension() == ".safetensors") return import_retort_weights(path, "retort");
  RETORT_INPUT_ERROR(path + ": not a model (expected a Hugging Face directory, a .gguf file, a Retort "
                            ".safetensors weights file or checkpoint directory)");
}

}  // namespace retort::core
