// Byte-level BPE (GPT-2, Llama 3, Qwen2, SmolLM style) from a plain description that the
// tokenizer.json and GGUF readers fill: added tokens are split off first, the rest goes
// through the pre-tokenizer steps (regex splits, prefix space) and the BPE merge loop.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "core/text/added_tokens.h"
#include "core/text/bpe_model.h"
#include "core/text/regex_split.h"
#include "core/text/tokenizer.h"

namespace retort::core {

// One step of the pre-tokenizer, applied to every piece the previous steps made.
struct PreTokenizeStep {
  enum class Kind {
    split_regex,    // PCRE2 pattern (\s as Unicode White_Space); matches and gaps both kept
    split_literal,  // the same with a plain string
    prefix_space,   // prepend ' ' to a piece that does not start with one (ByteLevel add_prefix_space)
  };
  Kind kind = Kind::split_regex;
  std::string pattern;
};

// GPT-2's split, as Hugging Face's ByteLevel pre-tokenizer (use_regex) has it.
inline const char* const kGpt2SplitPattern =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

struct AddedToken {
  std::string content;
  int32_t id = -1;
  bool special = true;      // a special token (control/user-defined in GGUF)
  bool normalized = false;  // matched after the non-normalized ones (Hugging Face's order)
};

struct ByteBpeSpec {
  std::string source;               // the file, for messages
  std::vector<std::string> vocab;   // id -> token in the byte-level alphabet ("" = unused id)
  std::vector<BpeMerge> merges;     // rank order
  std::vector<AddedToken> added;    // matched in text before pre-tokenization
  std::vector<PreTokenizeStep> pre_tokenizer;
  bool ignore_merges = false;
  int32_t unk_id = -1, bos_id = -1, eos_id = -1;
};

class ByteBpeTokenizer final : public Tokenizer {
 public:
  // Throws an input error naming spec.source for an inconsistent description.
  explicit ByteBpeTokenizer(const ByteBpeSpec& spec);
  TokenizerKind kind() const override { return TokenizerKind::byte_level_bpe; }
  std::vector<int32_t> encode(std::string_view text) const override;
  std::string decode(std::span<const int32_t> ids) const override;
  int64_t vocab_size() const override { return static_cast<int64_t>(decoded_.size()); }
  int32_t bos_id() const override { return bos_id_; }
  int32_t eos_id() const override { return eos_id_; }
  const std::vector<SpecialToken>& special_tokens() const override { return specials_; }
  uint64_t content_hash() const override { return hash_; }
  // The token text of `id` as stored in the vocabulary (byte-level alphabet).
  const std::string& token_text(int32_t id) const;

 private:
  struct Step {
    PreTokenizeStep::Kind kind;
    std::unique_ptr<RegexSplit> regex;
  };
  void encode_plain(std::string_view text, std::vector<int32_t>& out) const;

  std::vector<std::string> tokens_;   // id -> stored token text
  std::vector<std::string> decoded_;  // id -> bytes it decodes to
  std::vector<Step> steps_;
  std::unique_ptr<BpeModel> model_;
  AddedTokenMatcher raw_added_, normalized_added_;
  std::vector<SpecialToken> specials_;
  int32_t bos_id_, eos_id_;
  uint64_t hash_ = 0;
};

}  // namespace retort::core
