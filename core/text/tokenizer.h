// The one tokenizer interface (byte-level BPE or SentencePiece) and open_tokenizer(), which
// tells the kind from the path: a tokenizer.json, a SentencePiece .model, a .gguf, or a model
// directory holding tokenizer.json or tokenizer.model.
#pragma once
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace retort::core {

enum class TokenizerKind { byte_level_bpe, sentencepiece };
const char* tokenizer_kind_name(TokenizerKind kind);  // "byte_level_bpe" | "sentencepiece"

struct SpecialToken {
  std::string content;
  int32_t id = -1;
};

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  virtual TokenizerKind kind() const = 0;
  // Token ids of `text` (valid UTF-8, else an input error naming the byte offset). Special
  // tokens written in the text are matched first and become their ids; no BOS/EOS is added.
  // Thread-safe.
  virtual std::vector<int32_t> encode(std::string_view text) const = 0;
  // The text of `ids` (their bytes concatenated; a cut multi-byte character stays cut).
  // Throws an input error for an id outside [0, vocab_size()).
  virtual std::string decode(std::span<const int32_t> ids) const = 0;
  virtual int64_t vocab_size() const = 0;
  virtual int32_t bos_id() const = 0;  // -1 when the tokenizer has none
  virtual int32_t eos_id() const = 0;  // -1 when the tokenizer has none
  virtual const std::vector<SpecialToken>& special_tokens() const = 0;
  // XXH3-64 of a canonical serialisation of what decides the ids (vocabulary, merges or model,
  // special tokens, pre-tokenizer): two tokenizers with one hash encode alike.
  virtual uint64_t content_hash() const = 0;
};

// Throws an input error naming `path` when it is none of the supported forms or is malformed.
std::unique_ptr<Tokenizer> open_tokenizer(const std::string& path);

}  // namespace retort::core
