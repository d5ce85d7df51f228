// tokenizer.json -> ByteBpeSpec: model (BPE), added_tokens, normalizer (none), pre_tokenizer
// (Sequence of Split/Digits/ByteLevel), decoder (ByteLevel).
#include "core/text/hf_tokenizer_json.h"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/base/error.h"
#include "core/base/json_int.h"

namespace retort::core {
namespace {

using nlohmann::json;

json read_json(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) RETORT_INPUT_ERROR(path + ": cannot open");
  try {
    return json::parse(in);
  } catch (const json::exception& e) {
    RETORT_INPUT_ERROR(path + ": not valid JSON (" + std::string(e.what()) + ")");
  }
}

bool is_null_or(const json& j, const char* key, const json& value) {
  return !j.contains(key) || j[key].is_null() || j[key] == value;
}

void add_pre_tokenizer(const json& p, const std::string& path, std::vector<PreTokenizeStep>& steps, bool& byte_level) {
  if (!p.is_object() || !p.contains("type") || !p["type"].is_string())
    RETORT_INPUT_ERROR(path + ": pre_tokenizer entry without a type");
  const std::string type = p["type"];
  if (byte_level) RETORT_INPUT_ERROR(path + ": pre_tokenizer " + type + " after ByteLevel is not supported");
  if (type == "Sequence") {
    if (!p.contains("pretokenizers") || !p["pretokenizers"].is_array())
      RETORT_INPUT_ERROR(path + ": pre_tokenizer Sequence without a pretokenizers array");
    for (const json& q : p["pretokenizers"]) add_pre_tokenizer(q, path, steps, byte_level);
  } else if (type == "ByteLevel") {
    if (p.value("add_prefix_space", false)) steps.push_back({PreTokenizeStep::Kind::prefix_space, ""});
    if (p.value("use_regex", true)) steps.push_back({PreTokenizeStep::Kind::split_regex, kGpt2SplitPattern});
    byte_level = true;
  } else if (type == "Split") {
    const std::string behavior = p.value("behavior", "");
    if (behavior != "Isolated")
      RETORT_INPUT_ERROR(path + ": pre_tokenizer Split behavior '" + behavior + "' is not supported (only Isolated)");
    if (p.value("invert", false)) RETORT_INPUT_ERROR(path + ": pre_tokenizer Split with invert: true is not supported");
    const json& pattern = p.value("pattern", json());
    if (pattern.contains("Regex") && pattern["Regex"].is_string()) {
      steps.push_back({PreTokenizeStep::Kind::split_regex, pattern["Regex"]});
    } else if (pattern.contains("String") && pattern["String"].is_string()) {
      steps.push_back({PreTokenizeStep::Kind::split_literal, pattern["String"]});
    } else {
      RETORT_INPUT_ERROR(path + ": pre_tokenizer Split needs a pattern {\"Regex\": ...} or {\"String\": ...}");
    }
  } else if (type == "Digits") {
    steps.push_back({PreTokenizeStep::Kind::split_regex, p.value("individual_digits", false) ? "\\p{N}" : "\\p{N}+"});
  } else {
    RETORT_INPUT_ERROR(path + ": pre_tokenizer " + type + " is not supported (Sequence, Split, Digits, ByteLevel are)");
  }
}

void check_decoder(const json& d, const std::string& path) {
  if (d.is_null()) return;
  const std::string type = d.value("type", "");
  if (type == "ByteLevel") return;
  if (type == "Sequence" && d.contains("decoders") && d["decoders"].is_array()) {
    for (const json& e : d["decoders"]) check_decoder(e, path);
    return;
  }
  RETORT_INPUT_ERROR(path + ": decoder " + (type.empty() ? std::string("without a type") : type) +
                     " is not supported (only ByteLevel)");
}

std::string token_content(const json& j) {
  if (j.is_string()) return j.get<std::string>();
  if (j.is_object() && j.contains("content") && j["content"].is_string()) return j["content"];
  return "";
}

int32_t id_of(const ByteBpeSpec& spec, const std::string& content) {
  if (content.empty()) return -1;
  for (const AddedToken& t : spec.added)
    if (t.content == content) return t.id;
  for (size_t id = 0; id < spec.vocab.size(); ++id)
    if (spec.vocab[id] == content) return static_cast<int32_t>(id);
  return -1;
}

void find_bos_eos(const std::string& path, ByteBpeSpec& spec) {
  const auto config = std::filesystem::path(path).parent_path() / "tokenizer_config.json";
  if (std::filesystem::exists(config)) {
    const json c = read_json(config.string());
    if (c.contains("bos_token")) spec.bos_id = id_of(spec, token_content(c["bos_token"]));
    if (c.contains("eos_token")) spec.eos_id = id_of(spec, token_content(c["eos_token"]));
    return;
  }
  for (const char* name : {"<|begin_of_text|>", "<s>", "<|im_start|>"}) {
    if (spec.bos_id < 0) spec.bos_id = id_of(spec, name);
  }
  for (const char* name : {"<|endoftext|>", "<|end_of_text|>", "</s>", "<|im_end|>"}) {
    if (spec.eos_id < 0) spec.eos_id = id_of(spec, name);
  }
}

ByteBpeSpec spec_from_json(const json& root, const std::string& path) {
  if (!root.is_object() || !root.contains("model") || !root["model"].is_object())
    RETORT_INPUT_ERROR(path + ": not a tokenizer.json (no model object)");
  ByteBpeSpec spec;
  spec.source = path;
  const json& model = root["model"];
  const std::string type = model.value("type", model.contains("merges") ? "BPE" : "");
  if (type != "BPE")
    RETORT_INPUT_ERROR(path + ": model type " + (type.empty() ? std::string("(none)") : type) +
                       " is not supported (only byte-level BPE; use a SentencePiece .model for Unigram)");
  if (!is_null_or(model, "dropout", json())) RETORT_INPUT_ERROR(path + ": BPE dropout is not supported");
  if (!is_null_or(model, "continuing_subword_prefix", "") || !is_null_or(model, "end_of_word_suffix", ""))
    RETORT_INPUT_ERROR(path + ": BPE continuing_subword_prefix/end_of_word_suffix are not supported");
  if (model.value("byte_fallback", false)) RETORT_INPUT_ERROR(path + ": BPE byte_fallback is not supported");
  spec.ignore_merges = model.value("ignore_merges", false);

  if (!model.contains("vocab") || !model["vocab"].is_object()) RETORT_INPUT_ERROR(path + ": model.vocab is not an object");
  // The id table is sized by the largest id, so ids may leave gaps (added tokens fill some) but
  // stay within kIdSlack of the file's own entries: a 1 KB file cannot ask for gigabytes.
  constexpr int64_t kIdSlack = 65536;
  const json added_tokens = root.value("added_tokens", json::array());
  const int64_t id_limit =
      static_cast<int64_t>(model["vocab"].size() + (added_tokens.is_array() ? added_tokens.size() : 0)) + kIdSlack;
  for (const auto& [token, id_json] : model["vocab"].items()) {
    const int64_t listed_id = id_json.is_number_integer() ? id_json.get<int64_t>() : -1;
    if (listed_id < 0) RETORT_INPUT_ERROR(path + ": model.vocab['" + token + "'] is not a valid id");
    if (listed_id >= id_limit)
      RETORT_INPUT_ERROR(path + ": model.vocab['" + token + "'] has id " + std::to_string(listed_id) + ", beyond " +
                         std::to_string(id_limit) + " (the entries of model.vocab and added_tokens + " +
                         std::to_string(kIdSlack) + ")");
    const auto id = static_cast<size_t>(listed_id);
    if (id >= spec.vocab.size()) spec.vocab.resize(id + 1);
    if (!spec.vocab[id].empty()) RETORT_INPUT_ERROR(path + ": model.vocab id " + std::to_string(id) + " is used twice");
    if (token.empty()) RETORT_INPUT_ERROR(path + ": model.vocab holds an empty token");
    spec.vocab[id] = token;
  }
  if (!model.contains("merges") || !model["merges"].is_array()) RETORT_INPUT_ERROR(path + ": model.merges is not an array");
  const json& merges = model["merges"];
  spec.merges.reserve(merges.size());
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const json& m = merges[rank];
    if (m.is_string()) {
      const std::string s = m;
      const size_t space = s.find(' ');
      if (space == std::string::npos || s.find(' ', space + 1) != std::string::npos)
        RETORT_INPUT_ERROR(path + ": merge " + std::to_string(rank) + " '" + s + "' is not of the form 'a b'");
      spec.merges.push_back({s.substr(0, space), s.substr(space + 1)});
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      spec.merges.push_back({m[0], m[1]});
    } else {
      RETORT_INPUT_ERROR(path + ": merge " + std::to_string(rank) + " is neither 'a b' nor [a, b]");
    }
  }
  if (model.contains("unk_token") && model["unk_token"].is_string()) {
    const std::string unk = model["unk_token"];
    for (size_t id = 0; id < spec.vocab.size(); ++id)
      if (spec.vocab[id] == unk) spec.unk_id = static_cast<int32_t>(id);
  }

  if (root.contains("normalizer") && !root["normalizer"].is_null())
    RETORT_INPUT_ERROR(path + ": normalizer " + root["normalizer"].value("type", std::string("?")) +
                       " is not supported (only none)");
  bool byte_level = false;
  if (root.contains("pre_tokenizer") && !root["pre_tokenizer"].is_null())
    add_pre_tokenizer(root["pre_tokenizer"], path, spec.pre_tokenizer, byte_level);
  if (!byte_level) RETORT_INPUT_ERROR(path + ": no ByteLevel pre_tokenizer (only byte-level BPE is supported)");
  check_decoder(root.value("decoder", json()), path);

  for (const json& t : added_tokens) {
    const std::string content = t.value("content", "");
    if (content.empty() || !t.contains("id")) RETORT_INPUT_ERROR(path + ": added_tokens entry without content or id");
    for (const char* flag : {"single_word", "lstrip", "rstrip"})
      if (t.value(flag, false))
        RETORT_INPUT_ERROR(path + ": added token '" + content + "' sets " + flag + ", which is not supported");
    spec.added.push_back({content, static_cast<int32_t>(json_int64(t["id"])), t.value("special", false), t.value("normalized", false)});
  }
  find_bos_eos(path, spec);
  return spec;
}

}  // namespace

ByteBpeSpec read_hf_tokenizer_json(const std::string& path) {
  const json root = read_json(path);
  try {
    return spec_from_json(root, path);
  } catch (const json::exception& e) {  // a field of the wrong type (e.g. "type": null): bad input, named
    RETORT_INPUT_ERROR(path + ": unexpected field type (" + std::string(e.what()) + ")");
  }
}

}  // namespace retort::core
