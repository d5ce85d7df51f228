// UTF-8 helpers for text input: validation with the offset of the first bad byte, repair with
// U+FFFD (one per maximal invalid subpart, as Python's errors="replace"), code point encoding.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>

namespace retort::core {

// Byte offset of the first byte that does not start a well-formed UTF-8 sequence (overlong
// forms, surrogates and code points above U+10FFFF are ill-formed); npos when `text` is valid.
size_t utf8_invalid_offset(std::string_view text);

// `text` with every maximal invalid subpart replaced by U+FFFD.
std::string utf8_replace_invalid(std::string_view text);

// Appends the UTF-8 encoding of code point `cp` (< 0x110000, not a surrogate).
void append_utf8(std::string& out, char32_t cp);

// Length in bytes of the well-formed sequence starting at text[i] (text known to be valid).
inline size_t utf8_sequence_length(unsigned char lead) {
  return lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
}

}  // namespace retort::core
