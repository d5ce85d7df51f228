// SentencePiece models (.model) through the SentencePiece library, and training one (BPE
// with byte fallback) with its trainer.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "core/text/tokenizer.h"

namespace sentencepiece {
class SentencePieceProcessor;
}

namespace retort::core {

class SentencePieceTokenizer final : public Tokenizer {
 public:
  // Throws an input error naming `path` when the library cannot load it.
  explicit SentencePieceTokenizer(const std::string& path);
  ~SentencePieceTokenizer() override;
  TokenizerKind kind() const override { return TokenizerKind::sentencepiece; }
  std::vector<int32_t> encode(std::string_view text) const override;
  std::string decode(std::span<const int32_t> ids) const override;
  int64_t vocab_size() const override { return vocab_size_; }
  int32_t bos_id() const override { return bos_id_; }
  int32_t eos_id() const override { return eos_id_; }
  const std::vector<SpecialToken>& special_tokens() const override { return specials_; }
  uint64_t content_hash() const override { return hash_; }

 private:
  std::unique_ptr<sentencepiece::SentencePieceProcessor> processor_;
  int64_t vocab_size_ = 0;
  int32_t bos_id_ = -1, eos_id_ = -1;
  std::vector<SpecialToken> specials_;
  uint64_t hash_ = 0;
};

struct SentencePieceTrainOptions {
  std::vector<std::string> corpus;  // UTF-8 text files, one sentence per line
  std::string out_dir;              // gets tokenizer.model and tokenizer.vocab
  int vocab_size = 8000;
  int64_t max_sentences = 0;        // > 0: train on a seeded sample of this many lines
};

// Trains a BPE model with byte fallback; returns the path of tokenizer.model. Input error for
// a bad option or corpus (the library's message), runtime error when writing fails.
std::string train_sentencepiece(const SentencePieceTrainOptions& options);

}  // namespace retort::core
