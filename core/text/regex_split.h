// A pre-tokenizer's regex through PCRE2 (UTF, UCP, JIT): splits a piece of valid UTF-8 into
// its matches and the gaps between them, both kept, empty ones dropped (Hugging Face's
// "Isolated" behaviour). \s and \S mean Unicode White_Space, as in Oniguruma (the engine of
// Hugging Face tokenizers), not PCRE2's narrower UCP set.
#pragma once
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace retort::core {

class RegexSplit {
 public:
  // Throws an input error naming `what` and PCRE2's message when `pattern` does not compile.
  // literal: the pattern is a plain string, not a regex.
  RegexSplit(const std::string& pattern, bool literal, const std::string& what);
  ~RegexSplit();
  RegexSplit(const RegexSplit&) = delete;
  RegexSplit& operator=(const RegexSplit&) = delete;

  // Appends the pieces of `text` (valid UTF-8: not re-checked) to `out`. Thread-safe.
  void split(std::string_view text, std::vector<std::string_view>& out) const;
  const std::string& pattern() const { return pattern_; }

 private:
  std::string pattern_;
  struct Code;
  std::unique_ptr<Code> code_;
};

// `pattern` with \s and \S (outside and inside character classes) rewritten to Unicode
// White_Space: [\t-\r\x{85}\p{Z}]. Throws an input error for \S inside a class.
std::string onig_whitespace_to_pcre2(const std::string& pattern, const std::string& what);

}  // namespace retort::core
