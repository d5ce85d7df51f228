// The byte <-> code point tables of the byte-level alphabet.
#include "core/text/byte_level.h"

#include <unordered_map>

#include "core/text/utf8.h"

namespace retort::core {
namespace {

struct Tables {
  std::array<std::string, 256> symbols;
  std::unordered_map<char32_t, unsigned char> bytes;  // code point -> byte
  Tables() {
    const auto printable = [](int b) { return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF); };
    int next = 0;
    for (int b = 0; b < 256; ++b) {
      const char32_t cp = printable(b) ? static_cast<char32_t>(b) : static_cast<char32_t>(256 + next++);
      append_utf8(symbols[b], cp);
      bytes[cp] = static_cast<unsigned char>(b);
    }
  }
};

const Tables& tables() {
  static const Tables t;
  return t;
}

}  // namespace

const std::array<std::string, 256>& byte_level_symbols() { return tables().symbols; }

bool byte_level_decode(std::string_view token, std::string& bytes_out) {
  const auto& bytes = tables().bytes;
  std::string out;
  size_t i = 0;
  while (i < token.size()) {
    const auto lead = static_cast<unsigned char>(token[i]);
    const size_t n = utf8_sequence_length(lead);
    if (i + n > token.size()) return false;
    char32_t cp = n == 1 ? lead : n == 2 ? (lead & 0x1F) : n == 3 ? (lead & 0x0F) : (lead & 0x07);
    for (size_t k = 1; k < n; ++k) cp = (cp << 6) | (static_cast<unsigned char>(token[i + k]) & 0x3F);
    const auto it = bytes.find(cp);
    if (it == bytes.end()) return false;
    out.push_back(static_cast<char>(it->second));
    i += n;
  }
  bytes_out.append(out);
  return true;
}

}  // namespace retort::core
