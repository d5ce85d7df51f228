// GPT-2's byte-level alphabet: every byte is shown as one printable code point (printable
// Latin-1 bytes as themselves, the other 68 as U+0100 + n), so BPE vocabularies are text.
#pragma once
#include <array>
#include <string>
#include <string_view>

namespace retort::core {

// UTF-8 of the code point that stands for byte b.
const std::array<std::string, 256>& byte_level_symbols();

// The bytes `token` (a vocabulary entry in the byte-level alphabet) stands for; false when a
// code point of it is outside the alphabet (such tokens decode to their own UTF-8 text).
bool byte_level_decode(std::string_view token, std::string& bytes_out);

}  // namespace retort::core
