// open_tokenizer: the tokenizer kind from the path (extension, directory contents, magic).
#include "core/text/tokenizer.h"

#include <filesystem>
#include <fstream>

#include "core/base/error.h"
#include "core/checkpoint/gguf.h"
#include "core/text/byte_bpe_tokenizer.h"
#include "core/text/gguf_tokenizer.h"
#include "core/text/hf_tokenizer_json.h"
#include "core/text/sentencepiece_tokenizer.h"

namespace retort::core {
namespace {

bool starts_with_gguf_magic(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {};
  return in.read(magic, 4) && std::string_view(magic, 4) == "GGUF";
}

}  // namespace

const char* tokenizer_kind_name(TokenizerKind kind) {
  return kind == TokenizerKind::sentencepiece ? "sentencepiece" : "byte_level_bpe";
}

std::unique_ptr<Tokenizer> open_tokenizer(const std::string& path) {
  namespace fs = std::filesystem;
  if (fs::is_directory(path)) {
    if (fs::is_regular_file(fs::path(path) / "tokenizer.json")) return open_tokenizer((fs::path(path) / "tokenizer.json").string());
    if (fs::is_regular_file(fs::path(path) / "tokenizer.model")) return open_tokenizer((fs::path(path) / "tokenizer.model").string());
    RETORT_INPUT_ERROR(path + ": directory holds neither tokenizer.json nor tokenizer.model");
  }
  if (!fs::is_regular_file(path)) RETORT_INPUT_ERROR(path + ": tokenizer file does not exist");
  const std::string ext = fs::path(path).extension().string();
  if (ext == ".gguf" || starts_with_gguf_magic(path))
    return std::make_unique<ByteBpeTokenizer>(read_gguf_tokenizer(open_gguf(path)));
  if (ext == ".json") return std::make_unique<ByteBpeTokenizer>(read_hf_tokenizer_json(path));
  if (ext == ".model") return std::make_unique<SentencePieceTokenizer>(path);
  RETORT_INPUT_ERROR(path + ": not a tokenizer (expected tokenizer.json, a SentencePiece .model, a .gguf or a model directory)");
}

}  // namespace retort::core
