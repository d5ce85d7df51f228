// Special/added tokens written in text: splits text into runs of plain text and whole added
// tokens, leftmost-longest (as Hugging Face's added-vocabulary trie does).
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace retort::core {

struct TextSegment {
  std::string_view text;
  int32_t id = -1;  // the added token's id, -1 for plain text
};

class AddedTokenMatcher {
 public:
  struct Token {
    std::string content;
    int32_t id;
  };
  explicit AddedTokenMatcher(std::vector<Token> tokens);
  // Appends the segments of `text` to `out`; plain segments are never empty.
  void split(std::string_view text, std::vector<TextSegment>& out) const;
  bool empty() const { return tokens_.empty(); }

 private:
  std::vector<Token> tokens_;                    // longest first
  std::vector<std::vector<uint32_t>> by_first_;  // first byte -> indices into tokens_
};

}  // namespace retort::core
