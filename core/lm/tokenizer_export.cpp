// The tokenizer of a model source: its hash, and for export the files to copy (the recorded hash
// verified) or, for a GGUF's byte-level BPE, a tokenizer.json + tokenizer_config.json written from
// its tokenizer.ggml.* metadata; and the bos/eos ids.
#include "core/lm/tokenizer_export.h"

#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <vector>

#include "core/base/error.h"
#include "core/checkpoint/gguf.h"
#include "core/text/gguf_tokenizer.h"
#include "core/text/tokenizer.h"

namespace retort::core {
namespace fs = std::filesystem;
namespace {

// The tokenizer files HF loaders read next to a model.
constexpr const char* kTokenizerFiles[] = {"tokenizer.json", "tokenizer.model", "tokenizer_config.json",
                                           "special_tokens_map.json", "generation_config.json"};

std::vector<fs::path> files_of_dir(const fs::path& dir) {
  std::vector<fs::path> files;
  for (const char* name : kTokenizerFiles)
    if (fs::is_regular_file(dir / name)) files.push_back(dir / name);
  return files;
}

TokenizerForExport copying(std::vector<fs::path> files, const std::string& tokenizer_path, const std::string& note) {
  TokenizerForExport t;
  t.note = note;
  t.write = [files, tokenizer_path](const std::string& out_dir) {
    for (const auto& f : files) fs::copy_file(f, fs::path(out_dir) / f.filename(), fs::copy_options::overwrite_existing);
    const auto tok = open_tokenizer(tokenizer_path);
    nlohmann::json fields = nlohmann::json::object();
    if (tok->bos_id() >= 0) fields["bos_token_id"] = tok->bos_id();
    if (tok->eos_id() >= 0) fields["eos_token_id"] = tok->eos_id();
    return fields;
  };
  return t;
}

// The Hugging Face pre_tokenizer that `read_hf_tokenizer_json` turns back into `steps`: Digits /
// Split (Isolated) per split step, the GPT-2 split (with a prefix space before it) as
// ByteLevel(use_regex), and a ByteLevel without a regex last when no step was one.
nlohmann::json hf_pre_tokenizer(const std::vector<PreTokenizeStep>& steps, const std::string& what) {
  using K = PreTokenizeStep::Kind;
  nlohmann::json list = nlohmann::json::array();
  auto byte_level = [](bool prefix, bool regex) {
    return nlohmann::json{{"type", "ByteLevel"}, {"add_prefix_space", prefix}, {"trim_offsets", true}, {"use_regex", regex}};
  };
  bool closed = false;
  for (size_t i = 0; i < steps.size(); ++i) {
    const PreTokenizeStep& s = steps[i];
    if (closed) RETORT_INPUT_ERROR(what + ": a pre-tokenizer step after the GPT-2 split has no tokenizer.json form");
    const bool gpt2_next = i + 1 < steps.size() && steps[i + 1].kind == K::split_regex && steps[i + 1].pattern == kGpt2SplitPattern;
    if (s.kind == K::prefix_space) {
      list.push_back(byte_level(true, gpt2_next));
      closed = true;
      i += gpt2_next;
    } else if (s.kind == K::split_regex && s.pattern == kGpt2SplitPattern) {
      list.push_back(byte_level(false, true));
      closed = true;
    } else if (s.kind == K::split_regex && (s.pattern == "\\p{N}" || s.pattern == "\\p{N}+")) {
      list.push_back({{"type", "Digits"}, {"individual_digits", s.pattern == "\\p{N}"}});
    } else {
      list.push_back({{"type", "Split"},
                      {"pattern", {{s.kind == K::split_regex ? "Regex" : "String", s.pattern}}},
                      {"behavior", "Isolated"},
                      {"invert", false}});
    }
  }
  if (!closed) list.push_back(byte_level(false, false));
  return {{"type", "Sequence"}, {"pretokenizers", list}};
}

// tokenizer.json (and the bos/eos/chat template in tokenizer_config.json) of the GGUF's tokenizer.
TokenizerForExport gguf_tokenizer_json(const std::string& path) {
  TokenizerForExport t;
  t.note = "tokenizer.json written from the GGUF's tokenizer.ggml.* (byte-level BPE) of " + path;
  t.write = [path](const std::string& out_dir) {
    const GgufFile gguf = open_gguf(path);
    const ByteBpeSpec spec = read_gguf_tokenizer(gguf);
    if (gguf.find("tokenizer.ggml.add_bos_token") && gguf.get_bool("tokenizer.ggml.add_bos_token"))
      RETORT_INPUT_ERROR(path + ": tokenizer.ggml.add_bos_token is true; a tokenizer.json post-processor adding it is not written");
    nlohmann::json vocab = nlohmann::json::object();
    for (size_t id = 0; id < spec.vocab.size(); ++id) {
      if (spec.vocab[id].empty()) RETORT_INPUT_ERROR(fmt::format("{}: token {} is empty (no tokenizer.json form)", path, id));
      if (vocab.contains(spec.vocab[id]))
        RETORT_INPUT_ERROR(fmt::format("{}: token {} repeats the text of token {}", path, id, vocab[spec.vocab[id]].get<size_t>()));
      vocab[spec.vocab[id]] = id;
    }
    nlohmann::json merges = nlohmann::json::array();
    for (const BpeMerge& m : spec.merges)  // "a b" (every tokenizers version reads it), [a, b] when a piece holds a space
      merges.push_back(m.left.find(' ') == std::string::npos && m.right.find(' ') == std::string::npos
                           ? nlohmann::json(m.left + " " + m.right)
                           : nlohmann::json::array({m.left, m.right}));
    nlohmann::json added = nlohmann::json::array();
    for (const AddedToken& a : spec.added)
      added.push_back({{"id", a.id}, {"content", a.content}, {"single_word", false}, {"lstrip", false}, {"rstrip", false},
                       {"normalized", a.normalized}, {"special", a.special}});
    const nlohmann::json root = {
        {"version", "1.0"},
        {"truncation", nullptr},
        {"padding", nullptr},
        {"added_tokens", added},
        {"normalizer", nullptr},
        {"pre_tokenizer", hf_pre_tokenizer(spec.pre_tokenizer, path)},
        {"post_processor", nullptr},
        {"decoder", {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true}, {"use_regex", true}}},
        {"model",
         {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", spec.unk_id >= 0 ? nlohmann::json(spec.vocab[spec.unk_id]) : nlohmann::json()},
          {"continuing_subword_prefix", nullptr}, {"end_of_word_suffix", nullptr}, {"fuse_unk", false},
          {"byte_fallback", false}, {"ignore_merges", spec.ignore_merges}, {"vocab", vocab}, {"merges", merges}}}};
    nlohmann::json config = {{"tokenizer_class", "GPT2Tokenizer"}, {"clean_up_tokenization_spaces", false},
                             {"add_bos_token", false}, {"add_eos_token", false}};
    if (spec.bos_id >= 0) config["bos_token"] = spec.vocab[spec.bos_id];
    if (spec.eos_id >= 0) config["eos_token"] = spec.vocab[spec.eos_id];
    if (spec.unk_id >= 0) config["unk_token"] = spec.vocab[spec.unk_id];
    if (gguf.find("tokenizer.chat_template")) config["chat_template"] = gguf.get_string("tokenizer.chat_template");
    for (const auto& [name, j] : {std::pair{"tokenizer.json", root}, std::pair{"tokenizer_config.json", config}}) {
      const fs::path file = fs::path(out_dir) / name;
      std::ofstream out(file);
      if (!(out << j.dump(2) << "\n")) RETORT_RUNTIME_ERROR("cannot write " + file.string());
    }
    // The written tokenizer must be the GGUF's (read back: the same content hash).
    const uint64_t want = ByteBpeTokenizer(spec).content_hash(), got = open_tokenizer(out_dir)->content_hash();
    if (got != want)
      RETORT_RUNTIME_ERROR(fmt::format("{}: the tokenizer.json written reads back with hash {:016x}, the GGUF's is {:016x}",
                                       out_dir, got, want));
    nlohmann::json fields = nlohmann::json::object();
    if (spec.bos_id >= 0) fields["bos_token_id"] = spec.bos_id;
    if (spec.eos_id >= 0) fields["eos_token_id"] = spec.eos_id;
    return fields;
  };
  return t;
}

bool hf_dir_with_tokenizer(const fs::path& dir) {
  return fs::exists(dir / "tokenizer.json") || fs::exists(dir / "tokenizer.model");
}

std::string recorded(const ImportedLm& lm, const char* key) {
  const auto it = lm.metadata.find(key);
  return it == lm.metadata.end() ? "" : it->second;
}

}  // namespace

std::string model_tokenizer_hash(const std::string& source, const ImportedLm& lm) {
  if ((lm.kind == "hf" && hf_dir_with_tokenizer(source)) || lm.kind == "gguf")
    return fmt::format("{:016x}", open_tokenizer(source)->content_hash());
  return recorded(lm, "retort.tokenizer_hash");
}

TokenizerForExport tokenizer_for_export(const std::string& source, const ImportedLm& lm) {
  if (lm.kind == "hf") {
    auto files = files_of_dir(source);
    if (files.empty()) return {{}, "the source directory has no tokenizer files"};
    return copying(std::move(files), source, "tokenizer files of " + source);
  }
  if (lm.kind == "gguf") return gguf_tokenizer_json(source);
  const std::string path = recorded(lm, "retort.tokenizer"), hash = recorded(lm, "retort.tokenizer_hash");
  if (path.empty() || hash.empty()) return {{}, "the weights record no tokenizer"};
  const fs::path tok(path);
  if (!fs::exists(tok)) return {{}, fmt::format("the recorded tokenizer {} no longer exists", path)};
  const std::string now = fmt::format("{:016x}", open_tokenizer(path)->content_hash());
  if (now != hash)
    RETORT_INPUT_ERROR(fmt::format("{}: the recorded tokenizer {} now has hash {}, the weights were trained with {}",
                                   source, path, now, hash));
  if (tok.extension() == ".gguf") return gguf_tokenizer_json(path);
  if (fs::is_directory(tok)) return copying(files_of_dir(tok), path, "tokenizer files of " + path);
  return copying({tok}, path, "the training tokenizer " + path);
}

}  // namespace retort::core
