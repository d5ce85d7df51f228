// tokenizer.ggml.* -> ByteBpeSpec.
#include "core/text/gguf_tokenizer.h"

#include <set>

#include "core/base/error.h"

namespace retort::core {
namespace {

// llama.cpp's GPT-2 split (the same as kGpt2SplitPattern but for the trailing "\s+", which
// splits nothing differently: llama.cpp keeps unmatched text as pieces too).
constexpr const char* kLlama3 =
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
constexpr const char* kQwen2 =
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

// GGUF token types (llama.cpp's llama_token_type).
constexpr int32_t kControl = 3, kUserDefined = 4;

}  // namespace

std::vector<PreTokenizeStep> gguf_pre_tokenizer(const std::string& pre, const std::string& what) {
  using K = PreTokenizeStep::Kind;
  static const std::set<std::string> gpt2{"gpt2", "mpt", "olmo", "jais"};
  static const std::set<std::string> smollm{"smollm", "starcoder", "refact", "command-r", "codeshell", "exaone", "minerva-7b"};
  static const std::set<std::string> llama3{"llama-bpe", "llama3", "dbrx", "smaug-bpe"};
  static const std::set<std::string> qwen2{"qwen2", "stablelm2"};
  if (gpt2.contains(pre)) return {{K::split_regex, kGpt2SplitPattern}};
  if (smollm.contains(pre)) return {{K::split_regex, "\\p{N}"}, {K::split_regex, kGpt2SplitPattern}};
  if (llama3.contains(pre)) return {{K::split_regex, kLlama3}};
  if (qwen2.contains(pre)) return {{K::split_regex, kQwen2}};
  RETORT_INPUT_ERROR(what + ": tokenizer.ggml.pre '" + pre +
                     "' is not supported (gpt2, smollm, llama-bpe, qwen2 and their aliases are)");
}

ByteBpeSpec read_gguf_tokenizer(const GgufFile& file) {
  const std::string& what = file.path();
  const std::string model = file.get_string("tokenizer.ggml.model");
  if (model != "gpt2")
    RETORT_INPUT_ERROR(what + ": tokenizer.ggml.model '" + model + "' is not supported (only gpt2, byte-level BPE)");
  ByteBpeSpec spec;
  spec.source = what;
  spec.vocab = file.get_string_array("tokenizer.ggml.tokens");
  const std::vector<std::string> merges = file.get_string_array("tokenizer.ggml.merges");
  spec.merges.reserve(merges.size());
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const std::string& s = merges[rank];
    const size_t space = s.find(' ');
    if (space == std::string::npos || s.find(' ', space + 1) != std::string::npos)
      RETORT_INPUT_ERROR(what + ": tokenizer.ggml.merges[" + std::to_string(rank) + "] '" + s + "' is not 'a b'");
    spec.merges.push_back({s.substr(0, space), s.substr(space + 1)});
  }
  if (file.find("tokenizer.ggml.token_type")) {
    const std::vector<int32_t> types = file.get_i32_array("tokenizer.ggml.token_type");
    if (types.size() != spec.vocab.size())
      RETORT_INPUT_ERROR(what + ": tokenizer.ggml.token_type has " + std::to_string(types.size()) + " entries for " +
                         std::to_string(spec.vocab.size()) + " tokens");
    for (size_t id = 0; id < types.size(); ++id)
      if (types[id] == kControl || types[id] == kUserDefined)
        spec.added.push_back({spec.vocab[id], static_cast<int32_t>(id), true, false});
  }
  spec.pre_tokenizer = gguf_pre_tokenizer(file.get_string("tokenizer.ggml.pre"), what);
  spec.ignore_merges = spec.pre_tokenizer.size() == 1 && spec.pre_tokenizer[0].pattern == kLlama3;
  const auto id_key = [&](const char* key) {
    return file.find(key) ? static_cast<int32_t>(file.get_i64(key)) : -1;
  };
  spec.bos_id = id_key("tokenizer.ggml.bos_token_id");
  spec.eos_id = id_key("tokenizer.ggml.eos_token_id");
  return spec;
}

}  // namespace retort::core
