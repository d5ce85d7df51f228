// tokenizer_for_export: find the files, verify the recorded hash, copy them, report bos/eos.
#include "core/lm/tokenizer_export.h"

#include <filesystem>
#include <fmt/format.h>
#include <vector>

#include "core/base/error.h"
#include "core/checkpoint/durable_io.h"
#include "core/checkpoint/safetensors.h"
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

// The metadata of a Retort weights file or checkpoint directory (empty for anything else).
std::map<std::string, std::string> retort_metadata(const fs::path& source) {
  fs::path weights;
  if (fs::is_directory(source) && fs::exists(source / "manifest.json")) weights = source / "model.safetensors";
  else if (source.extension() == ".safetensors") weights = source;
  if (weights.empty() || !fs::is_regular_file(weights)) return {};
  return parse_safetensors_any(read_file(weights.string()), weights.string()).metadata;
}

}  // namespace

TokenizerForExport tokenizer_for_export(const std::string& source) {
  const fs::path src(source);
  if (fs::is_directory(src) && !fs::exists(src / "manifest.json")) {
    auto files = files_of_dir(src);
    if (files.empty()) return {{}, "the source directory has no tokenizer files"};
    return copying(std::move(files), source, "tokenizer files of " + source);
  }
  if (src.extension() == ".gguf")
    return {{}, "the GGUF's tokenizer is not written as tokenizer.json (not implemented); use the GGUF as the tokenizer"};
  const auto meta = retort_metadata(src);
  const auto path = meta.find("retort.tokenizer");
  const auto hash = meta.find("retort.tokenizer_hash");
  if (path == meta.end() || hash == meta.end()) return {{}, "the weights record no tokenizer"};
  const fs::path tok(path->second);
  if (!fs::exists(tok)) return {{}, fmt::format("the recorded tokenizer {} no longer exists", tok.string())};
  const std::string now = fmt::format("{:016x}", open_tokenizer(tok.string())->content_hash());
  if (now != hash->second)
    RETORT_INPUT_ERROR(fmt::format("{}: the recorded tokenizer {} now has hash {}, the weights were trained with {}",
                                   source, tok.string(), now, hash->second));
  if (tok.extension() == ".gguf")
    return {{}, fmt::format("the training tokenizer is the GGUF {}; it is not written as tokenizer.json (not implemented)",
                            tok.string())};
  if (fs::is_directory(tok)) return copying(files_of_dir(tok), tok.string(), "tokenizer files of " + tok.string());
  return copying({tok}, tok.string(), "the training tokenizer " + tok.string());
}

}  // namespace retort::core
