// The tokenizer of a model source: its hash, and for export the files to copy (the recorded hash
// verified) and the bos/eos ids.
#include "core/lm/tokenizer_export.h"

#include <filesystem>
#include <fmt/format.h>
#include <vector>

#include "core/base/error.h"
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
  if (lm.kind == "gguf")
    return {{}, "the GGUF's tokenizer is not written as tokenizer.json (not implemented); use the GGUF as the tokenizer"};
  const std::string path = recorded(lm, "retort.tokenizer"), hash = recorded(lm, "retort.tokenizer_hash");
  if (path.empty() || hash.empty()) return {{}, "the weights record no tokenizer"};
  const fs::path tok(path);
  if (!fs::exists(tok)) return {{}, fmt::format("the recorded tokenizer {} no longer exists", path)};
  const std::string now = fmt::format("{:016x}", open_tokenizer(path)->content_hash());
  if (now != hash)
    RETORT_INPUT_ERROR(fmt::format("{}: the recorded tokenizer {} now has hash {}, the weights were trained with {}",
                                   source, path, now, hash));
  if (tok.extension() == ".gguf")
    return {{}, fmt::format("the training tokenizer is the GGUF {}; it is not written as tokenizer.json (not implemented)",
                            path)};
  if (fs::is_directory(tok)) return copying(files_of_dir(tok), path, "tokenizer files of " + path);
  return copying({tok}, path, "the training tokenizer " + path);
}

}  // namespace retort::core
