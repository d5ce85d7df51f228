// Leftmost-longest matching of added tokens, bucketed by first byte.
#include "core/text/added_tokens.h"

#include <algorithm>

namespace retort::core {

AddedTokenMatcher::AddedTokenMatcher(std::vector<Token> tokens) : by_first_(256) {
  std::erase_if(tokens, [](const Token& t) { return t.content.empty(); });
  std::stable_sort(tokens.begin(), tokens.end(),
                   [](const Token& a, const Token& b) { return a.content.size() > b.content.size(); });
  tokens_ = std::move(tokens);
  for (uint32_t i = 0; i < tokens_.size(); ++i)
    by_first_[static_cast<unsigned char>(tokens_[i].content[0])].push_back(i);
}

void AddedTokenMatcher::split(std::string_view text, std::vector<TextSegment>& out) const {
  size_t plain_begin = 0, i = 0;
  while (i < text.size()) {
    const Token* found = nullptr;
    for (const uint32_t k : by_first_[static_cast<unsigned char>(text[i])]) {
      if (text.substr(i).starts_with(tokens_[k].content)) {
        found = &tokens_[k];  // longest first: the first hit is the longest
        break;
      }
    }
    if (!found) {
      ++i;
      continue;
    }
    if (i > plain_begin) out.push_back({text.substr(plain_begin, i - plain_begin), -1});
    out.push_back({text.substr(i, found->content.size()), found->id});
    i += found->content.size();
    plain_begin = i;
  }
  if (plain_begin < text.size()) out.push_back({text.substr(plain_begin), -1});
}

}  // namespace retort::core
