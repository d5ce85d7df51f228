// PCRE2 compile + match loop of the pre-tokenizer's regex split.
#define PCRE2_CODE_UNIT_WIDTH 8
#include "core/text/regex_split.h"

#include <pcre2.h>

#include "core/base/error.h"
#include "core/text/utf8.h"

namespace retort::core {

struct RegexSplit::Code {
  pcre2_code* code = nullptr;
  ~Code() { pcre2_code_free(code); }
};

namespace {

constexpr const char* kWhiteSpace = "\\t-\\r\\x{85}\\p{Z}";

// Per-thread match data, grown to fit the largest pattern seen by this thread.
pcre2_match_data* thread_match_data() {
  struct Holder {
    pcre2_match_data* data = pcre2_match_data_create(64, nullptr);
    ~Holder() { pcre2_match_data_free(data); }
  };
  thread_local Holder holder;
  return holder.data;
}

}  // namespace

std::string onig_whitespace_to_pcre2(const std::string& pattern, const std::string& what) {
  std::string out;
  bool in_class = false;
  for (size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    if (c == '\\' && i + 1 < pattern.size()) {
      const char e = pattern[i + 1];
      ++i;
      if (e == 's') {
        out += in_class ? std::string(kWhiteSpace) : "[" + std::string(kWhiteSpace) + "]";
      } else if (e == 'S') {
        if (in_class) RETORT_INPUT_ERROR(what + ": \\S inside a character class is not supported in pattern " + pattern);
        out += "[^" + std::string(kWhiteSpace) + "]";
      } else {
        out += c;
        out += e;
      }
      continue;
    }
    if (!in_class && c == '[') {
      in_class = true;
      out += c;
      // A ']' right after '[' or '[^' is a literal member, not the end of the class.
      if (i + 1 < pattern.size() && pattern[i + 1] == '^') out += pattern[++i];
      if (i + 1 < pattern.size() && pattern[i + 1] == ']') out += pattern[++i];
      continue;
    }
    if (in_class && c == ']') in_class = false;
    out += c;
  }
  return out;
}

RegexSplit::RegexSplit(const std::string& pattern, bool literal, const std::string& what)
    : pattern_(pattern), code_(std::make_unique<Code>()) {
  const std::string compiled = literal ? pattern : onig_whitespace_to_pcre2(pattern, what);
  int error = 0;
  PCRE2_SIZE error_offset = 0;
  const uint32_t options = PCRE2_UTF | PCRE2_NO_UTF_CHECK | (literal ? PCRE2_LITERAL : PCRE2_UCP);
  code_->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(compiled.data()), compiled.size(), options,
                              &error, &error_offset, nullptr);
  if (!code_->code) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(error, message, sizeof message);
    RETORT_INPUT_ERROR(what + ": pre-tokenizer regex does not compile at offset " + std::to_string(error_offset) +
                       " (" + reinterpret_cast<const char*>(message) + "): " + pattern);
  }
  pcre2_jit_compile(code_->code, PCRE2_JIT_COMPLETE);  // falls back to the interpreter on failure
}

RegexSplit::~RegexSplit() = default;

void RegexSplit::split(std::string_view text, std::vector<std::string_view>& out) const {
  pcre2_match_data* match = thread_match_data();
  const auto subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t gap_begin = 0, start = 0;
  while (start < text.size()) {
    const int rc = pcre2_match(code_->code, subject, text.size(), start, PCRE2_NO_UTF_CHECK, match, nullptr);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) {
      PCRE2_UCHAR message[256];
      pcre2_get_error_message(rc, message, sizeof message);
      RETORT_RUNTIME_ERROR("pre-tokenizer regex match failed (" + std::string(reinterpret_cast<const char*>(message)) +
                           "): " + pattern_);
    }
    const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(match);
    const size_t begin = ovector[0], end = ovector[1];
    if (end == begin) {  // an empty match splits nothing: step over one character
      if (begin >= text.size()) break;
      start = begin + utf8_sequence_length(static_cast<unsigned char>(text[begin]));
      continue;
    }
    if (begin > gap_begin) out.push_back(text.substr(gap_begin, begin - gap_begin));
    out.push_back(text.substr(begin, end - begin));
    gap_begin = start = end;
  }
  if (gap_begin < text.size()) out.push_back(text.substr(gap_begin));
}

}  // namespace retort::core
